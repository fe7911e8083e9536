"""The on-disk index: a manifest plus one immutable generation folder.

    index/
      manifest.json          format version, fingerprint, documents, current generation, file checksums
      .lock                  held while a build writes (two builds serialise)
      gen-<time>-<rand>/
        faiss.index          the vectors as float16 (also the vector cache): a flat index below
                             Settings.ann_threshold passages, an HNSW graph over them from there on
        passages.jsonl       one passage per line, row i <-> vector i (with the title embedded with it)
        sentence_vectors.npy one float16 vector per sentence of every passage, pooled from the passage's
                             own forward pass (embed.pool_spans); memory-mapped when loaded
        sentence_spans.npy   int32 (start, end) of each sentence, relative to its passage's start
        sentence_rows.npy    int64, passages + 1 entries: passage i's sentences are rows[i]:rows[i+1]
        bm25/                bm25s JSON + .npy files

The storage seam: `open_store(settings)` gives the FAISS folder store (`FolderStore`, this module) or the
Milvus store (`milvus.MilvusStore`), both with the same few methods (lock, read_manifest, load, save,
update_manifest, remove_stale), and each loaded generation answers the same questions (dense, lexicon.top,
lexicon.overlap, passage_vectors, sentence_vectors, passages, titles, documents). index.build, the engine
and search never ask which one they have.

A save writes a fresh generation folder, fsyncs it, then atomically replaces manifest.json.
Old generations are deleted only after that, so a crash at any point leaves a loadable index.
Nothing here unpickles: JSON, NumPy without pickle, and FAISS's own format.

Vectors are stored as float16 (half the bytes; inner products move by ~1e-4, recall@10 against float32
is 1.0 in bench/). A loaded flat index is widened back to a float32 IndexFlatIP (exact search, as fast as
it gets); an HNSW index is searched as stored (fp16 codes, efSearch HNSW_EF_SEARCH).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import DamagedIndexError, IndexBusyError
from .lexical import Lexicon
from .types import Passage

if TYPE_CHECKING:
    from .config import Settings

FORMAT_VERSION = 3  # 2: float16 vectors, flat or HNSW by size; 3: sentence vectors, titles
SENTENCE_FILES = ("sentence_vectors.npy", "sentence_spans.npy", "sentence_rows.npy")
HNSW_M = 32  # neighbours per node
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 256  # recall@10 against flat (by score) 0.98+ at 10^5 passages of the bench corpus; 128 gave 0.978
MANIFEST = "manifest.json"
LOCK = ".lock"
GEN_PREFIX = "gen-"


@dataclass(frozen=True)
class Sentences:
    """Every passage's sentences: `vectors[rows[i]:rows[i+1]]` are passage i's, in order, and
    `spans[j]` is sentence j's (start, end) relative to its passage's start (corpus.sentences)."""

    vectors: np.ndarray  # (sentences, dim) float16 (a read-only memory map once loaded)
    spans: np.ndarray  # (sentences, 2) int32
    rows: np.ndarray  # (passages + 1,) int64

    def of(self, row: int) -> slice:
        return slice(int(self.rows[row]), int(self.rows[row + 1]))

    @classmethod
    def empty(cls, dim: int) -> Sentences:
        return cls(np.zeros((0, dim), np.float16), np.zeros((0, 2), np.int32), np.zeros(1, np.int64))


def title_of(snapshot: Snapshot, row: int) -> str:
    """What was embedded before passage `row`'s text (its document title and heading), "" when the
    snapshot holds no titles. Any snapshot: this one or milvus.MilvusSnapshot."""
    return snapshot.titles[row] if row < len(snapshot.titles) else ""


@dataclass(frozen=True)
class Snapshot:
    """One loaded generation: everything a query needs, never mutated after loading."""

    generation: str
    passages: tuple[Passage, ...]
    vectors: np.ndarray
    faiss_index: object
    lexicon: Lexicon
    manifest: dict = field(repr=False)
    sentences: Sentences | None = field(default=None, repr=False)
    titles: tuple[str, ...] = field(default=(), repr=False)  # what was embedded before each passage's text

    @property
    def documents(self) -> dict[str, dict]:
        return self.manifest.get("documents", {})

    def dense(self, query_vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        """The n nearest passages by inner product as (row, score), best first: exact (flat) for small
        indexes, HNSW for large ones (vector_index), whose beam is never narrower than n."""
        n = min(n, len(self.passages))
        if n == 0:
            return []
        query = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)
        index = self.faiss_index
        params = None
        if hasattr(index, "hnsw") and index.hnsw.efSearch < n:
            import faiss

            params = faiss.SearchParametersHNSW(efSearch=n)
        scores, rows = index.search(query, n, params=params)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def passage_vectors(self, rows: list[int]) -> np.ndarray:
        """The stored vectors of these passages, float32, one row each."""
        return self.vectors[rows] if len(rows) else np.zeros((0, self.vectors.shape[1]), np.float32)

    def sentence_spans(self, rows: list[int]) -> list[np.ndarray] | None:
        """For these passages: each one's sentence spans (int32 (start, end) relative to the passage);
        None when none are stored."""
        if self.sentences is None:
            return None
        return [np.asarray(self.sentences.spans[self.sentences.of(row)]) for row in rows]

    def sentence_vectors(self, rows: list[int]) -> tuple[list[np.ndarray], np.ndarray] | None:
        """For these passages: each one's sentence spans (as sentence_spans) and all their sentence
        vectors in that order (float16 as stored); None when none are stored."""
        if self.sentences is None:
            return None
        parts = [self.sentences.of(row) for row in rows]
        index = np.concatenate([np.arange(p.start, p.stop) for p in parts]) if parts else np.zeros(0, np.int64)
        return [np.asarray(self.sentences.spans[p]) for p in parts], np.asarray(self.sentences.vectors[index])


def read_manifest(index_dir: Path) -> dict | None:
    """The manifest, or None when there is no index yet. A damaged one raises DamagedIndexError."""
    path = Path(index_dir) / MANIFEST
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DamagedIndexError(f"Cannot read {path}: {exc.strerror}.") from None
    try:
        manifest = json.loads(raw)
    except ValueError:
        raise DamagedIndexError(f"{path} is damaged (not valid JSON); the index will be rebuilt.") from None
    return check_manifest(manifest, path)


def check_manifest(manifest: object, path: object) -> dict:
    """The manifest if it is one of ours, of this format, with every field build() reads; else
    DamagedIndexError naming `path` (where it came from)."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise DamagedIndexError(
            f"{path} is from another version of this program or not ours; the index will be rebuilt."
        )
    for key, kind in (("generation", str), ("fingerprint", str), ("documents", dict), ("files", dict)):
        if not isinstance(manifest.get(key), kind):
            raise DamagedIndexError(f"{path} is missing '{key}'; the index will be rebuilt.")
    # build() compares these records with seeds/: a malformed one must not surface as a traceback.
    for record in manifest["documents"].values():
        if not isinstance(record, dict) or not isinstance(record.get("sha256"), str):
            raise DamagedIndexError(f"{path} has a damaged document record; the index will be rebuilt.")
    return manifest


def load(index_dir: Path, manifest: dict | None = None) -> Snapshot | None:
    """Load the current generation, checking every file against the manifest's checksums."""
    import faiss

    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir) if manifest is None else manifest
    if manifest is None:
        return None
    generation = manifest["generation"]
    if not generation.startswith(GEN_PREFIX) or "/" in generation or ".." in generation:
        raise DamagedIndexError(f"{index_dir / MANIFEST} names an invalid generation; the index will be rebuilt.")
    folder = index_dir / generation
    for rel in ("passages.jsonl", "faiss.index", *SENTENCE_FILES):
        if rel not in manifest["files"]:
            raise DamagedIndexError(f"Index file {folder / rel} is missing; the index will be rebuilt.")
    for rel, expected in manifest["files"].items():
        path = folder / rel
        if not path.resolve().is_relative_to(folder.resolve()) or not path.is_file():
            raise DamagedIndexError(f"Index file {path} is missing; the index will be rebuilt.")
        if path.stat().st_size != expected.get("size") or _sha256(path) != expected.get("sha256"):
            raise DamagedIndexError(
                f"Index file {path} does not match its checksum (damaged or tampered with); "
                "the index will be rebuilt."
            )
    try:
        passages, titles = _read_passages(folder / "passages.jsonl")
        faiss_index, vectors = _searchable(faiss.read_index(str(folder / "faiss.index")))
        lexicon = Lexicon.load(folder / "bm25")
        sentences = _read_sentences(folder, passages, faiss_index.d)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise DamagedIndexError(f"The index in {folder} cannot be read ({exc}); it will be rebuilt.") from None
    if faiss_index.ntotal != len(passages):
        raise DamagedIndexError(f"The index in {folder} is inconsistent; it will be rebuilt.")
    return Snapshot(generation, passages, vectors, faiss_index, lexicon, manifest, sentences, titles)


def save(
    index_dir: Path,
    passages: list[Passage],
    vectors: np.ndarray,
    lexicon: Lexicon,
    manifest_fields: dict,
    before_commit=None,
    ann_threshold: int = 20000,
    sentences: Sentences | None = None,
    titles: list[str] | tuple[str, ...] | None = None,
) -> Snapshot:
    """Write a new generation and switch the manifest to it atomically. Returns it as a Snapshot.

    `before_commit` is a test hook called after the generation is on disk, before the manifest switch.
    """
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    sentences = sentences if sentences is not None else Sentences(
        np.zeros((0, dim), np.float16), np.zeros((0, 2), np.int32), np.zeros(len(passages) + 1, np.int64))
    titles = tuple(titles) if titles is not None else ("",) * len(passages)
    if len(sentences.rows) != len(passages) + 1 or len(titles) != len(passages):
        raise ValueError("sentences and titles must cover every passage")
    import faiss

    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    generation = f"{GEN_PREFIX}{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    folder = index_dir / generation
    folder.mkdir()
    try:
        with open(folder / "passages.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(_passage_record(p, t), ensure_ascii=False) + "\n" for p, t in zip(passages, titles))
        np.save(folder / "sentence_vectors.npy", np.ascontiguousarray(sentences.vectors, dtype=np.float16))
        np.save(folder / "sentence_spans.npy", np.ascontiguousarray(sentences.spans, dtype=np.int32))
        np.save(folder / "sentence_rows.npy", np.ascontiguousarray(sentences.rows, dtype=np.int64))
        stored = vector_index(vectors, ann_threshold)
        try:
            faiss.write_index(stored, str(folder / "faiss.index"))
        except RuntimeError as exc:  # FAISS reports I/O failures (disk full, read-only) as RuntimeError
            code = next((e for e in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EFBIG)
                         if os.strerror(e) in str(exc)), errno.EIO)
            raise OSError(code, os.strerror(code), str(folder / "faiss.index")) from exc
        lexicon.save(folder / "bm25")
        files = {}
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            _fsync_file(path)
            files[path.relative_to(folder).as_posix()] = {"size": path.stat().st_size, "sha256": _sha256(path)}
        for d in [folder / "bm25", folder]:
            _fsync_dir(d)
        if before_commit is not None:
            before_commit()
        manifest = {"format": FORMAT_VERSION, **manifest_fields, "generation": generation, "files": files}
        write_manifest(index_dir, manifest)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    search_index, vectors = _searchable(stored)  # the float16-rounded vectors, as a reload will see them
    sentences = _read_sentences(folder, tuple(passages), dim)  # as a reload will see them (memory-mapped)
    return Snapshot(generation, tuple(passages), vectors, search_index, lexicon, manifest, sentences, titles)


def vector_index(vectors: np.ndarray, ann_threshold: int):
    """The index written to disk: float16 codes, flat below `ann_threshold` vectors, HNSW from there on.
    Inner product over L2-normalised vectors (= cosine)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    dim = vectors.shape[1]
    if len(vectors) >= ann_threshold:
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    else:
        index = faiss.IndexScalarQuantizer(dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors[:1] if len(vectors) else np.zeros((1, dim), dtype=np.float32))  # fp16 needs no data
    if len(vectors):
        index.add(vectors)
    return index


def _searchable(stored) -> tuple[object, np.ndarray]:
    """(the index queries use, the vectors as float32) for an index as stored on disk."""
    import faiss

    index = faiss.downcast_index(stored)
    if index is not stored:
        # `stored` owns the C++ object: without this reference it is freed with `stored`, and `index`
        # (a second proxy of the same object) reads freed memory (seen: a 10^5 HNSW index "inconsistent")
        index.referenced_objects = [stored]
    vectors = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), dtype=np.float32)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = max(index.hnsw.efSearch, HNSW_EF_SEARCH)
        return index, vectors
    if not isinstance(index, (faiss.IndexScalarQuantizer, faiss.IndexFlat)) or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        raise ValueError("unexpected vector index type")
    flat = faiss.IndexFlatIP(index.d)
    if len(vectors):
        flat.add(vectors)
    return flat, vectors


def write_manifest(index_dir: Path, manifest: dict) -> None:
    """Replace manifest.json atomically: a reader sees the old one or the new one, never a mix."""
    tmp = Path(index_dir) / f"{MANIFEST}.{secrets.token_hex(4)}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, Path(index_dir) / MANIFEST)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(Path(index_dir))


def remove_stale(index_dir: Path, keep: str | None) -> list[str]:
    """Delete generation folders other than `keep`, and leftover temporary files. Call under the lock."""
    removed = []
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        return removed
    for entry in index_dir.iterdir():
        stale_gen = entry.is_dir() and entry.name.startswith(GEN_PREFIX) and entry.name != keep
        stale_tmp = entry.is_file() and entry.name.startswith(MANIFEST) and entry.name.endswith(".tmp")
        if stale_gen:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
        elif stale_tmp:
            entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


@contextlib.contextmanager
def build_lock(index_dir: Path, timeout: float = 600.0) -> Iterator[None]:
    """An exclusive lock on index/.lock: builds in other processes (or threads) wait their turn."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    with open(index_dir / LOCK, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise IndexBusyError(
                        f"Another build has held {index_dir / LOCK} for over {timeout:.0f}s; "
                        "wait for it to finish, or stop it and run `assistant index` again."
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class FolderStore:
    """The index folder behind the store interface (the functions above, bound to one folder)."""

    def __init__(self, index_dir: Path, ann_threshold: int = 20000) -> None:
        self.index_dir = Path(index_dir)
        self.ann_threshold = ann_threshold

    def lock(self, timeout: float = 600.0) -> contextlib.AbstractContextManager[None]:
        return build_lock(self.index_dir, timeout)

    def read_manifest(self) -> dict | None:
        return read_manifest(self.index_dir)

    def load(self, manifest: dict | None = None) -> Snapshot | None:
        return load(self.index_dir, manifest)

    def save(self, passages: list[Passage], vectors: np.ndarray, texts: list[str], manifest_fields: dict,
             before_commit=None, sentences: Sentences | None = None, titles: list[str] | None = None) -> Snapshot:
        """Write a generation of these passages (BM25 over `texts`, what was embedded) and switch to it."""
        return save(self.index_dir, passages, vectors, Lexicon.build(texts), manifest_fields, before_commit,
                    ann_threshold=self.ann_threshold, sentences=sentences, titles=titles)

    def update_manifest(self, snapshot: Snapshot, fields: dict) -> Snapshot:
        """The same generation with these manifest fields replaced (the seeds/ stat snapshot, skipped files)."""
        manifest = {**snapshot.manifest, **fields}
        write_manifest(self.index_dir, manifest)
        return replace(snapshot, manifest=manifest)

    def remove_stale(self, keep: str | None) -> list[str]:
        return remove_stale(self.index_dir, keep)


def open_store(settings: Settings) -> FolderStore:
    """The store the settings name: the index folder (`faiss`) or a Milvus collection (`milvus`)."""
    if settings.store == "milvus":
        from .milvus import MilvusStore

        return MilvusStore.from_settings(settings)
    return FolderStore(settings.index, settings.ann_threshold)


def _passage_record(p: Passage, title: str) -> dict:
    return {"id": p.id, "doc": p.doc, "start": p.start, "end": p.end, "text": p.text, "heading": p.heading,
            "title": title}


def _read_passages(path: Path) -> tuple[tuple[Passage, ...], tuple[str, ...]]:
    passages, titles = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            passages.append(Passage(str(r["id"]), str(r["doc"]), int(r["start"]), int(r["end"]), str(r["text"]),
                                    str(r.get("heading", ""))))
            titles.append(str(r["title"]))
    return tuple(passages), tuple(titles)


def _read_sentences(folder: Path, passages: tuple[Passage, ...], dim: int) -> Sentences:
    """The sentence files, checked against the passages (ValueError when they do not fit)."""
    vectors = np.load(folder / "sentence_vectors.npy", mmap_mode="r", allow_pickle=False)
    spans = np.load(folder / "sentence_spans.npy", allow_pickle=False)
    rows = np.load(folder / "sentence_rows.npy", allow_pickle=False)
    if (vectors.dtype != np.float16 or vectors.ndim != 2 or (len(vectors) and vectors.shape[1] != dim)
            or spans.dtype != np.int32 or spans.shape != (len(vectors), 2)
            or rows.dtype != np.int64 or rows.shape != (len(passages) + 1,)):
        raise ValueError("sentence files do not match the passages")
    if rows[0] != 0 or rows[-1] != len(vectors) or np.any(np.diff(rows) < 0):
        raise ValueError("sentence rows out of order")
    lengths = np.repeat(np.array([len(p.text) for p in passages], dtype=np.int64), np.diff(rows))
    if len(spans) and (np.any(spans[:, 0] < 0) or np.any(spans[:, 1] <= spans[:, 0]) or np.any(spans[:, 1] > lengths)):
        raise ValueError("sentence spans outside their passages")
    return Sentences(vectors, spans, rows)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
