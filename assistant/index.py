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
from .embed import Embedder, bulk_encoding
from .errors import DamagedIndexError, IndexWriteError, NoDocumentsError
from .lexical import Lexicon
from .types import BuildReport, Document, Passage

log = logging.getLogger(__name__)

SPLITTER_VERSION = 1
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
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return digest, parts


def text_key(text: str) -> str:
    """Vectors depend on the text alone, so the cache is keyed by it (a renamed file embeds nothing)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def split_document(document: Document, settings: Settings, embedder: Embedder) -> list[Passage]:
    return corpus.split(
        document,
        embedder.count_tokens,
        min_words=settings.min_words,
        max_words=settings.max_words,
        overlap=settings.overlap_sentences,
        max_tokens=min(settings.max_tokens, embedder.max_tokens),
    )


def load_previous(settings: Settings, digest: str) -> tuple[store.Snapshot | None, str]:
    """The previous generation if it is usable for an incremental build, and why not otherwise."""
    try:
        manifest = store.read_manifest(settings.index)
        if manifest is None:
            return None, "no index yet"
        if manifest.get("fingerprint") != digest:
            return None, "model or split settings changed"
        return store.load(settings.index, manifest), ""
    except DamagedIndexError as exc:
        log.warning("%s", exc)
        return None, str(exc)


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
    with write_errors(settings.index), store.build_lock(settings.index), bulk_encoding(settings.threads):
        documents, skipped = corpus.load_all(settings.seeds, int(settings.max_file_mb * 1e6))
        if not documents:
            raise NoDocumentsError(_no_documents_message(settings.seeds, skipped))
        digest, parts = fingerprint(settings, embedder)
        previous, reason = load_previous(settings, digest)
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
                manifest = {**previous.manifest, **manifest_fields}
                store.write_manifest(settings.index, manifest)
                previous = store.Snapshot(previous.generation, previous.passages, previous.vectors,
                                          previous.faiss_index, previous.lexicon, manifest)
            # A build killed after its manifest switch leaves the old generation behind: clean it up here too.
            store.remove_stale(settings.index, keep=previous.generation)
            report = BuildReport(**report_args, passages_total=len(previous.passages),
                                 seconds=time.perf_counter() - started, generation=previous.generation)
            return report, previous

        if previous is None:
            log.info("full rebuild: %s", reason)
        passages = _passages(documents, previous, set(unchanged), settings, embedder)
        vectors, embedded = _vectors(passages, previous, embedder, progress)
        lexicon = Lexicon.build([p.text for p in passages])
        snapshot = store.save(settings.index, passages, vectors, lexicon, manifest_fields, before_commit,
                              ann_threshold=settings.ann_threshold)
        store.remove_stale(settings.index, keep=snapshot.generation)
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


def _vectors(
    passages: list[Passage],
    previous: store.Snapshot | None,
    embedder: Embedder,
    progress: Progress | None,
) -> tuple[np.ndarray, int]:
    """Vectors for all passages: cached ones by text, the rest embedded once each (duplicates too)."""
    cache: dict[str, int] = {}
    if previous is not None:
        cache = {text_key(p.text): row for row, p in enumerate(previous.passages)}
    keys = [text_key(p.text) for p in passages]
    todo: dict[str, str] = {}
    for key, p in zip(keys, passages):
        if key not in cache and key not in todo:
            todo[key] = p.text
    fresh: dict[str, np.ndarray] = {}
    # longest first, so every encode call gets texts of similar length (less padding); one global
    # sort beats the per-call sort of each EMBED_CHUNK (the order of `fresh` does not matter)
    todo_items = sorted(todo.items(), key=lambda item: -len(item[1]))
    total = len(todo_items)
    if progress and total:
        progress(0, total)
    for i in range(0, total, EMBED_CHUNK):
        chunk = todo_items[i : i + EMBED_CHUNK]
        encoded = embedder.encode([text for _, text in chunk])
        for (key, _), vector in zip(chunk, encoded):
            fresh[key] = vector
        if progress:
            progress(min(i + EMBED_CHUNK, total), total)
    dim = embedder.dim
    out = np.zeros((len(passages), dim), dtype=np.float32)
    for row, key in enumerate(keys):
        out[row] = fresh[key] if key in fresh else previous.vectors[cache[key]]
    return out, total


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
