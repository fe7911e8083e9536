"""Metrics on a question set (eval/*.jsonl): retrieval hit@k and MRR; answer accuracy, citation
support, abstention, false abstention and two-turn dialogues.

A record: {"id", "kind": "answerable"|"unanswerable"|"dialogue", "question", "evidence", "facts"}.
`evidence` is an exact substring of one document; a hit finds it when it covers most of it.
"""

from __future__ import annotations

import json
import statistics
import time
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


@dataclass
class AnswerResult:
    id: str
    question: str
    kind: str  # answerable | unanswerable | dialogue
    answered: bool
    facts_ok: bool  # every expected fact appears in the answer text
    evidence_cited: bool  # a citation covers the evidence
    offsets_exact: bool  # every citation is exactly document_text[start:end]
    text: str
    query: str
    seconds: float


def _check_answer(assistant: Assistant, qid: str, kind: str, question: str, history: list[dict] | None,
                  expected: dict | None, docs: list[str]) -> AnswerResult:
    started = time.perf_counter()
    answer = assistant.ask(question, history)
    seconds = time.perf_counter() - started
    texts = {d: corpus.read_document(assistant.settings.seeds, d).text for d in {c.doc for c in answer.citations}}
    exact = all(texts[c.doc][c.start : c.end] == c.text for c in answer.citations)
    facts_ok = evidence_cited = False
    if expected is not None and answer.answered:
        facts_ok = all(f.lower() in answer.text.lower() for f in expected["facts"])
        ev = locate(expected["evidence"], assistant.settings.seeds, docs)
        evidence_cited = any(covers(c, ev, share=0.3) for c in answer.citations)
    return AnswerResult(qid, question, kind, answer.answered, facts_ok, evidence_cited, exact, answer.text,
                        answer.query, seconds)


def evaluate_answers(assistant: Assistant, records: list[dict]) -> list[AnswerResult]:
    docs = [d["doc"] for d in assistant.documents() if d["status"] == "indexed"]
    results = []
    for r in records:
        if r["kind"] == "answerable":
            results.append(_check_answer(assistant, r["id"], "answerable", r["question"], None, r, docs))
        elif r["kind"] == "unanswerable":
            results.append(_check_answer(assistant, r["id"], "unanswerable", r["question"], None, None, docs))
        elif r["kind"] == "dialogue":
            first, second = r["turns"]
            one = _check_answer(assistant, r["id"] + ".1", "dialogue", first["question"], None, first, docs)
            history = [{"role": "user", "content": first["question"]},
                       {"role": "assistant", "content": one.text, "query": one.query}]
            two = _check_answer(assistant, r["id"] + ".2", "dialogue", second["question"], history, second, docs)
            results.extend([one, two])
    return results


def answer_figures(results: list[AnswerResult]) -> dict:
    answerable = [r for r in results if r.kind == "answerable"]
    unanswerable = [r for r in results if r.kind == "unanswerable"]
    dialogue_ids = sorted({r.id.split(".")[0] for r in results if r.kind == "dialogue"})
    dialogue_ok = [all(r.answered and r.facts_ok and r.evidence_cited for r in results
                       if r.kind == "dialogue" and r.id.split(".")[0] == d) for d in dialogue_ids]
    cited = [r for r in results if r.answered and r.kind != "unanswerable"]
    return {
        "answer_accuracy": round(_mean([r.answered and r.facts_ok for r in answerable]), 4),
        "citation_support": round(_mean([r.evidence_cited for r in cited]), 4),
        "offsets_exact": all(r.offsets_exact for r in results),
        "abstained_unanswerable": round(_mean([not r.answered for r in unanswerable]), 4),
        "false_abstentions": round(_mean([not r.answered for r in answerable]), 4),
        "dialogues_right": round(_mean(dialogue_ok), 4),
        "ask_p50_ms": round(1000 * statistics.median(r.seconds for r in results), 1) if results else 0.0,
        "counts": {"answerable": len(answerable), "unanswerable": len(unanswerable),
                   "dialogues": len(dialogue_ids)},
        "wrong": [{"id": r.id, "question": r.question, "query": r.query, "answered": r.answered,
                   "text": r.text[:300]} for r in results
                  if (r.kind == "unanswerable" and r.answered)
                  or (r.kind != "unanswerable" and not (r.answered and r.facts_ok and r.evidence_cited))],
    }
