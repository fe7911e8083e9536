"""Validate eval/seed.jsonl against the seed article (standard library only).

Usage: python eval/check_questions.py
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = HERE / "seed.jsonl"
ARTICLE_NAME = "000_a28882b516aafde7.txt"
ARTICLE_CANDIDATES = [
    HERE.parent / "seeds" / ARTICLE_NAME,
    Path("/work/shared/seeds") / ARTICLE_NAME,
]
KINDS = {"answerable", "unanswerable", "dialogue"}
MIN_COUNTS = {"answerable": 40, "unanswerable": 12, "dialogue": 8}


def load_article():
    for p in ARTICLE_CANDIDATES:
        if p.exists():
            return p, p.read_text(encoding="utf-8")
    raise SystemExit("article not found in: " + ", ".join(map(str, ARTICLE_CANDIDATES)))


def check_turn(where, turn, article, errors):
    q = turn.get("question")
    if not isinstance(q, str) or not q.strip():
        errors.append(f"{where}: missing question")
    ev = turn.get("evidence")
    if not isinstance(ev, str) or not ev:
        errors.append(f"{where}: missing evidence")
        return
    if ev not in article:
        errors.append(f"{where}: evidence not an exact substring of the article: {ev[:80]!r}")
    facts = turn.get("facts")
    if not isinstance(facts, list) or not 1 <= len(facts) <= 3:
        errors.append(f"{where}: facts must be a list of 1-3 strings")
        return
    for f in facts:
        if not isinstance(f, str) or not f:
            errors.append(f"{where}: empty/non-string fact {f!r}")
        elif f not in ev:
            errors.append(f"{where}: fact {f!r} not an exact substring of its evidence")


def main():
    art_path, article = load_article()
    errors = []
    records = []
    with SEED.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as e:
                errors.append(f"line {n}: invalid JSON: {e}")

    seen = set()
    counts = {k: 0 for k in KINDS}
    for r in records:
        rid = r.get("id")
        if not rid:
            errors.append(f"record without id: {r}")
        elif rid in seen:
            errors.append(f"duplicate id {rid}")
        seen.add(rid)
        kind = r.get("kind")
        if kind not in KINDS:
            errors.append(f"{rid}: invalid kind {kind!r}")
            continue
        counts[kind] += 1
        if kind == "answerable":
            check_turn(rid, r, article, errors)
        elif kind == "unanswerable":
            if not isinstance(r.get("question"), str) or not r["question"].strip():
                errors.append(f"{rid}: missing question")
            if "evidence" in r or "facts" in r:
                errors.append(f"{rid}: unanswerable record must not carry evidence/facts")
        else:
            turns = r.get("turns")
            if not isinstance(turns, list) or len(turns) != 2:
                errors.append(f"{rid}: dialogue must have exactly 2 turns")
                continue
            for i, t in enumerate(turns, 1):
                check_turn(f"{rid}.turn{i}", t, article, errors)
            if not isinstance(turns[1].get("standalone"), str) or not turns[1]["standalone"].strip():
                errors.append(f"{rid}.turn2: missing standalone rewrite")

    # Required questions from the brief.
    answerable_qs = {r["question"]: r for r in records if r.get("kind") == "answerable"}
    for q in ("What did Merz say about Article 5?", "Who hosted the talks?",
              "What did Merz call the security guarantees?"):
        if q not in answerable_qs:
            errors.append(f"required answerable question missing: {q!r}")
    if "What is the capital of Australia?" not in {
            r["question"] for r in records if r.get("kind") == "unanswerable"}:
        errors.append("required unanswerable question missing: capital of Australia")
    if not any(r.get("kind") == "dialogue" and len(r.get("turns", [])) == 2
               and r["turns"][0].get("question") == "Who hosted the talks?"
               and r["turns"][1].get("question") == "What did he call the security guarantees?"
               for r in records):
        errors.append("required Merz dialogue missing")

    for kind, minimum in MIN_COUNTS.items():
        if counts[kind] < minimum:
            errors.append(f"too few {kind}: {counts[kind]} < {minimum}")

    print(f"article: {art_path}")
    print(f"records: {len(records)}  answerable: {counts['answerable']}  "
          f"unanswerable: {counts['unanswerable']}  dialogue: {counts['dialogue']}")
    if errors:
        print(f"FAILED with {len(errors)} error(s):")
        for e in errors:
            print("  - " + e)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
