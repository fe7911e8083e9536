"""Metrics on question sets, per set and split: retrieval hit@k and MRR (or doc recall@k), answer
accuracy, citation support, abstention, false abstention, two-turn dialogues and heading-only answers.

The sets are registered in eval/sets.json (`load_registry`). Their records:

- {"id", "kind": "answerable"|"unanswerable"|"dialogue", "question", "evidence", "facts"}, optionally
  "doc" (the document holding the evidence) and "type" (why, how-to, yes/no, ...: accuracy per type).
  `evidence` is a substring of the document (whitespace may differ); a hit finds it when it covers
  most of it.
- {"id", "kind": "pair", "question", "answer", "doc", "in_lead"} (eval/fanoutqa/pairs.jsonl): retrieval
  finds the gold document; when `in_lead`, the answer is right when it contains the gold answer
  (`answer_in`), and its citation support is whether it cites that document.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import corpus
from .errors import AssistantError
from .types import UNSURE, Hit

if TYPE_CHECKING:
    from .engine import Assistant

REGISTRY = Path("eval/sets.json")
CACHE = ".eval-cache"  # at the repository root, git-ignored: fetched corpora and the sets' indexes
DOCUMENT_FOLDERS = {"wiki-leads": f"{CACHE}/wiki/leads"}  # "seeds" = the Assistant's own seeds
SPLITS = ("dev", "test")
RANKERS = ("fused", "dense", "bm25")


# -- splits and gold answers ---------------------------------------------------------------------------


def split_of(question: str) -> str:
    """The fixed dev/test split of a record of a "dev+test" set, from a hash of its question."""
    return "test" if int(hashlib.sha256(question.encode()).hexdigest()[:8], 16) % 2 else "dev"


def normalise(text: str) -> str:
    """Case-folded words without accents or punctuation, one space apart ("Zürich, 8,611 m" ->
    "zurich 8 611 m")."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.findall(r"\w+", text.casefold()))


def facts_in(text: str, facts: list[str]) -> bool:
    """Every expected fact occurs in the answer text, case and line breaks aside (a PDF's "high\nspeed"
    holds "high speed")."""
    flat = " ".join(text.lower().split())
    return bool(facts) and all(" ".join(f.lower().split()) in flat for f in facts)


def answer_in(text: str, gold: object) -> bool:
    """The gold answer occurs in the text as whole words, normalised. A number may also be written with
    thousands separators (680000 or 680,000; 8611.0 counts as 8611); a list needs every item; yes/no
    and structured (dict) answers never match."""
    if isinstance(gold, list):
        return bool(gold) and all(answer_in(text, g) for g in gold)
    if isinstance(gold, float) and gold.is_integer():
        gold = int(gold)
    if isinstance(gold, bool) or not isinstance(gold, (str, int, float)):
        return False
    forms = {normalise(str(gold))} | ({normalise(f"{gold:,}")} if isinstance(gold, (int, float)) else set())
    padded = f" {normalise(text)} "
    return any(f and f" {f} " in padded for f in forms)


# -- the registry ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionSet:
    """One entry of eval/sets.json; paths are relative to `root` (the repository)."""

    name: str
    questions: tuple[str, ...]  # files or glob patterns
    documents: str  # "seeds", "wiki-leads", or a folder
    split: str  # "dev", "test", or "dev+test" (per record: `split_of`)
    written_by: str
    used_for_choosing: bool
    notes: str = ""
    default: bool = True  # evaluated by a bare `assistant eval`
    root: Path = Path(".")
    # each question file was written over its own few documents of the shared folder: ask its questions
    # over those documents only (`per_file`), as a user with that folder would
    asked_per_file: bool = False

    def files(self) -> tuple[list[Path], list[str]]:
        """The question files that exist, and the patterns that matched none."""
        found: list[Path] = []
        missing: list[str] = []
        for pattern in self.questions:
            matches = sorted(self.root.glob(pattern))
            found += matches
            if not matches:
                missing.append(pattern)
        return found, missing

    def folder(self) -> Path | None:
        """The documents folder, or None for the Assistant's own seeds."""
        if self.documents == "seeds":
            return None
        return self.root / DOCUMENT_FOLDERS.get(self.documents, self.documents)


def load_registry(path: Path = REGISTRY) -> list[QuestionSet]:
    """The registered question sets, checked; paths resolve against the folder above eval/."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError:
        raise AssistantError(f"No question set registry at {path}: run this from the repository root.") from None
    except json.JSONDecodeError as exc:
        raise AssistantError(f"{path} is not valid JSON: {exc}.") from None
    root = Path(path).resolve().parent.parent
    sets = []
    for entry in data["sets"]:
        questions = entry["questions"]
        qs = QuestionSet(entry["name"], tuple([questions] if isinstance(questions, str) else questions),
                         entry["documents"], entry["split"], entry["written_by"], entry["used_for_choosing"],
                         entry.get("notes", ""), entry.get("default", True), root,
                         bool(entry.get("asked_per_file", False)))
        if qs.split not in (*SPLITS, "dev+test"):
            raise AssistantError(f"{path}: set {qs.name} has split {qs.split!r}; use dev, test or dev+test.")
        sets.append(qs)
    if len({s.name for s in sets}) != len(sets):
        raise AssistantError(f"{path}: two sets have the same name.")
    return sets


def load_set(qs: QuestionSet) -> list[dict]:
    """The set's records, each with its "split"."""
    records = []
    for path in qs.files()[0]:
        for r in load_questions(path):
            question = r.get("question") or r["turns"][0]["question"]
            split = qs.split if qs.split in SPLITS else r.get("split") or split_of(question)
            records.append({**r, "split": split})
    return records


def unavailable(qs: QuestionSet) -> str | None:
    """Why the set cannot be evaluated here (documents or questions missing), or None."""
    folder = qs.folder()
    if folder is not None and not folder.is_dir():
        if qs.documents in DOCUMENT_FOLDERS:
            return f"its documents ({DOCUMENT_FOLDERS[qs.documents]}) are not fetched: run `make eval-fetch`"
        return f"its documents folder {qs.documents} does not exist"
    files, missing = qs.files()
    return None if files else f"no question file yet ({', '.join(missing)})"


def set_assistant(qs: QuestionSet, base: Assistant) -> Assistant:
    """`base` for sets on its seeds; otherwise an Assistant on the set's documents with its own index in
    .eval-cache/index/<documents> (built incrementally, shared by sets on the same documents)."""
    folder = qs.folder()
    if folder is None:
        return base
    from .engine import Assistant

    index = qs.root / CACHE / "index" / re.sub(r"[^A-Za-z0-9._-]+", "_", qs.documents)
    return Assistant(settings=base.settings, seeds=folder, index=index, embedder=base.embedder)


def per_file(qs: QuestionSet, base: Assistant, records: list[dict], whole: Assistant | None = None
             ) -> list[tuple[Assistant, list[dict]]]:
    """(assistant, records) to ask: one group on the set's documents (`whole`, or else the set's own
    assistant, set_assistant), or for a set `asked_per_file` (genres-train: eleven files of questions,
    each written over its own 12-14 of the 136 documents) one group per question file, on a folder
    holding only the documents its records name (copied into .eval-cache/groups/, indexed in
    .eval-cache/index/). Pooled, a question such as "Where do I keep my bike?" has a dozen documents'
    answers; the test sets are 12 documents each."""
    if not qs.asked_per_file:
        return [(whole or set_assistant(qs, base), records)]
    from .engine import Assistant

    groups, source = [], qs.folder()
    for path in qs.files()[0]:
        own = load_questions(path)
        ids = {q["id"] for q in own}
        mine = [r for r in records if r["id"] in ids]
        if not mine:
            continue
        docs = sorted({d for q in own for d in [q.get("doc"), *(t.get("doc") for t in q.get("turns", []))] if d})
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{qs.name}_{path.stem}")
        folder = qs.root / CACHE / "groups" / name
        folder.mkdir(parents=True, exist_ok=True)
        for doc in docs:
            if not (source / doc).is_file():
                continue  # its records' evidence is then reported missing (check_records)
            data = (source / doc).read_bytes()
            if not (folder / doc).is_file() or (folder / doc).read_bytes() != data:
                (folder / doc).write_bytes(data)
        for stale in {f.name for f in folder.iterdir()} - set(docs):
            (folder / stale).unlink()
        groups.append((Assistant(settings=base.settings, seeds=folder, index=qs.root / CACHE / "index" / name,
                                 embedder=base.embedder), mine))
    return groups


# -- retrieval ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    doc: str
    start: int
    end: int


@dataclass
class RetrievalResult:
    id: str
    question: str
    rank: int | None  # 1-based rank of the first hit covering the evidence, None if not in the top k


@dataclass
class Report:
    retrieval: list[RetrievalResult] = field(default_factory=list)
    k: int = 5
    finds: str = "evidence"  # what a hit must cover: "evidence" (a passage) or "document" (pairs)

    def hit_at(self, n: int) -> float:
        return _mean([r.rank is not None and r.rank <= n for r in self.retrieval])

    @property
    def mrr(self) -> float:
        return _mean([1.0 / r.rank if r.rank else 0.0 for r in self.retrieval])

    def as_dict(self) -> dict:
        return {
            "questions": len(self.retrieval),
            "finds": self.finds,
            "hit@1": round(self.hit_at(1), 4),
            f"hit@{self.k}": round(self.hit_at(self.k), 4),
            "mrr": round(self.mrr, 4),
            "missed": [{"id": r.id, "question": r.question, "rank": r.rank} for r in self.retrieval
                       if r.rank != 1],
        }


def _mean(values: list) -> float:
    return sum(float(v) for v in values) / len(values) if values else 0.0


def load_questions(path: Path) -> list[dict]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AssistantError(f"Cannot read the question set {path}: {exc.strerror}.") from None
    return [json.loads(line) for line in lines if line.strip()]


def locate(evidence: str, seeds: Path, docs: list[str]) -> Evidence:
    """Find the evidence text in the documents: exactly, or else ignoring whitespace (text extracted
    from PDF or HTML may break lines and space words differently); offsets are the document's own."""
    texts = [(doc, corpus.read_document(seeds, doc).text) for doc in docs]
    for doc, text in texts:
        start = text.find(evidence)
        if start >= 0:
            return Evidence(doc, start, start + len(evidence))
    wanted = "".join(evidence.split())
    for doc, text in texts:
        found = find_ignoring_space(wanted, text) if wanted else None
        if found:
            return Evidence(doc, *found)
    raise AssistantError(f"Evidence not found in any document: {evidence[:80]!r}")


def find_ignoring_space(wanted: str, text: str) -> tuple[int, int] | None:
    """(start, end) in `text` of `wanted` (which holds no whitespace) when whitespace is ignored."""
    where = [i for i, c in enumerate(text) if not c.isspace()]
    at = "".join(text[i] for i in where).find(wanted)
    return None if at < 0 else (where[at], where[at + len(wanted) - 1] + 1)


def covers(hit: Hit, ev: Evidence, share: float = 0.6) -> bool:
    """The hit holds at least `share` of the evidence characters."""
    if hit.doc != ev.doc:
        return False
    overlap = min(hit.end, ev.end) - max(hit.start, ev.start)
    return overlap >= share * (ev.end - ev.start)


def retrieval_items(records: list[dict]) -> list[tuple[str, str, str]]:
    """(id, standalone question, evidence) for every answerable question, dialogue turns included
    (a follow-up is searched in its resolved, standalone form)."""
    items = []
    for r in records:
        if r["kind"] == "answerable":
            items.append((r["id"], r["question"], r["evidence"]))
        elif r["kind"] == "dialogue":
            for i, turn in enumerate(r["turns"]):
                items.append((f"{r['id']}.{i + 1}", turn.get("standalone", turn["question"]), turn["evidence"]))
    return items


def _evidence_docs(records: list[dict], all_docs: list[str]) -> dict[str, list[str]]:
    """Evidence text -> the documents to look in: the record's "doc" when it names one."""
    docs = {}
    for r in records:
        for item in r.get("turns", [r]):
            if "evidence" in item:
                doc = item.get("doc", r.get("doc"))
                docs[item["evidence"]] = [doc] if doc else all_docs
    return docs


def ranked(assistant: Assistant, question: str, k: int, ranker: str = "fused") -> list:
    """The top k passages (anything with doc, start and end) by one ranker on the same index: "fused"
    is `retrieve`; "dense" and "bm25" are one side of the fusion alone, for comparisons."""
    if ranker == "fused":
        return assistant.retrieve(question, k=k)
    from . import search

    snapshot = assistant.snapshot()
    if ranker == "dense":
        rows = search.dense(snapshot, assistant.embedder.encode([question])[0], k)
    elif ranker == "bm25":
        rows = snapshot.lexicon.top(question, k)
    else:
        raise ValueError(ranker)
    return [snapshot.passages[row] for row, _ in rows]


def evaluate_retrieval(assistant: Assistant, records: list[dict], k: int = 5, ranker: str = "fused") -> Report:
    """hit@k of the evidence for questions with evidence; for pairs, of the gold document (doc recall)."""
    all_docs = [d["doc"] for d in assistant.documents() if d["status"] == "indexed"]
    where = _evidence_docs(records, all_docs)
    pairs = [r for r in records if r["kind"] == "pair"]
    report = Report(k=k, finds="document" if pairs else "evidence")
    items = [(r["id"], r["question"], r["doc"]) for r in pairs]
    items += [(qid, q, locate(ev, assistant.settings.seeds, where[ev])) for qid, q, ev in retrieval_items(records)]
    for qid, question, target in items:
        hits = ranked(assistant, question, k, ranker)
        rank = next((i for i, h in enumerate(hits, start=1)
                     if (h.doc == target if isinstance(target, str) else covers(h, target))), None)
        report.retrieval.append(RetrievalResult(qid, question, rank))
    return report


# -- answers -------------------------------------------------------------------------------------------------


@dataclass
class AnswerResult:
    id: str
    question: str
    kind: str  # answerable | unanswerable | dialogue (a pair whose answer is in its lead is answerable)
    answered: bool
    facts_ok: bool  # every expected fact (or the gold answer) appears in the answer text
    evidence_cited: bool  # a citation covers the evidence (pairs: cites the gold document)
    offsets_exact: bool  # every citation is exactly document_text[start:end]
    text: str
    query: str
    seconds: float
    heading_only: bool = False  # answered with nothing but a title or heading line
    type: str = ""  # the record's "type", when it has one
    unsure: bool = False  # answered with the note that the documents may not answer it (types.UNSURE)

    @property
    def right(self) -> bool:
        if self.kind == "unanswerable":
            return not self.answered
        return self.answered and self.facts_ok and (self.kind != "dialogue" or self.evidence_cited)


_MARKER = re.compile(r"\s*\[\d+\]")
_MARKDOWN_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.+?)\s*#*\s*$")


def headings(text: str) -> set[str]:
    """A document's first line (its title, unless it is a sentence ending in . ! or ?) and its markdown
    heading lines, whitespace collapsed."""
    lines = [line for line in text.splitlines() if line.strip()]
    first = " ".join(lines[0].lstrip("# ").split()) if lines else ""
    found = {first} if first and not first.endswith((".", "!", "?")) else set()
    for line in lines:
        match = _MARKDOWN_HEADING.match(line)
        if match:
            found.add(" ".join(match.group(1).split()))
    return found


def heading_only(answer_text: str, documents: list[str]) -> bool:
    """The answer, without its [n] markers, is one line that is just a title or heading of one of the
    documents, or a markdown heading line itself ("Greenland [1]", "Minutes [1]", "## Prices")."""
    stripped = _MARKER.sub("", answer_text).strip()
    if not stripped or "\n" in stripped:
        return False
    text = " ".join(stripped.split())
    if _MARKDOWN_HEADING.match(text):
        return True
    return any(text in headings(d) for d in documents)


def _check_answer(assistant: Assistant, qid: str, kind: str, question: str, history: list[dict] | None,
                  expected: dict | None, docs: list[str], type_: str = "") -> AnswerResult:
    started = time.perf_counter()
    answer = assistant.ask(question, history)
    seconds = time.perf_counter() - started
    seeds = assistant.settings.seeds
    texts = {d: corpus.read_document(seeds, d).text for d in {c.doc for c in answer.citations}}
    exact = all(texts[c.doc][c.start : c.end] == c.text for c in answer.citations)
    facts_ok = evidence_cited = False
    if expected is not None and answer.answered:
        if expected.get("kind") == "pair":
            facts_ok = answer_in(_MARKER.sub("", answer.text), expected["answer"])
            evidence_cited = any(c.doc == expected["doc"] for c in answer.citations)
        else:
            facts_ok = facts_in(answer.text, expected["facts"])
            ev = locate(expected["evidence"], seeds, docs)
            evidence_cited = any(covers(c, ev, share=0.3) for c in answer.citations)
    return AnswerResult(qid, question, kind, answer.answered, facts_ok, evidence_cited, exact, answer.text,
                        answer.query, seconds, answer.answered and heading_only(answer.text, list(texts.values())),
                        type_, answer.answered and answer.note == UNSURE)


def evaluate_answers(assistant: Assistant, records: list[dict]) -> list[AnswerResult]:
    """Ask every question (dialogues turn by turn, the second with the first as history). Pairs are asked
    only when their gold answer is in the gold document (`in_lead`), as answerable questions."""
    all_docs = [d["doc"] for d in assistant.documents() if d["status"] == "indexed"]
    results = []
    for r in records:
        t = r.get("type", "")
        docs = [r["doc"]] if r.get("doc") else all_docs
        if r["kind"] == "answerable" or (r["kind"] == "pair" and r.get("in_lead")):
            results.append(_check_answer(assistant, r["id"], "answerable", r["question"], None, r, docs, t))
        elif r["kind"] == "unanswerable":
            results.append(_check_answer(assistant, r["id"], "unanswerable", r["question"], None, None, docs, t))
        elif r["kind"] == "dialogue":
            first, second = r["turns"]
            docs_of = [[turn["doc"]] if turn.get("doc") else docs for turn in (first, second)]
            one = _check_answer(assistant, r["id"] + ".1", "dialogue", first["question"], None, first, docs_of[0], t)
            history = [{"role": "user", "content": first["question"]},
                       {"role": "assistant", "content": one.text, "query": one.query}]
            two = _check_answer(assistant, r["id"] + ".2", "dialogue", second["question"], history, second,
                                docs_of[1], t)
            results.extend([one, two])
    return results


def answer_figures(results: list[AnswerResult]) -> dict:
    answerable = [r for r in results if r.kind == "answerable"]
    unanswerable = [r for r in results if r.kind == "unanswerable"]
    dialogue_ids = sorted({r.id.split(".")[0] for r in results if r.kind == "dialogue"})
    dialogue_ok = [all(r.right for r in results if r.kind == "dialogue" and r.id.split(".")[0] == d)
                   for d in dialogue_ids]
    cited = [r for r in results if r.answered and r.kind != "unanswerable"]
    given = [r for r in results if r.answered]
    types = sorted({r.type for r in results if r.type})
    return {
        "answer_accuracy": round(_mean([r.answered and r.facts_ok for r in answerable]), 4),
        "citation_support": round(_mean([r.evidence_cited for r in cited]), 4),
        "offsets_exact": all(r.offsets_exact for r in results),
        "abstained_unanswerable": round(_mean([not r.answered for r in unanswerable]), 4),
        "false_abstentions": round(_mean([not r.answered for r in answerable]), 4),
        "dialogues_right": round(_mean(dialogue_ok), 4),
        "heading_only": sum(r.heading_only for r in results),
        # answers given with the UNSURE note: their share of the answers, and how often they and the
        # others are right (an unanswerable question answered is wrong)
        "unsure": {"share": round(_mean([r.unsure for r in given]), 4),
                   "right": round(_mean([r.right for r in given if r.unsure]), 4),
                   "right_otherwise": round(_mean([r.right for r in given if not r.unsure]), 4)},
        "ask_p50_ms": round(1000 * statistics.median(r.seconds for r in results), 1) if results else 0.0,
        "counts": {"answerable": len(answerable), "unanswerable": len(unanswerable),
                   "dialogues": len(dialogue_ids), "dialogues_right": sum(dialogue_ok)},
        "by_type": {t: {"right": round(_mean([r.right for r in results if r.type == t]), 4),
                        "questions": sum(r.type == t for r in results)} for t in types},
        "wrong": [{"id": r.id, "question": r.question, "query": r.query, "answered": r.answered,
                   "text": r.text[:300]} for r in results
                  if (r.kind == "unanswerable" and r.answered)
                  or (r.kind != "unanswerable" and not (r.answered and r.facts_ok and r.evidence_cited))],
    }


# -- one registered set ------------------------------------------------------------------------------------


def check_records(assistant: Assistant, records: list[dict]) -> tuple[list[dict], list[str]]:
    """The records whose evidence is found in their documents, and one line for each that is not (a
    problem of the set, reported instead of stopping the run)."""
    all_docs = [d["doc"] for d in assistant.documents() if d["status"] == "indexed"]
    where = _evidence_docs(records, all_docs)
    good, problems = [], []
    for r in records:
        try:
            for item in r.get("turns", [r]):
                if "evidence" in item:
                    locate(item["evidence"], assistant.settings.seeds, where[item["evidence"]])
        except (AssistantError, OSError, ValueError) as exc:
            problems.append(f"{r.get('id')}: {exc}")
            continue
        good.append(r)
    return good, problems


def evaluate_set(assistant: Assistant, qs: QuestionSet, k: int = 5, split: str | None = None,
                 rankers: bool = False) -> list[dict]:
    """Figures of one registered set on `assistant` (see `set_assistant`; a set `asked_per_file` is asked
    file by file on assistants of its own, see `per_file`): one row per split, plus one for both together
    ("dev+test") when the set holds both."""
    groups, problems = [], []
    every = load_set(qs)
    for a, records in per_file(qs, assistant, every, whole=assistant):
        if a is not assistant:
            a.build()
        good, bad = check_records(a, records)
        groups.append((a, good))
        problems += bad
    parts: dict[str, tuple[dict[str, Report], list[AnswerResult], int]] = {}
    for name in [s for s in SPLITS if split in (None, s)]:
        chosen = [(a, [r for r in records if r["split"] == name]) for a, records in groups]
        chosen = [(a, records) for a, records in chosen if records]
        if chosen:
            reports = {}
            for ranker in RANKERS[: 3 if rankers else 1]:
                each = [evaluate_retrieval(a, records, k, ranker) for a, records in chosen]
                reports[ranker] = Report([r for report in each for r in report.retrieval], k, each[0].finds)
            answers = [result for a, records in chosen for result in evaluate_answers(a, records)]
            parts[name] = reports, answers, sum(len(records) for _, records in chosen)
    if len(parts) == 2:
        (dev, dev_answers, n_dev), (test, test_answers, n_test) = parts.values()
        both = {r: Report(dev[r].retrieval + test[r].retrieval, k, dev[r].finds) for r in dev}
        parts["dev+test"] = both, dev_answers + test_answers, n_dev + n_test
    rows = []
    for name, (reports, answers, n) in parts.items():
        row = {"set": qs.name, "split": name, "written_by": qs.written_by,
               "used_for_choosing": qs.used_for_choosing, "documents": qs.documents, "records": n,
               "problems": problems, "missing": qs.files()[1], "retrieval": reports.pop("fused").as_dict(),
               "answers": answer_figures(answers)}
        if reports:
            row["rankers"] = {r: {key: v for key, v in report.as_dict().items() if key != "missed"}
                              for r, report in reports.items()}
        rows.append(row)
    return rows
