"""Metrics on a question set (eval/*.jsonl): retrieval hit@k and MRR.

A record: {"id", "kind": "answerable"|"unanswerable"|"dialogue", "question", "evidence", "facts"}.
`evidence` is an exact substring of one document; a hit finds it when it covers most of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import corpus
from .engine import Assistant
from .errors import AssistantError
from .types import Hit


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

    def hit_at(self, n: int) -> float:
        return _mean([r.rank is not None and r.rank <= n for r in self.retrieval])

    @property
    def mrr(self) -> float:
        return _mean([1.0 / r.rank if r.rank else 0.0 for r in self.retrieval])

    def as_dict(self) -> dict:
        return {
            "questions": len(self.retrieval),
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
    """Find the evidence text in the documents (exactly, as the eval set promises)."""
    for doc in docs:
        text = corpus.read_document(seeds, doc).text
        start = text.find(evidence)
        if start >= 0:
            return Evidence(doc, start, start + len(evidence))
    raise AssistantError(f"Evidence not found in any document: {evidence[:80]!r}")


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


def evaluate_retrieval(assistant: Assistant, records: list[dict], k: int = 5) -> Report:
    docs = [d["doc"] for d in assistant.documents() if d["status"] == "indexed"]
    report = Report(k=k)
    for qid, question, evidence in retrieval_items(records):
        ev = locate(evidence, assistant.settings.seeds, docs)
        hits = assistant.retrieve(question, k=k)
        rank = next((i for i, h in enumerate(hits, start=1) if covers(h, ev)), None)
        report.retrieval.append(RetrievalResult(qid, question, rank))
    return report
