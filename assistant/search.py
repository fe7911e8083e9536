"""Hybrid retrieval: dense (FAISS) + BM25, weighted reciprocal-rank fusion, then sentence-level rescoring
with the sentence vectors stored at build time (nothing but the question is embedded per question).

The weights are fitted on dev data by eval/fit_retrieval.py and read from assistant/weights.json
("retrieval" key); `Weights()` holds the defaults used when the file lacks them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from . import corpus
from .embed import Embedder, current_threads, set_threads
from .index import text_key
from .lexical import terms
from .question import missing_entities, value_test
from .store import Snapshot, title_of
from .types import Hit, Passage, Question, Sentence

log = logging.getLogger(__name__)

WEIGHTS_FILE = Path(__file__).with_name("weights.json")
# Put the stored (pooled) sentence vectors of the candidates into the question's VectorCache, so the
# answerer, which compares the same sentences with the question, embeds none of them either.
SHARE_SENTENCE_VECTORS = True


@dataclass(frozen=True)
class Weights:
    """How retrieval weighs its evidence. Defaults: the hand-set values used before fitting."""

    dense: float = 1.0  # fusion: weight of the dense ranking (reciprocal rank)
    lexical: float = 1.0  # fusion: weight of the BM25 ranking
    sentence: float = 0.80  # rescoring: the best-matching sentence of the passage
    passage: float = 0.10  # rescoring: the passage as a whole (its cosine to the question)
    fusion: float = 0.10  # rescoring: the fused rank score, relative to the best possible
    terms: float = 0.50  # within a sentence: the IDF-weighted share of the question's terms it contains
    value: float = 0.15  # ranking only: the sentence holds the kind of value asked for ("how long" -> a duration)
    title: float = 0.0  # rescoring: share of the passage's title/heading words that the question names

    @classmethod
    def from_dict(cls, data: dict) -> Weights:
        known = {f.name for f in fields(cls)}
        return cls(**{k: float(v) for k, v in data.items() if k in known})


_loaded: dict[tuple[str, int], Weights] = {}


def load_weights(path: Path | None = None) -> Weights:
    """The fitted weights in `path` (default WEIGHTS_FILE) under "retrieval" -> "weights", else the
    defaults. Read again when the file changes (cheap: one stat per call)."""
    path = WEIGHTS_FILE if path is None else path
    try:
        stamp = (str(path), os.stat(path).st_mtime_ns)
    except OSError:
        return Weights()
    if stamp not in _loaded:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            weights = Weights.from_dict((data.get("retrieval") or {}).get("weights") or {})
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("ignoring the retrieval weights in %s (%s): using the defaults", path, exc)
            weights = Weights()
        _loaded.clear()
        _loaded[stamp] = weights
    return _loaded[stamp]


class VectorCache:
    """A bounded LRU of text -> vector, so sentences and questions are embedded once per process."""

    def __init__(self, embedder: Embedder, size: int = 20000) -> None:
        self.embedder = embedder
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, texts: list[str], vectors: np.ndarray) -> None:
        """Remember vectors made elsewhere (stored sentence vectors); texts already known keep theirs."""
        with self._lock:
            for text, vector in zip(texts, vectors):
                key = text_key(text)
                if key not in self._items:
                    self._items[key] = np.asarray(vector, dtype=np.float32)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [text_key(t) for t in texts]
        with self._lock:
            found = {k: self._items[k] for k in keys if k in self._items}
        missing = list(dict.fromkeys(t for k, t in zip(keys, texts) if k not in found))
        if missing:
            found.update(zip((text_key(t) for t in missing), self.embedder.encode(missing)))
        with self._lock:  # remember, refresh, then evict: never a key this call still needs to look up
            for k in keys:
                self._items[k] = found[k]
                self._items.move_to_end(k)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        out = np.stack([found[k] for k in keys]) if keys else np.zeros((0, self.embedder.dim))
        return out.astype(np.float32, copy=False)


def dense(snapshot: Snapshot, query_vector: np.ndarray, n: int) -> list[tuple[int, float]]:
    """The n nearest passages by inner product, best first (the store's own vector search)."""
    set_threads(current_threads())  # one search: one thread (QUERY_THREADS) unless inside a build
    return snapshot.dense(query_vector, n)


def fuse(rankings: list[list[int]], k: int = 60, weights: list[float] | None = None) -> list[tuple[int, float]]:
    """Weighted reciprocal-rank fusion: sum of weight/(k + rank) over the rankings a row appears in
    (equal weights: plain RRF). A ranking of weight 0 adds nothing, not even candidates."""
    weights = weights if weights is not None else [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights):
        if weight <= 0:
            continue
        for rank, row in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


EACH_RANKER = 3  # the best of each ranker are always rescored, whatever their fused rank


def pool(dense_rows: list[int], lexical_rows: list[int], rrf_k: int, w: Weights, n: int) -> list[tuple[int, float]]:
    """The candidates rescored at sentence level, with their fused scores: the n best by fusion, and the
    EACH_RANKER best of each ranker besides. Where one ranker is weak (BM25 on Wikipedia's paraphrases,
    dense on 136 invented documents full of made-up names) the fusion weighs it down, yet its first
    hits are often right: rescoring judges them by their sentences. On 555 held-out questions over those
    136 documents, evidence hit@5 0.793 -> 0.823 with the same weights, every other dev set unchanged
    (2026-12-03; 2, 3, 5 or 8 per ranker gave the same)."""
    fused = fuse([dense_rows, lexical_rows], rrf_k, [w.dense, w.lexical])
    chosen = fused[:n]
    have = {row for row, _ in chosen}
    score = dict(fused)
    for row in dict.fromkeys(dense_rows[:EACH_RANKER] + (lexical_rows[:EACH_RANKER] if w.lexical > 0 else [])):
        if row not in have:
            chosen.append((row, score.get(row, 0.0)))
    return chosen


NAMED_ROWS = 3  # passages found for a name of the question that no candidate has, per name


def named_rows(snapshot: Snapshot, question: Question, fused: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Passages holding a name of the question that none of the fused candidates has, found by the lexicon
    for that name alone ("How many days did the Michaelmas fair last?" when other fairs outranked the one
    passage naming Michaelmas). They join the candidates with no fusion score; rescoring decides."""
    def text(row: int) -> str:
        return f"{title_of(snapshot, row)}\n{snapshot.passages[row].text}"

    if not question.entities:
        return []
    have = {row for row, _ in fused}
    extra: list[tuple[int, float]] = []
    for name in missing_entities(question.entities, [text(row) for row in have]):
        for row, _ in snapshot.lexicon.top(name, NAMED_ROWS):
            if row not in have and not missing_entities((name,), [text(row)]):
                extra.append((row, 0.0))
                have.add(row)
    return extra


def sentence_spans(p: Passage) -> list[corpus.Span]:
    """Sentences of a passage with document offsets."""
    return [corpus.Span(p.start + s.start, p.start + s.end) for s in corpus.sentences(p.text)]


def _similarity(cache: VectorCache, texts: list[str], query_vector: np.ndarray) -> np.ndarray:
    return cache.encode(texts) @ query_vector if texts else np.zeros(0)


def stored_sentences(snapshot: Snapshot, rows: list[int]) -> tuple[list[list[corpus.Span]], np.ndarray] | None:
    """The candidates' sentences (document offsets) and their vectors as stored at build time, or None
    when the snapshot stores none."""
    stored = snapshot.sentence_vectors(rows)
    if stored is None:
        return None
    row_spans, vectors = stored
    spans = [[corpus.Span(p.start + int(a), p.start + int(b)) for a, b in part]
             for p, part in zip((snapshot.passages[row] for row in rows), row_spans)]
    return spans, np.asarray(vectors, dtype=np.float32)


@dataclass(frozen=True)
class Features:
    """What the second stage knows of one candidate passage for one question, before any weight."""

    spans: tuple[corpus.Span, ...]  # its sentences, document offsets
    similarity: np.ndarray  # each sentence's cosine to the question (stored sentence vectors)
    overlap: np.ndarray  # each sentence's IDF-weighted share of the question's terms
    value: np.ndarray  # whether each sentence holds the kind of value asked for
    passage: float  # the passage's (title + text) cosine to the question
    title: float = 0.0  # share of the words of its document title and heading that the question has


def features(snapshot: Snapshot, cache: VectorCache, question: Question, query_vector: np.ndarray,
             rows: list[int]) -> dict[int, Features]:
    """Features of the candidate rows. Embeds nothing when the snapshot stores sentence vectors."""
    passages = [snapshot.passages[row] for row in rows]
    stored = stored_sentences(snapshot, rows)
    if stored is not None:
        spans, vectors = stored
        texts = [p.text[s.start - p.start : s.end - p.start] for p, row_spans in zip(passages, spans) for s in row_spans]
        similarity = vectors @ query_vector if len(vectors) else np.zeros(0)
        if SHARE_SENTENCE_VECTORS:
            cache.put(texts, vectors)  # the answerer weighs the same sentences: no embedding there either
    else:  # a snapshot without stored sentences (another store): embed them now
        spans = [sentence_spans(p) for p in passages]
        texts = [p.text[s.start - p.start : s.end - p.start] for p, row_spans in zip(passages, spans) for s in row_spans]
        similarity = _similarity(cache, texts, query_vector)
    query_terms = terms(question.query)
    overlap = np.array([snapshot.lexicon.overlap(query_terms, t) for t in texts], dtype=np.float64)
    has_value = value_test(question)
    value = np.array([bool(has_value and has_value(t)) for t in texts], dtype=bool)
    passage_scores = snapshot.passage_vectors(rows) @ query_vector if rows else np.zeros(0)
    asked = set(query_terms)
    out: dict[int, Features] = {}
    at = 0
    for row, p, row_spans, passage_score in zip(rows, passages, spans, passage_scores):
        n = len(row_spans)
        out[row] = Features(tuple(row_spans), np.asarray(similarity[at : at + n], dtype=np.float64),
                            overlap[at : at + n], value[at : at + n], float(passage_score),
                            title_match(snapshot, row, asked))
        at += n
    return out


def title_match(snapshot: Snapshot, row: int, asked: set[str]) -> float:
    """The share of the words of the passage's title and heading (what index.titles_of embeds with it,
    and its own section heading) that the question has: "population of India" names all of "India"."""
    p = snapshot.passages[row]
    title = title_of(snapshot, row)
    words = set(terms(f"{title} {p.heading}"))
    return len(words & asked) / len(words) if words else 0.0


def rank(snapshot: Snapshot, found: dict[int, Features], fused: list[tuple[int, float]], rrf_k: int,
         weights: Weights) -> list[Hit]:
    """Hits for the fused candidates, best first: each scored by its best sentence (meaning and key
    terms, plus the asked-for value), itself as a whole, and its fused rank."""
    w = weights
    best_fusion = max(w.dense + w.lexical, 1e-9) / (rrf_k + 1)
    hits: list[Hit] = []
    for row, fusion in fused:
        p, f = snapshot.passages[row], found[row]
        sentence_scores = f.similarity + w.terms * f.overlap
        scored = tuple(Sentence(s.start, s.end, float(score)) for s, score in zip(f.spans, sentence_scores))
        # the passage ranks by its best sentence, counting whether it holds the asked-for value;
        # the sentence scores themselves stay plain (the answerer weighs values on its own)
        best = float(np.max(sentence_scores + w.value * f.value)) if len(f.spans) else f.passage
        score = w.sentence * best + w.passage * f.passage + w.fusion * fusion / best_fusion + w.title * f.title
        title = title_of(snapshot, row)
        hits.append(Hit(p.doc, p.start, p.end, p.text, score, 0, p.start, p.end, p.text, scored, (p.id,), title))
    hits.sort(key=lambda h: -h.score)
    return hits


def rescore(
    snapshot: Snapshot,
    cache: VectorCache,
    question: Question,
    query_vector: np.ndarray,
    fused: list[tuple[int, float]],
    rrf_k: int,
    weights: Weights | None = None,
) -> list[Hit]:
    """Score each candidate by its best sentence (meaning and key terms), itself, and the fused rank."""
    if not fused:
        return []
    found = features(snapshot, cache, question, query_vector, [row for row, _ in fused])
    return rank(snapshot, found, fused, rrf_k, weights or load_weights())


def deduplicate(hits: list[Hit], sentence_weight: float | None = None) -> list[Hit]:
    """No sentence is returned twice: a hit that overlaps a better one from the same document keeps
    only its sentences not already shown (the longest contiguous run), or is dropped."""
    sentence_weight = load_weights().sentence if sentence_weight is None else sentence_weight
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
                            score=hit.score - sentence_weight * penalty))
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
    weights: Weights | None = None,
) -> list[Hit]:
    """The k best hits for the question's query, best first, with per-sentence scores."""
    w = weights or load_weights()
    query = question.query
    query_vector = cache.encode([query])[0]
    dense_rows = [row for row, _ in dense(snapshot, query_vector, candidates)]
    lexical_rows = [row for row, _ in snapshot.lexicon.top(query, candidates)] if w.lexical > 0 else []
    fused = pool(dense_rows, lexical_rows, rrf_k, w, max(rescore_n, k))
    fused += named_rows(snapshot, question, fused)
    ranked = deduplicate(rescore(snapshot, cache, question, query_vector, fused, rrf_k, w), w.sentence)
    hits = keep_names(question, ranked, k)
    return [replace(h, rank=i) for i, h in enumerate(hits, start=1)]


def keep_names(question: Question, ranked: list[Hit], k: int) -> list[Hit]:
    """The k best hits, where a name of the question that only lower-ranked hits have brings the best of
    those in, in place of the last: a question's name is strong evidence of where its answer is."""
    hits, last = ranked[:k], k - 1
    for name in missing_entities(question.entities, [f"{h.title}\n{h.text}" for h in hits]):
        naming = next((h for h in ranked[k:] if not missing_entities((name,), [f"{h.title}\n{h.text}"])), None)
        if naming is not None and naming not in hits and last >= 1:  # (naming exists only when k hits do)
            hits[last] = naming  # the last hits give way, one per name, never the first
            last -= 1
    return hits
