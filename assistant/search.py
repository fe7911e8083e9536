"""Hybrid retrieval: dense (FAISS) + BM25, reciprocal-rank fusion, then sentence-level rescoring."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace

import numpy as np

from . import corpus
from .embed import Embedder, current_threads, set_threads
from .index import text_key
from .lexical import terms
from .question import value_test
from .store import Snapshot
from .types import Hit, Passage, Question, Sentence

# Weights of the second stage, calibrated on eval/seed.jsonl (see `assistant eval`).
W_SENTENCE = 0.80  # the best-matching sentence of the passage
W_PASSAGE = 0.10  # the passage as a whole
W_FUSION = 0.10  # agreement of the dense and BM25 rankings
W_TERMS = 0.50  # within a sentence: the IDF-weighted share of the question's terms it contains
W_VALUE = 0.15  # ranking only: the sentence holds the kind of value asked for ("how long" -> a duration)


class VectorCache:
    """A bounded LRU of text -> vector, so sentences and questions are embedded once per process."""

    def __init__(self, embedder: Embedder, size: int = 20000) -> None:
        self.embedder = embedder
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        with self._lock:
            missing = list(dict.fromkeys(t for k, t in zip(keys, texts) if k not in self._items))
        if missing:
            vectors = self.embedder.encode(missing)
            with self._lock:
                for text, vector in zip(missing, vectors):
                    self._items[text_key(text)] = vector
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        with self._lock:
            out = np.stack([self._items[k] for k in keys]) if keys else np.zeros((0, self.embedder.dim))
            for k in keys:
                self._items.move_to_end(k)
        return out.astype(np.float32, copy=False)


def dense(snapshot: Snapshot, query_vector: np.ndarray, n: int) -> list[tuple[int, float]]:
    """The n nearest passages by inner product: exact (flat) for small indexes, HNSW for large ones
    (store.vector_index), whose beam is never narrower than n."""
    n = min(n, len(snapshot.passages))
    if n == 0:
        return []
    set_threads(current_threads())  # one search: one thread (QUERY_THREADS) unless inside a build
    query = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)
    index = snapshot.faiss_index
    params = None
    if hasattr(index, "hnsw") and index.hnsw.efSearch < n:
        import faiss

        params = faiss.SearchParametersHNSW(efSearch=n)
    scores, rows = index.search(query, n, params=params)
    return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]


def fuse(rankings: list[list[int]], k: int = 60) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion: sum of 1/(k + rank) over the rankings a row appears in."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, row in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def sentence_spans(p: Passage) -> list[corpus.Span]:
    """Sentences of a passage with document offsets."""
    return [corpus.Span(p.start + s.start, p.start + s.end) for s in corpus.sentences(p.text)]


def _similarity(cache: VectorCache, texts: list[str], query_vector: np.ndarray) -> np.ndarray:
    return cache.encode(texts) @ query_vector if texts else np.zeros(0)


def rescore(
    snapshot: Snapshot,
    cache: VectorCache,
    question: Question,
    query_vector: np.ndarray,
    fused: list[tuple[int, float]],
    rrf_k: int,
) -> list[Hit]:
    """Score each candidate by its best sentence (meaning and key terms), itself, and the fused rank."""
    if not fused:
        return []
    rows = [row for row, _ in fused]
    passages = [snapshot.passages[row] for row in rows]
    spans = [sentence_spans(p) for p in passages]
    texts = [p.text[s.start - p.start : s.end - p.start] for p, row_spans in zip(passages, spans) for s in row_spans]
    similarity = _similarity(cache, texts, query_vector)
    query_terms = terms(question.query)
    sentence_scores = [float(sim) + W_TERMS * snapshot.lexicon.overlap(query_terms, text)
                       for sim, text in zip(similarity, texts)]
    passage_scores = snapshot.vectors[rows] @ query_vector
    has_value = value_test(question)
    value_bonus = [W_VALUE if has_value and has_value(t) else 0.0 for t in texts]
    best_fusion = 2.0 / (rrf_k + 1)
    hits: list[Hit] = []
    offset = 0
    for (_, fusion), p, row_spans, passage_score in zip(fused, passages, spans, passage_scores):
        scored = tuple(
            Sentence(s.start, s.end, float(sentence_scores[offset + i])) for i, s in enumerate(row_spans)
        )
        bonus = value_bonus[offset : offset + len(row_spans)]
        offset += len(row_spans)
        # the passage ranks by its best sentence, counting whether it holds the asked-for value;
        # the sentence scores themselves stay plain (the answerer weighs values on its own)
        best = max((s.score + b for s, b in zip(scored, bonus)), default=float(passage_score))
        score = W_SENTENCE * best + W_PASSAGE * float(passage_score) + W_FUSION * fusion / best_fusion
        hits.append(Hit(p.doc, p.start, p.end, p.text, score, 0, p.start, p.end, p.text, scored, (p.id,)))
    hits.sort(key=lambda h: -h.score)
    return hits


def deduplicate(hits: list[Hit]) -> list[Hit]:
    """No sentence is returned twice: a hit that overlaps a better one from the same document keeps
    only its sentences not already shown (the longest contiguous run), or is dropped."""
    kept: list[Hit] = []
    for hit in hits:
        taken = [(h.start, h.end) for h in kept if h.doc == hit.doc]
        free = [s for s in hit.sentences if not any(s.start < end and start < s.end for start, end in taken)]
        if len(free) == len(hit.sentences):
            kept.append(hit)
            continue
        run = _longest_run(hit.sentences, free)
        if not run:
            continue
        start, end = run[0].start, run[-1].end
        text = hit.text[start - hit.start : end - hit.start]
        best = max(s.score for s in run)
        penalty = max(s.score for s in hit.sentences) - best  # its best sentence may be the one removed
        kept.append(replace(hit, start=start, end=end, text=text, sentences=tuple(run),
                            score=hit.score - W_SENTENCE * penalty))
    kept.sort(key=lambda h: -h.score)
    return kept


def _longest_run(sentences: tuple[Sentence, ...], free: list[Sentence]) -> list[Sentence]:
    free_set = set(free)
    best: list[Sentence] = []
    run: list[Sentence] = []
    for s in sentences:
        run = run + [s] if s in free_set else []
        if len(run) > len(best):
            best = run
    return best


def search(
    snapshot: Snapshot,
    cache: VectorCache,
    question: Question,
    k: int,
    candidates: int = 30,
    rescore_n: int = 12,
    rrf_k: int = 60,
) -> list[Hit]:
    """The k best hits for the question's query, best first, with per-sentence scores."""
    query = question.query
    query_vector = cache.encode([query])[0]
    dense_rows = [row for row, _ in dense(snapshot, query_vector, candidates)]
    lexical_rows = [row for row, _ in snapshot.lexicon.top(query, candidates)]
    fused = fuse([dense_rows, lexical_rows], rrf_k)[: max(rescore_n, k)]
    hits = deduplicate(rescore(snapshot, cache, question, query_vector, fused, rrf_k))[:k]
    return [replace(h, rank=i) for i, h in enumerate(hits, start=1)]
