"""build(): bring index/ up to date with seeds/, embedding only passages never embedded before."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from . import corpus, store
from .config import Settings
from .corpus import TITLE_JOIN
from .embed import Embedder, bulk_encoding
from .errors import DamagedIndexError, IndexWriteError, NoDocumentsError
from .types import BuildReport, Document, Passage

log = logging.getLogger(__name__)

# 2: a markdown table row is one sentence; 3: a table row, a list item or a label with its value is never a
# heading, and a heading is its whole line; 4: an HTML table's rows read as markdown rows (corpus.html_text);
# 8: a numbered line in capitals is a heading ("3. PURCHASE OF A NEW BOAT"); 9: a fenced block of code is one
# sentence; 10: "ext.", "tel.", "vol.", "pp.", "nos.", "ca." end no sentence ("ext. 6100"); 11: a passage splits
# again into the document's own sentences (corpus._line_whole); 12: a numbered list run into one paragraph
# splits at its items ("To book: 1. Open the app. 2. Choose a slot."), not after each item's number; 13: a
# title before a name ends no sentence ("Cllr. Marguerite ..."); 14: a line cut after a comma or a word no
# sentence ends with goes on in the next ("... the first bell from\n7:45 a.m. to 8:30 a.m.")
# 15: a section's heading is the path of the Markdown headings above it ("3.6.0 — 2026-02-11 — New")
SPLITTER_VERSION = 15
TITLE_VERSION = 1  # how a passage's title is chosen and joined to its text (titles_of, embedded_text)
SENTENCE_VERSION = 1  # how sentence vectors are made (embed.pool_spans)
EMBED_CHUNK = 256  # texts per encode call: the granularity of progress reports

Progress = Callable[[int, int], None]  # (passages embedded so far, passages to embed)


def fingerprint(settings: Settings, embedder: Embedder) -> tuple[str, dict]:
    """Everything that changes the vectors or passages. A different fingerprint means a full rebuild."""
    parts = {
        "embedder": embedder.name,
        "dim": embedder.dim,
        "max_tokens": min(settings.max_tokens, embedder.max_tokens),
        "min_words": settings.min_words,
        "max_words": settings.max_words,
        "overlap": settings.overlap_sentences,
        "splitter": SPLITTER_VERSION,
        "title": TITLE_VERSION,
        "sentences": SENTENCE_VERSION if hasattr(embedder, "encode_passages") else "separate",
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return digest, parts


# The settings a text's vectors depend on. A generation made with other split settings (a new splitter
# version, other passage sizes) still holds the right vectors for every text whose sentences are the same.
VECTOR_SETTINGS = ("embedder", "dim", "max_tokens", "sentences")


def text_key(text: str) -> str:
    """Vectors depend on the text alone, so the cache is keyed by it (a renamed file embeds nothing)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _starts_with(text: str, line: str) -> bool:
    return text.lstrip("#").lstrip().startswith(line)


def titles_of(passages: list[Passage]) -> list[str]:
    """What is embedded before each passage of one document (in document order), "" for nothing.

    The document's title is its first line when that line is a heading (corpus.split's rule: a short
    line of its own, or a Markdown "#" line), as in Wikipedia leads ("Title\n\nlead ..."). A passage
    gets that title, then its own section heading when different, each left out when the passage
    already starts with it. "Quillon Observatory — History — The dome was rebuilt ..."."""
    if not passages:
        return []
    first = passages[0]
    doc_title = first.heading if first.heading and _starts_with(first.text, first.heading) else ""
    titles = []
    for p in passages:
        parts = [part for part in dict.fromkeys((doc_title, p.heading)) if part and not _starts_with(p.text, part)]
        titles.append(TITLE_JOIN.join(parts))
    return titles


def embedded_text(title: str, text: str) -> str:
    """The text the model reads for a passage: "<title> — <text>" (offsets always refer to `text`)."""
    return f"{title}{TITLE_JOIN}{text}" if title else text


def passage_titles(passages: list[Passage], embedder: Embedder, max_tokens: int,
                   previous: store.Snapshot | None = None) -> list[str]:
    """titles_of for every document, dropped where title + text would not fit the model's window (the
    text must never be cut). A title already checked in the previous generation is not counted again."""
    by_doc: dict[str, list[int]] = {}
    for row, p in enumerate(passages):
        by_doc.setdefault(p.doc, []).append(row)
    titles = [""] * len(passages)
    for rows in by_doc.values():
        for row, title in zip(rows, titles_of([passages[r] for r in rows])):
            titles[row] = title
    known: set[tuple[str, str]] = set()
    if previous is not None:
        known = {(p.text, t) for p, t in zip(previous.passages, previous.titles) if t}
    for row, (p, title) in enumerate(zip(passages, titles)):
        if title and (p.text, title) not in known and embedder.count_tokens(embedded_text(title, p.text)) > max_tokens:
            titles[row] = ""
    return titles


def split_document(document: Document, settings: Settings, embedder: Embedder) -> list[Passage]:
    return corpus.split(
        document,
        embedder.count_tokens,
        min_words=settings.min_words,
        max_words=settings.max_words,
        overlap=settings.overlap_sentences,
        max_tokens=min(settings.max_tokens, embedder.max_tokens),
    )


def load_previous(settings: Settings, digest: str, where: store.FolderStore | None = None, parts: dict | None = None
                  ) -> tuple[store.Snapshot | None, str, store.Snapshot | None]:
    """The previous generation if it is usable for an incremental build, why not otherwise, and, when it
    was made with other split settings but the same vector settings as `parts`, that generation as a
    vector donor (vector_donor)."""
    where = where or store.open_store(settings)
    try:
        manifest = where.read_manifest()
        if manifest is None:
            return None, "no index yet", None
        if manifest.get("fingerprint") != digest:
            return None, "model or split settings changed", vector_donor(where, manifest, parts or {})
        return where.load(manifest), "", None
    except DamagedIndexError as exc:
        log.warning("%s", exc)
        return None, str(exc), None


def vector_donor(where: store.FolderStore, manifest: dict, parts: dict) -> store.Snapshot | None:
    """The generation of `manifest` when only the split settings changed: its vectors serve again, for
    the texts it embedded with the same sentences (_vectors checks those), instead of embedding everything."""
    if any(manifest.get("settings", {}).get(k) != parts.get(k) for k in VECTOR_SETTINGS):
        return None
    try:
        return where.load(manifest)
    except DamagedIndexError:
        return None


def build(
    settings: Settings,
    embedder: Embedder,
    progress: Progress | None = None,
    before_commit: Callable[[], None] | None = None,
) -> tuple[BuildReport, store.Snapshot]:
    """Bring the index up to date. Returns the report and the snapshot now current.

    Raises NoDocumentsError (and leaves any existing index alone) when seeds/ has nothing usable.
    """
    started = time.perf_counter()
    where = store.open_store(settings)
    with write_errors(settings.index), where.lock(), bulk_encoding(settings.threads):
        documents, skipped = corpus.load_all(settings.seeds, int(settings.max_file_mb * 1e6))
        if not documents:
            raise NoDocumentsError(_no_documents_message(settings.seeds, skipped))
        digest, parts = fingerprint(settings, embedder)
        previous, reason, donor = load_previous(settings, digest, where, parts)
        old_docs = previous.documents if previous else {}
        new_docs = {d.doc: d for d in documents}

        added = [d for d in new_docs if d not in old_docs]
        removed = [d for d in old_docs if d not in new_docs]
        changed = [d for d in new_docs if d in old_docs and old_docs[d]["sha256"] != new_docs[d].sha256]
        unchanged = [d for d in new_docs if d in old_docs and old_docs[d]["sha256"] == new_docs[d].sha256]
        removed_by_sha = {old_docs[d]["sha256"]: d for d in removed}
        renamed = [(removed_by_sha[new_docs[d].sha256], d) for d in added if new_docs[d].sha256 in removed_by_sha]
        renamed_new = {new for _, new in renamed}
        renamed_old = {old for old, _ in renamed}
        manifest_fields = {
            "fingerprint": digest,
            "settings": parts,
            "documents": {d.doc: _doc_record(d) for d in documents},
            "skipped": {path: reason for path, reason in skipped},
            "seeds_stat": _seeds_stat(settings.seeds),
        }

        report_args = dict(
            added=tuple(d for d in added if d not in renamed_new),
            changed=tuple(changed),
            removed=tuple(d for d in removed if d not in renamed_old),
            unchanged=tuple(unchanged),
            renamed=tuple(renamed),
            skipped=tuple(skipped),
            full_rebuild=previous is None,
        )
        for path, why in skipped:
            log.info("skipped %s: %s", path, why)  # reported in BuildReport.skipped; the CLI prints it

        if previous is not None and not (added or removed or changed):
            # Nothing to embed or write; refresh the cheap stat snapshot so the staleness check stays quiet.
            if manifest_fields["seeds_stat"] != previous.manifest.get("seeds_stat") or (
                manifest_fields["skipped"] != previous.manifest.get("skipped")
            ):
                previous = where.update_manifest(previous, manifest_fields)
            # A build killed after its manifest switch leaves the old generation behind: clean it up here too.
            where.remove_stale(keep=previous.generation)
            report = BuildReport(**report_args, passages_total=len(previous.passages),
                                 seconds=time.perf_counter() - started, generation=previous.generation)
            return report, previous

        if previous is None:
            log.info("full rebuild: %s%s", reason, "; vectors of unchanged texts kept" if donor else "")
        passages = _passages(documents, previous, set(unchanged), settings, embedder)
        titles = passage_titles(passages, embedder, min(settings.max_tokens, embedder.max_tokens), previous or donor)
        vectors, sentences, embedded = _vectors(passages, titles, previous or donor, embedder, progress,
                                              settings.ray, settings.threads, same_split=donor is None)
        texts = [embedded_text(t, p.text) for p, t in zip(passages, titles)]
        snapshot = where.save(passages, vectors, texts, manifest_fields, before_commit, sentences, titles)
        where.remove_stale(keep=snapshot.generation)
        report = BuildReport(**report_args, passages_total=len(passages), passages_embedded=embedded,
                             seconds=time.perf_counter() - started, generation=snapshot.generation)
        return report, snapshot


def _passages(
    documents: list[Document],
    previous: store.Snapshot | None,
    unchanged: set[str],
    settings: Settings,
    embedder: Embedder,
) -> list[Passage]:
    """Passages of every document: reused for unchanged ones, split anew for the rest."""
    old_by_doc: dict[str, list[Passage]] = {}
    if previous is not None:
        for p in previous.passages:
            if p.doc in unchanged:
                old_by_doc.setdefault(p.doc, []).append(p)
    passages: list[Passage] = []
    for document in documents:
        passages.extend(old_by_doc.get(document.doc) or split_document(document, settings, embedder))
    return passages


def sentence_offsets(p: Passage) -> list[tuple[int, int]]:
    """The passage's sentences (corpus.sentences, as search.sentence_spans), relative to its start."""
    return [(s.start, s.end) for s in corpus.sentences(p.text)]


def encode_passages(embedder: Embedder, texts: list[str], spans: list[list[tuple[int, int]]]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(a vector per text, a vector per span of each text, in order): one forward pass per text when
    the embedder pools token outputs (embed.pool_spans), else the spans encoded as texts of their own."""
    if hasattr(embedder, "encode_passages"):
        return embedder.encode_passages(texts, spans)
    vectors = embedder.encode(texts)
    pieces = [text[a:b] for text, row_spans in zip(texts, spans) for a, b in row_spans]
    return vectors, (embedder.encode(pieces) if pieces else np.zeros((0, embedder.dim), dtype=np.float32))


def _vectors(
    passages: list[Passage],
    titles: list[str],
    previous: store.Snapshot | None,
    embedder: Embedder,
    progress: Progress | None,
    ray: str = "",
    threads: int = 2,
    same_split: bool = True,
) -> tuple[np.ndarray, store.Sentences, int]:
    """Passage and sentence vectors for all passages: cached ones by embedded text (title + text), the
    rest embedded once each (duplicates too), with their sentences pooled from the same pass; on a Ray
    cluster when `ray` names one ("local" for a Ray started here). `same_split` False: `previous` was
    split by other rules, so a text it embedded is reused only where its sentences are still the same."""
    cache: dict[str, int] = {}
    if previous is not None:
        for row, (p, title) in enumerate(zip(previous.passages, previous.titles)):
            cache.setdefault(text_key(embedded_text(title, p.text)), row)
    texts = [embedded_text(t, p.text) for p, t in zip(passages, titles)]
    keys = [text_key(t) for t in texts]
    if not same_split and cache:
        cache = _same_sentences(cache, keys, passages, previous)
    todo: dict[str, int] = {}  # key -> the first row with that text
    for row, key in enumerate(keys):
        if key not in cache and key not in todo:
            todo[key] = row
    # longest first, so every encode call gets texts of similar length (less padding); one global
    # sort beats the per-call sort of each EMBED_CHUNK (the order of `fresh` does not matter)
    todo_items = sorted(todo.items(), key=lambda item: -len(texts[item[1]]))
    total = len(todo_items)
    chunks = [todo_items[i : i + EMBED_CHUNK] for i in range(0, total, EMBED_CHUNK)]
    spans = {row: sentence_offsets(passages[row]) for _, row in todo_items}
    jobs = []  # (texts, their sentence spans shifted past the title)
    for chunk in chunks:
        rows = [row for _, row in chunk]
        shifts = [len(texts[r]) - len(passages[r].text) for r in rows]  # the title before the text
        jobs.append(([texts[r] for r in rows], [[(a + d, b + d) for a, b in spans[r]] for r, d in zip(rows, shifts)]))
    if ray:
        from . import workers

        results = workers.encode_passages(embedder, jobs, ray, encode_passages, threads)
    else:
        results = (encode_passages(embedder, chunk_texts, chunk_spans) for chunk_texts, chunk_spans in jobs)
    if progress and total:
        progress(0, total)
    fresh: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # key -> vector, sentence vectors, spans
    done = 0
    for chunk, (encoded, pooled) in zip(chunks, results):
        at = 0
        for (key, row), vector in zip(chunk, encoded):
            n = len(spans[row])
            fresh[key] = (vector, pooled[at : at + n].astype(np.float16), np.asarray(spans[row], np.int32).reshape(-1, 2))
            at += n
        done += len(chunk)
        if progress:
            progress(done, total)
    # what was embedded before, read back from the previous generation in one request per batch
    reused = list(dict.fromkeys(cache[key] for key in keys if key not in fresh))
    old: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    if reused:
        old_vectors = previous.passage_vectors(reused)
        old_spans, old_sentences = previous.sentence_vectors(reused)
        at = 0
        for row, vector, row_spans in zip(reused, old_vectors, old_spans):
            old[row] = (vector, old_sentences[at : at + len(row_spans)], row_spans)
            at += len(row_spans)
    dim = embedder.dim
    out = np.zeros((len(passages), dim), dtype=np.float32)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    counts = np.zeros(len(passages), dtype=np.int64)
    for row, key in enumerate(keys):
        out[row], sentence_vectors, row_spans = fresh[key] if key in fresh else old[cache[key]]
        parts.append((sentence_vectors, row_spans))
        counts[row] = len(row_spans)
    rows = np.zeros(len(passages) + 1, dtype=np.int64)
    np.cumsum(counts, out=rows[1:])
    sentences = store.Sentences(
        np.concatenate([v for v, _ in parts]).astype(np.float16, copy=False) if parts else np.zeros((0, dim), np.float16),
        np.concatenate([s for _, s in parts]).astype(np.int32, copy=False) if parts else np.zeros((0, 2), np.int32),
        rows,
    )
    return out, sentences, total


def _same_sentences(cache: dict[str, int], keys: list[str], passages: list[Passage],
                    previous: store.Snapshot) -> dict[str, int]:
    """The cache without the texts whose stored sentences differ from their sentences now."""
    wanted = {key: passages[row] for row, key in enumerate(keys) if key in cache}
    rows = [cache[key] for key in wanted]
    stored = previous.sentence_spans(rows) if rows else None
    if stored is None:
        return {}
    return {key: row for (key, p), row, spans in zip(wanted.items(), rows, stored)
            if [tuple(pair) for pair in np.asarray(spans).tolist()] == sentence_offsets(p)}


def _doc_record(d: Document) -> dict:
    return {"sha256": d.sha256, "size": d.size, "mtime_ns": d.mtime_ns, "chars": len(d.text)}


def _seeds_stat(seeds: Path) -> dict[str, list[int]]:
    files, _ = corpus.scan(seeds)
    return {f.doc: [f.size, f.mtime_ns] for f in files}


def seeds_changed(settings: Settings, manifest: dict | None) -> bool:
    """The cheap staleness check: has any file under seeds/ appeared, gone, or changed size or mtime?"""
    if manifest is None:
        return True
    return _seeds_stat(settings.seeds) != manifest.get("seeds_stat")


def _no_documents_message(seeds: Path, skipped: list[tuple[str, str]]) -> str:
    if Path(seeds).exists() and not Path(seeds).is_dir():
        return f"{seeds} is a file, not a folder: point to a folder of .txt, .md, .html or .pdf files."
    if not Path(seeds).is_dir():
        return f"{seeds}/ does not exist: create it and add .txt, .md, .html or .pdf files."
    message = f"{seeds}/ holds no readable documents: add .txt, .md, .html or .pdf files."
    if skipped:
        shown = "; ".join(f"{path}: {why}" for path, why in skipped[:5])
        message += f" Skipped: {shown}."
    return message


@contextlib.contextmanager
def write_errors(index_dir: Path) -> Iterator[None]:
    """A full disk or an unwritable index/ during a build: one clear IndexWriteError, not a traceback.
    (store.save has already removed its partial generation; the manifest still names the previous one.)"""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            hint = "the disk is full: free some space"
        elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            hint = f"{index_dir}/ is not writable: make it writable or use another index folder"
        else:
            hint = "check the disk and the folder's permissions"
        raise IndexWriteError(
            f"Could not write the index in {index_dir}/ ({exc.strerror or exc}): {hint}, then build again. "
            "The previous index, if there is one, is unchanged and still answers questions."
        ) from exc
