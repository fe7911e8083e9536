"""The Assistant: one object that owns settings, the model, the current index snapshot, and the
staleness check. The CLI, the web app and Python users all go through it."""

from __future__ import annotations

import itertools
import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from . import aliases, generate, store
from . import answer as answerer
from . import index as indexer
from . import search as retriever
from .chat import History, resolve
from .config import Settings
from .embed import Embedder, shared_embedder
from .errors import AssistantError, DamagedIndexError, IndexWriteError, QuestionError
from .lexical import Vocabulary
from .question import analyse as understand
from .reader import Reader, shared_reader
from .rerank import Reranker, shared_reranker
from .types import Answer, BuildReport, Hit, Question

log = logging.getLogger(__name__)
T = TypeVar("T")

REFRESH_INTERVAL = 1.0  # seconds between two staleness checks of seeds/


class Assistant:
    """Question answering over the documents in `seeds` with the index kept in `index`.

    Nothing heavy happens here: the model loads on first use, the index on first question.
    """

    def __init__(
        self,
        seeds: str | Path | None = None,
        index: str | Path | None = None,
        *,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        generator: str | Path | None = None,  # a local folder or an http(s):// URL (Settings.generator)
        auto_refresh: bool | None = None,
        **overrides: object,
    ) -> None:
        base = settings or Settings.from_env()
        changes = {"seeds": seeds, "index": index, "auto_refresh": auto_refresh,
                   "generator": None if generator is None else str(generator), **overrides}
        self.settings = base.with_(**{k: v for k, v in changes.items() if v is not None})
        self._embedder = embedder
        self._generator = generate.from_settings(self.settings)
        self._cache: retriever.VectorCache | None = None
        self._snapshot: store.Snapshot | None = None
        self._introductions: tuple[str, dict] = ("", {})  # (generation, aliases.introductions of it)
        # (generation, each document's passage rows, what was made of each whole document on first use:
        # {"vocabulary": {doc: Vocabulary}, "tables": {doc: header rows}})
        self._documents: tuple[str, dict[str, list[int]], dict[str, dict]] = ("", {}, {})
        self._build_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._last_check = 0.0
        self.last_report: BuildReport | None = None
        self.building = False

    # -- components --------------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = shared_embedder(s.model, s.threads, s.batch_size, s.embed_backend, s.model_cache,
                                             s.query_prefix, s.passage_prefix)
        return self._embedder

    @property
    def vectors(self) -> retriever.VectorCache:
        if self._cache is None:
            self._cache = retriever.VectorCache(self.embedder)
        return self._cache

    # -- index ---------------------------------------------------------------------------------------

    @property
    def reader(self) -> Reader | None:
        """The cross-encoder the answerer reads candidates with, unless turned off (ASSISTANT_READER=0)."""
        return shared_reader() if self.settings.reader else None

    def build(self, progress: indexer.Progress | None = None) -> BuildReport:
        """Bring the index up to date with seeds/ (incremental). Safe to call from several threads:
        builds run one at a time while questions keep using the previous generation."""
        with self._build_lock:
            self.building = True
            try:
                report, snapshot = indexer.build(self.settings, self.embedder, progress)
            finally:
                self.building = False
            self._snapshot = snapshot
            self._last_check = time.monotonic()
            self.last_report = report
            self.introductions()  # here, not on the next question (0.7 s at 10^5 passages)
            return report

    def snapshot(self) -> store.Snapshot:
        """The index generation to answer from: loaded on first use, rebuilt when missing, damaged,
        made with other settings, or older than seeds/ (when auto_refresh is on)."""
        if self._snapshot is None:
            with self._load_lock:
                if self._snapshot is None:
                    self._snapshot = self._load_or_build()
                    self._last_check = time.monotonic()
        elif self.settings.auto_refresh and time.monotonic() - self._last_check >= REFRESH_INTERVAL:
            self._last_check = time.monotonic()
            if self.is_stale() and not self._build_lock.locked():
                log.info("seeds/ changed: updating the index")
                try:
                    self.build()
                except IndexWriteError as exc:  # disk full, read-only index/: keep answering from this one
                    log.warning("%s", exc)
        return self._snapshot

    def is_stale(self) -> bool:
        """True when files under seeds/ appeared, vanished, or changed size or time since the build."""
        current = self._snapshot
        return current is None or indexer.seeds_changed(self.settings, current.manifest)

    def _load_or_build(self) -> store.Snapshot:
        digest, _ = indexer.fingerprint(self.settings, self.embedder)
        where = store.open_store(self.settings)
        try:
            manifest = where.read_manifest()
            if manifest is not None and manifest["fingerprint"] == digest:
                snapshot = where.load(manifest)
                if not self.settings.auto_refresh or not indexer.seeds_changed(self.settings, manifest):
                    return snapshot
                self._snapshot = snapshot  # keep answering from it if another process is building
        except DamagedIndexError as exc:
            log.warning("%s", exc)
        try:
            self.build()
        except IndexWriteError as exc:  # keep answering from the index on disk when there is one
            if self._snapshot is None:
                raise
            log.warning("%s", exc)
        return self._snapshot

    def documents(self) -> list[dict]:
        """The indexed documents with their passage counts, and the files that were skipped.
        Uses the index already loaded when there is one (never waits for a rebuild)."""
        snap = self._snapshot if self._snapshot is not None else self.snapshot()
        counts: dict[str, int] = {}
        for p in snap.passages:
            counts[p.doc] = counts.get(p.doc, 0) + 1
        docs = [
            {"doc": name, "passages": counts.get(name, 0), "chars": info.get("chars", 0), "status": "indexed"}
            for name, info in sorted(snap.documents.items())
        ]
        skipped = [
            {"doc": name, "passages": 0, "chars": 0, "status": f"skipped: {why}"}
            for name, why in sorted(snap.manifest.get("skipped", {}).items())
        ]
        return docs + skipped

    # -- questions -----------------------------------------------------------------------------------

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        """The k passages that best match the question, best first, with exact document offsets."""
        query = clean_question(question, self.settings.max_question_chars)
        return self._retrieve(understand(query), k)

    def _retrieve(self, question: Question, k: int | None = None) -> list[Hit]:
        s = self.settings
        k = s.k if k is None else k
        if k < 1:
            raise QuestionError("k must be at least 1.")
        if not s.reranker:
            return self._search(question, k, s.rescore)
        depth = max(k, s.rerank_candidates)
        hits = self._search(question, depth, max(s.rescore, depth))
        return self.reranker.rerank(question.query, hits, k)

    def _search(self, question: Question, k: int, rescore: int) -> list[Hit]:
        s = self.settings
        try:
            return retriever.search(self.snapshot(), self.vectors, question, k, s.candidates, rescore, s.rrf_k)
        except DamagedIndexError as exc:
            # a Milvus generation dropped under us (by another process's build): load the current one, once
            log.warning("%s", exc)
            with self._load_lock:
                self._snapshot = None
            return retriever.search(self.snapshot(), self.vectors, question, k, s.candidates, rescore, s.rrf_k)

    @property
    def reranker(self) -> Reranker | None:
        """The cross-encoder that reorders retrieved passages, when Settings.reranker names one."""
        return shared_reranker(self.settings.reranker) if self.settings.reranker else None

    def introductions(self) -> dict[str, set[tuple[str, str]]]:
        """How the documents introduce people ("German Chancellor Friedrich Merz"), for resolving
        descriptions in questions ("the German chancellor"); computed once per index generation."""
        snap = self.snapshot()
        if self._introductions[0] != snap.generation:
            self._introductions = (snap.generation, aliases.introductions(p.text for p in snap.passages))
        return self._introductions[1]

    def vocabulary(self, docs: Iterable[str]) -> dict[str, Vocabulary]:
        """The words of each of these documents, all its passages and their titles: does a document
        mention the question's names and terms at all. Made on first use per document and kept for
        the index generation (a passage list is one document's; a question's hits come from a few)."""
        return self._per_document("vocabulary", docs, lambda snap, rows: Vocabulary.of(itertools.chain.from_iterable(
            (snap.passages[r].text, store.title_of(snap, r)) for r in rows)))

    def tables(self, docs: Iterable[str]) -> dict[str, list[tuple[int, list[str]]]]:
        """The header rows of each document's markdown tables ((offset, cells), answer.table_headers), so
        that a row retrieved without its table's top is still read under its header ("| E34 | Unbalanced
        load | ..." in the third passage of a table of error codes). Made on first use, like vocabulary."""
        def headers(snap: store.Snapshot, rows: list[int]) -> list[tuple[int, list[str]]]:
            passages = [snap.passages[r] for r in rows]
            return answerer.table_headers([(p.doc, p.start, p.text) for p in passages]).get(passages[0].doc, [])

        return self._per_document("tables", docs, headers)

    def _per_document(self, what: str, docs: Iterable[str], make: Callable[[store.Snapshot, list[int]], T]
                      ) -> dict[str, T]:
        """`make(snapshot, the document's passage rows)` for each of these documents, made on first use
        and kept for the index generation."""
        snap = self.snapshot()
        generation, rows, made = self._documents
        if generation != snap.generation:
            rows, made = {}, {}
            for row, p in enumerate(snap.passages):
                rows.setdefault(p.doc, []).append(row)
            self._documents = (snap.generation, rows, made)
        kept = made.setdefault(what, {})
        for doc in docs:
            if doc not in kept and doc in rows:
                kept[doc] = make(snap, rows[doc])
        return {doc: kept[doc] for doc in docs if doc in kept}

    def ask(self, question: str, history: History | None = None, k: int | None = None,
            cancel: threading.Event | None = None) -> Answer:
        """Answer from the documents with [n] citations, or say plainly that they don't answer it."""
        final = None
        for part in self.ask_stream(question, history, k, cancel=cancel):
            final = part
        assert isinstance(final, Answer)
        return final

    def ask_stream(self, question: str, history: History | None = None, k: int | None = None,
                   cancel: threading.Event | None = None) -> Iterator[str | Answer]:
        """Yield the answer's text as it is produced, then the final, verified Answer as the last item.

        With a generator the streamed text is the model's raw output; the final Answer holds only what
        survived verification (or the extractive answer, with the reason in `note`), so show
        `Answer.text` once it arrives. Setting `cancel` stops the generator (a new question was asked)."""
        cleaned = clean_question(question, self.settings.max_question_chars)
        asked, hits = self.evidence(cleaned, history, k)
        composed = answerer.compose(asked, hits, _previous_answer(history), self.vectors, self.introductions(),
                                    reader=self.reader, vocabulary=self.vocabulary({h.doc for h in hits}),
                                    tables=self.tables({h.doc for h in hits}))
        extractive = answerer.verify(composed, self.vectors)
        if self._generator is not None and hits:
            generated, why = yield from self._generate(cleaned, asked.query, hits, cancel)
            if generated is not None:
                yield generated
                return
            extractive = replace(extractive, answerer="extractive",
                                 note=f"{why}; the answer below is quoted from the documents instead"
                                 + (f" ({extractive.note})" if extractive.note else ""))
            log.info("generator fallback: %s", why)
        else:
            for claim, numbers in answerer.claims(extractive.text):
                yield claim + "".join(f" [{n}]" for n in numbers) + " "
        yield extractive

    def evidence(self, question: str, history: History | None = None, k: int | None = None
                 ) -> tuple[Question, list[Hit]]:
        """The question understood once (follow-up references and descriptions of people resolved)
        and the passages retrieved for it: what every answerer works from."""
        cleaned = clean_question(question, self.settings.max_question_chars)
        focus, query = resolve(cleaned, history, _previous_query(history))
        people = self.introductions()
        focus, query = aliases.resolve_descriptions(focus, people), aliases.resolve_descriptions(query, people)
        asked = understand(focus, query, lambda speaker: aliases.descriptions_of(speaker, people))
        # the query and what the question asks about its names in one batch: the answerer needs both,
        # and one batch of two short texts costs little more than one text
        self.vectors.encode([t for t in (asked.query, asked.predicate) if t])
        return asked, self._retrieve(asked, k=max(k or self.settings.k, 6))

    def _generate(self, question: str, query: str, hits: list[Hit], cancel: threading.Event | None):
        """Stream the generator's text; return (its verified Answer, "") or (None, why it is not used)."""
        gen = self._generator
        if cancel is not None and cancel.is_set():
            return None, "the question was replaced by a new one before the model was asked"
        numbered = generate.numbered(hits, self.settings.generator_context_chars)
        pieces: list[str] = []
        try:
            for piece in gen.stream(question, numbered, query, cancel):
                pieces.append(piece)
                yield piece
        except AssistantError as exc:
            log.warning("%s", exc)
            return None, str(exc)
        raw = Answer("".join(pieces).strip(), list(numbered), True, query, gen.label)
        if not raw.text:
            return None, f"{gen.where} wrote nothing"
        verified = answerer.verify(generate.tie_to_sentences(raw, self.vectors), self.vectors)
        if not verified.answered:
            return None, f"nothing {gen.where} wrote was supported by the passages it cited"
        dropped = len(answerer.claims(raw.text)) - len(answerer.claims(verified.text))
        if dropped:
            verified = replace(verified, note=f"{dropped} statement{'s' if dropped > 1 else ''} the model wrote "
                               f"{'were' if dropped > 1 else 'was'} left out: not supported by the passage cited")
        return verified, ""


_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CITATION_MARKERS = re.compile(r"\[\d+\]")  # "[2]" pasted from an answer: a marker, never part of a question


def clean_question(question: str, max_chars: int) -> str:
    """The question with control characters and citation markers removed; a clear error when it is empty
    or too long."""
    if not isinstance(question, str):
        raise QuestionError("The question must be text.")
    question = _TERMINAL_CODES.sub(" ", question)  # colour codes pasted from a terminal: "\x1b[31m"
    question = _CITATION_MARKERS.sub(" ", question)
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\u200d" else ch for ch in question
    )
    cleaned = " ".join(cleaned.split())
    if not cleaned:
        raise QuestionError("The question is empty: type a question about your documents.")
    if len(cleaned) > max_chars:
        raise QuestionError(
            f"The question is {len(cleaned):,} characters long; the limit is {max_chars:,}. "
            "Ask about one thing at a time, or quote only the part you need."
        )
    return cleaned


def _previous_answer(history: History | None) -> str:
    for message in reversed(history or []):
        if message.get("role") == "assistant" and isinstance(message.get("content"), str):
            return message["content"]
    return ""


def _previous_query(history: History | None) -> str:
    """The standalone query of the previous turn, when the caller kept it (the web app does)."""
    for message in reversed(history or []):
        if message.get("role") == "assistant":
            query = message.get("query") or (message.get("metadata") or {}).get("query")
            return query if isinstance(query, str) else ""
    return ""
