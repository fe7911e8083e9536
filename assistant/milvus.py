"""The Milvus store: the index in Milvus collections, behind the same interface as store.FolderStore.

    <name>                  an alias: the generation queries use (switched in one call at the end of a build)
    <name>_g<time>_<rand>   one generation's passages, row i <-> passage i:
                              row (primary key), pid, doc, start, end, text, heading, title,
                              sentences (how many), vector (dense, FLAT or HNSW by size, inner product),
                              terms (the passage's search terms, analysed by Milvus) -> sparse (BM25 Function)
    <name>_g..._s           its sentences: sid = row * MAX_SENTENCES + j, start, end (relative to the passage),
                              vector (pooled from the passage's own forward pass, as in the folder store)
    <name>_meta             per generation: its manifest (documents, fingerprint, seeds/ stat) and the
                              passages' term frequencies (for IDF), as JSON in chunks

`milvus_uri` ending in .db is Milvus Lite (PyPI milvus-lite) inside this process; http://host:19530 a
Milvus standalone or cluster. The client code is the same (pymilvus.MilvusClient).

Why the sentence vectors live in Milvus, in a collection of their own: the second stage needs the pooled
vectors of the ~12 candidates' sentences for every question; a query host that only reaches Milvus must
get them from there (a local sidecar would tie the index to one machine again), a passage may have more
sentences than a fixed-size field holds, and a primary-key lookup of ~60 rows is one cheap request.

Why the terms are ours: Milvus Lite's analyzers are `standard` and `jieba` only (a `stemmer` filter is
accepted and does nothing), so the field holds lexical.terms() of the passage (stopwords out, Snowball
stems), each written as the hex of its UTF-8 so the standard tokenizer keeps it whole ("u.s" stays one
term). Milvus's BM25 Function (k1 1.5, b 0.75, as bm25s) then ranks the same terms the folder store's BM25
ranks, and search.fuse fuses the dense and BM25 rankings client-side exactly as for the folder store
(Milvus's own rankers have no weighted reciprocal rank).

A build writes a new generation (both collections, flushed, then its meta rows), and only then switches
the alias: a killed build leaves the previous generation serving, and its half-written collections are
dropped by the next build. Builds are serialised by the lock file in the index folder (one machine);
builds from several machines against one cluster are not.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import DamagedIndexError, IndexBusyError, StoreUnavailableError
from .lexical import TermWeights, terms
from .store import FORMAT_VERSION, Sentences, build_lock, check_manifest
from .types import Passage

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger(__name__)

MAX_SENTENCES = 4096  # sentences per passage (a passage is at most 256 tokens): sid = row * this + j
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 32, 80, 256  # as the folder store (store.py)
BM25_K1, BM25_B = 1.5, 0.75  # bm25s' defaults
TEXT_MAX = 65535  # Milvus's VARCHAR limit (bytes)
META_CHUNK = 16000  # characters per meta row (at most 4 bytes each in UTF-8)
INSERT_BATCH = 2000  # rows per insert request
FETCH_BATCH = 4000  # primary keys per query
PASSAGE_FIELDS = ["row", "pid", "doc", "start", "end", "text", "heading", "title", "sentences"]
CONNECT_TIMEOUT = 10.0  # seconds to reach a server
NOISY_LOGGERS = ("pymilvus", "milvus_lite", "grpc._server")


def encode_terms(words: list[str]) -> str:
    """Search terms as the BM25 field holds them: hex of each term's UTF-8, space separated."""
    return " ".join(w.encode("utf-8").hex() for w in words)


class MilvusLexicon(TermWeights):
    """BM25 top-n by Milvus full-text search; IDF (for term overlap) from the generation's term counts."""

    def __init__(self, client, collection: str, df: dict[str, int], n: int) -> None:
        super().__init__(df, n)
        self._client = client
        self._collection = collection

    def top(self, query: str, n: int) -> list[tuple[int, float]]:
        """The n best passages for the query as (row, BM25 score), best first; only rows that match a term."""
        wanted = [t for t in terms(query) if t in self._idf]  # a repeated term counts twice, as in bm25s
        if not wanted or n < 1:
            return []
        with _errors(self._collection):
            found = self._client.search(self._collection, data=[encode_terms(wanted)], anns_field="sparse", limit=n,
                                        search_params={"metric_type": "BM25"}, output_fields=["row"])
        # Milvus Lite returns BM25 scores negated (best first all the same), and with the (k1 + 1) factor
        # of the textbook formula that bm25s leaves out: the same scores as the folder store's
        return [(int(hit["row"]), abs(float(hit["distance"])) / (BM25_K1 + 1)) for hit in found[0]]


@dataclass(frozen=True)
class MilvusSnapshot:
    """One generation in Milvus: the passages in memory, vectors and BM25 in Milvus."""

    generation: str
    passages: tuple[Passage, ...]
    titles: tuple[str, ...]
    manifest: dict = field(repr=False)
    lexicon: MilvusLexicon = field(repr=False)
    sentence_rows: np.ndarray = field(repr=False)  # passage i's sentences are sentence_rows[i]:sentence_rows[i+1]
    client: object = field(repr=False)
    dim: int = 384

    @property
    def documents(self) -> dict[str, dict]:
        return self.manifest.get("documents", {})

    @property
    def sentence_collection(self) -> str:
        return f"{self.generation}_s"

    def dense(self, query_vector: np.ndarray, n: int) -> list[tuple[int, float]]:
        n = min(n, len(self.passages))
        if n == 0:
            return []
        with _errors(self.generation):
            found = self.client.search(self.generation, data=[np.asarray(query_vector, np.float32).tolist()],
                                       anns_field="vector", limit=n, output_fields=["row"],
                                       search_params={"metric_type": "IP", "params": {"ef": max(HNSW_EF_SEARCH, n)}})
        return [(int(hit["row"]), float(hit["distance"])) for hit in found[0]]

    def passage_vectors(self, rows: list[int]) -> np.ndarray:
        got = self._fetch(self.generation, "row", list(dict.fromkeys(rows)), ["vector"])
        out = np.zeros((len(rows), self.dim), np.float32)
        for i, row in enumerate(rows):
            out[i] = got[row]["vector"]
        return out

    def sentence_spans(self, rows: list[int]) -> list[np.ndarray]:
        return self._sentences(rows, with_vectors=False)[0]

    def sentence_vectors(self, rows: list[int]) -> tuple[list[np.ndarray], np.ndarray]:
        return self._sentences(rows, with_vectors=True)

    def _sentences(self, rows: list[int], with_vectors: bool) -> tuple[list[np.ndarray], np.ndarray]:
        counts = [int(self.sentence_rows[row + 1] - self.sentence_rows[row]) for row in rows]
        sids = [row * MAX_SENTENCES + j for row, c in zip(rows, counts) for j in range(c)]
        fields = ["start", "end", "vector"] if with_vectors else ["start", "end"]
        got = self._fetch(self.sentence_collection, "sid", list(dict.fromkeys(sids)), fields)
        vectors = np.zeros((len(sids) if with_vectors else 0, self.dim), np.float32)
        spans = np.zeros((len(sids), 2), np.int32)
        for i, sid in enumerate(sids):
            r = got[sid]
            spans[i] = (r["start"], r["end"])
            if with_vectors:
                vectors[i] = r["vector"]
        bounds = np.cumsum([0, *counts])
        return [spans[a:b] for a, b in itertools.pairwise(bounds)], vectors

    def _fetch(self, collection: str, key: str, ids: list[int], fields: list[str]) -> dict[int, dict]:
        out: dict[int, dict] = {}
        with _errors(collection):
            for i in range(0, len(ids), FETCH_BATCH):
                for r in self.client.query(collection, ids=ids[i : i + FETCH_BATCH], output_fields=[key, *fields]):
                    out[int(r[key])] = r
        missing = set(ids) - out.keys()
        if missing:
            raise DamagedIndexError(f"The Milvus collection {collection} lacks {len(missing)} of its rows; "
                                    "the index will be rebuilt.")
        return out


class MilvusStore:
    """The index in Milvus: the store interface of store.FolderStore (lock, read_manifest, load, save,
    update_manifest, remove_stale) over the collections described at the top of this module."""

    def __init__(self, uri: str, token: str = "", name: str = "assistant", ann_threshold: int = 20000,
                 lock_dir: Path = Path("index")) -> None:
        self.uri = uri
        self.token = token
        self.name = name
        self.ann_threshold = ann_threshold
        self.lock_dir = Path(lock_dir)
        self._replaced: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> MilvusStore:
        uri = settings.milvus_uri or str(Path(settings.index) / "milvus.db")
        return cls(uri, settings.milvus_token, settings.milvus_collection, settings.ann_threshold, settings.index)

    @property
    def lite(self) -> bool:
        return self.uri.endswith(".db")

    @property
    def meta(self) -> str:
        return f"{self.name}_meta"

    # -- the store interface -------------------------------------------------------------------------

    def lock(self, timeout: float = 600.0) -> contextlib.AbstractContextManager[None]:
        return build_lock(self.lock_dir, timeout)

    def read_manifest(self) -> dict | None:
        client = self.client()
        generation = self._current(client)
        if generation is None:
            return None
        manifest = self._read_meta(client, generation, "manifest")
        where = f"Milvus collection {generation} at {self.uri}"
        if manifest is None:
            raise DamagedIndexError(f"The {where} has no manifest; the index will be rebuilt.")
        return check_manifest(manifest, where)

    def load(self, manifest: dict | None = None) -> MilvusSnapshot | None:
        manifest = self.read_manifest() if manifest is None else manifest
        if manifest is None:
            return None
        client = self.client()
        generation = manifest["generation"]
        counts = self._read_meta(client, generation, "terms")
        files = manifest["files"]
        if counts is None or not isinstance(files.get("passages"), int):
            raise DamagedIndexError(f"The Milvus generation {generation} is incomplete; the index will be rebuilt.")
        with _errors(generation):
            for collection in (generation, f"{generation}_s"):
                client.load_collection(collection)  # a reopened collection is searched only once loaded
            records = []
            for i in range(0, files["passages"], FETCH_BATCH):
                ids = list(range(i, min(i + FETCH_BATCH, files["passages"])))
                records.extend(client.query(generation, ids=ids, output_fields=PASSAGE_FIELDS))
        records.sort(key=lambda r: r["row"])
        if len(records) != files["passages"] or any(r["row"] != i for i, r in enumerate(records)):
            raise DamagedIndexError(f"The Milvus collection {generation} does not hold the passages its manifest "
                                    "names; the index will be rebuilt.")
        passages = tuple(Passage(r["pid"], r["doc"], int(r["start"]), int(r["end"]), r["text"], r["heading"])
                         for r in records)
        titles = tuple(r["title"] for r in records)
        rows = np.zeros(len(records) + 1, np.int64)
        np.cumsum([int(r["sentences"]) for r in records], out=rows[1:])
        lexicon = MilvusLexicon(client, generation, counts["df"], counts["n"])
        return MilvusSnapshot(generation, passages, titles, manifest, lexicon, rows, client, manifest["settings"]["dim"])

    def save(self, passages: list[Passage], vectors: np.ndarray, texts: list[str], manifest_fields: dict,
             before_commit=None, sentences: Sentences | None = None, titles: list[str] | None = None
             ) -> MilvusSnapshot:
        """Write a new generation and switch the alias to it. Returns it as a MilvusSnapshot."""
        dim = int(vectors.shape[1])
        titles = list(titles) if titles is not None else [""] * len(passages)
        if sentences is None or len(sentences.rows) != len(passages) + 1 or len(titles) != len(passages):
            raise ValueError("sentences and titles must cover every passage")
        counts = np.diff(sentences.rows)
        if len(counts) and counts.max() > MAX_SENTENCES:
            raise ValueError(f"a passage has more than {MAX_SENTENCES} sentences")
        # rounded to float16 as the folder store keeps them, so both stores score passages alike
        vectors = np.asarray(vectors, np.float32).astype(np.float16).astype(np.float32)
        client = self.client()
        generation = f"{self.name}_g{time.strftime('%Y%m%d_%H%M%S')}_{secrets.token_hex(3)}"
        try:
            with _errors(generation):
                df: dict[str, int] = {}
                words = [terms(t) for t in texts]
                for ws in words:
                    for w in set(ws):
                        df[w] = df.get(w, 0) + 1
                self._create_passages(client, generation, dim, len(passages))
                for i in range(0, len(passages), INSERT_BATCH):
                    client.insert(generation, [
                        {"row": row, "pid": p.id, "doc": p.doc, "start": p.start, "end": p.end, "text": p.text,
                         "heading": p.heading, "title": titles[row], "sentences": int(counts[row]),
                         "terms": encode_terms(words[row]), "vector": vectors[row].tolist()}
                        for row, p in enumerate(passages[i : i + INSERT_BATCH], start=i)])
                self._create_sentences(client, f"{generation}_s", dim)
                owner = np.repeat(np.arange(len(passages), dtype=np.int64), counts)
                sids = owner * MAX_SENTENCES + (np.arange(len(owner)) - sentences.rows[owner])
                for i in range(0, len(owner), INSERT_BATCH):
                    part = slice(i, i + INSERT_BATCH)
                    client.insert(f"{generation}_s", [
                        {"sid": int(sid), "start": int(a), "end": int(b), "vector": v.tolist()}
                        for sid, (a, b), v in zip(sids[part], sentences.spans[part],
                                                   np.asarray(sentences.vectors[part], np.float32))])
                client.flush(generation)  # unflushed rows are searched far slower (Milvus Lite: 50-100x)
                client.flush(f"{generation}_s")
                manifest = {"format": FORMAT_VERSION, **manifest_fields, "generation": generation,
                            "files": {"passages": len(passages), "sentences": len(owner), "uri": self.uri}}
                self._write_meta(client, generation, "manifest", manifest)
                self._write_meta(client, generation, "terms", {"n": len(passages), "df": df})
            if before_commit is not None:
                before_commit()
            with _errors(self.name):
                self._replaced = self._current(client)
                if self._replaced is None:
                    client.create_alias(generation, self.name)
                else:
                    client.alter_alias(generation, self.name)  # the switch: queries now use the new generation
        except BaseException:
            with contextlib.suppress(Exception):
                self._drop(client, generation)
            raise
        rows = np.asarray(sentences.rows, np.int64)
        lexicon = MilvusLexicon(client, generation, df, len(passages))
        return MilvusSnapshot(generation, tuple(passages), tuple(titles), manifest, lexicon, rows, client, dim)

    def update_manifest(self, snapshot: MilvusSnapshot, fields: dict) -> MilvusSnapshot:
        """The same generation with these manifest fields replaced (written as a new revision)."""
        from dataclasses import replace

        manifest = {**snapshot.manifest, **fields}
        with _errors(self.meta):
            self._write_meta(self.client(), snapshot.generation, "manifest", manifest)
        return replace(snapshot, manifest=manifest)

    def remove_stale(self, keep: str | None) -> list[str]:
        """Drop every generation but `keep` (old ones, and the leftovers of killed builds). Call under the lock."""
        client = self.client()
        removed = []
        with _errors(self.name):
            for name in client.list_collections():
                ours = re.fullmatch(rf"({re.escape(self.name)}_g\d{{8}}_\d{{6}}_[0-9a-f]{{6}})(_s)?", name)
                if ours and ours.group(1) != keep and ours.group(1) not in removed:
                    self._drop(client, ours.group(1))  # its passages and its sentences
                    removed.append(ours.group(1))
            # meta rows of generations whose collections are gone (a build killed between the two)
            stale = {r["generation"] for r in client.query(self.meta, filter="revision >= 0", output_fields=["generation"])}
            for generation in stale - {keep}:
                client.delete(self.meta, filter=f'generation == "{generation}"')
        return removed

    # -- Milvus ----------------------------------------------------------------------------------------

    def client(self):
        """A client for the uri (one per uri and token in this process), with errors a user can act on."""
        try:
            from pymilvus import MilvusClient  # noqa: F401
        except ImportError:
            raise StoreUnavailableError("store=milvus needs pymilvus and milvus-lite: "
                                        "pip install -e '.[milvus]'.") from None
        key = (self.uri, self.token)
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._connect()
            if (key, self.name) not in _metas:  # one meta collection per corpus name on this Milvus
                self._ensure_meta(client)
                _metas.add((key, self.name))
        return client

    def _connect(self):
        from pymilvus import MilvusClient

        if not log.isEnabledFor(logging.DEBUG):
            # pymilvus and Milvus Lite log every failed call with a traceback (and Lite's in-process gRPC
            # server each method it lacks): the errors raised here say what happened, once
            for name in NOISY_LOGGERS:
                logging.getLogger(name).setLevel(logging.CRITICAL)

        if self.lite:
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            client = MilvusClient(uri=self.uri, token=self.token, timeout=CONNECT_TIMEOUT)
            client.list_collections()
        except Exception as exc:  # noqa: BLE001 - pymilvus raises several types for one cause; mapped below
            raise self._unavailable(exc) from None
        return client

    def _unavailable(self, exc: Exception) -> Exception:
        text = str(exc)
        if self.lite:
            holder = Path(self.uri) / "LOCK"
            if "Open local milvus failed" in text or _locked(holder):
                return IndexBusyError(
                    f"{self.uri} is open in another process (Milvus Lite lets one process open a .db): stop "
                    f"that process, or serve the .db to several processes with `milvus-lite server --data-dir "
                    f"{self.uri} --port 19530` and set ASSISTANT_MILVUS_URI=http://127.0.0.1:19530.")
            return StoreUnavailableError(f"Milvus Lite could not open {self.uri} ({text}): check the path and "
                                         "that it is writable.")
        causes = []  # pymilvus keeps the server's answer (a gRPC status) as the cause of "Fail connecting"
        cause: BaseException | None = exc
        while cause is not None and len(causes) < 5:
            causes.append(f"{cause} {getattr(cause, 'code', lambda: '')() if callable(getattr(cause, 'code', None)) else ''}")
            cause = cause.__cause__
        said = " ".join(causes)
        if "UNAUTHENTICATED" in said or "auth" in said.lower() or "credential" in said.lower():
            return StoreUnavailableError(
                f"The Milvus server at {self.uri} refused the credentials: set ASSISTANT_MILVUS_TOKEN to "
                "'user:password' or an API key the server accepts.")
        return StoreUnavailableError(
            f"Cannot reach a Milvus server at {self.uri} ({text.splitlines()[0][:200] if text else type(exc).__name__}): "
            "start it (docs/scale.md has a compose file), or fix ASSISTANT_MILVUS_URI.")

    def _current(self, client) -> str | None:
        """The generation the alias names, or None before the first build."""
        with _errors(self.name):
            if self.name not in client.list_aliases().get("aliases", []):
                return None
            return client.describe_alias(self.name)["collection_name"]

    def _create_passages(self, client, name: str, dim: int, size: int) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("pid", DataType.VARCHAR, max_length=128)
        schema.add_field("doc", DataType.VARCHAR, max_length=TEXT_MAX)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX)
        schema.add_field("heading", DataType.VARCHAR, max_length=TEXT_MAX)
        schema.add_field("title", DataType.VARCHAR, max_length=TEXT_MAX)
        schema.add_field("sentences", DataType.INT64)
        schema.add_field("terms", DataType.VARCHAR, max_length=TEXT_MAX, enable_analyzer=True,
                         analyzer_params={"tokenizer": "standard"})
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["terms"],
                                     output_field_names=["sparse"]))
        index = client.prepare_index_params()
        if size >= self.ann_threshold:
            index.add_index("vector", index_type="HNSW", metric_type="IP",
                            params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION})
        else:
            index.add_index("vector", index_type="FLAT", metric_type="IP")
        index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                        params={"bm25_k1": BM25_K1, "bm25_b": BM25_B})
        client.create_collection(name, schema=schema, index_params=index)

    def _create_sentences(self, client, name: str, dim: int) -> None:
        from pymilvus import DataType, MilvusClient

        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("sid", DataType.INT64, is_primary=True)
        schema.add_field("start", DataType.INT32)
        schema.add_field("end", DataType.INT32)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="IP")  # fetched by key, never searched
        client.create_collection(name, schema=schema, index_params=index)

    def _ensure_meta(self, client) -> None:
        from pymilvus import DataType, MilvusClient

        with _errors(self.meta):
            if client.has_collection(self.meta):
                client.load_collection(self.meta)
                return
            schema = MilvusClient.create_schema(auto_id=False)
            schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
            schema.add_field("generation", DataType.VARCHAR, max_length=256)
            schema.add_field("part", DataType.VARCHAR, max_length=32)
            schema.add_field("revision", DataType.INT64)
            schema.add_field("chunk", DataType.INT64)
            schema.add_field("chunks", DataType.INT64)
            schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX)
            schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector in every collection
            index = client.prepare_index_params()
            index.add_index("unused", index_type="FLAT", metric_type="L2")
            client.create_collection(self.meta, schema=schema, index_params=index)

    def _write_meta(self, client, generation: str, part: str, value: dict) -> None:
        """Write `value` as a new revision of (generation, part); a reader takes the newest complete one."""
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        chunks = [text[i : i + META_CHUNK] for i in range(0, len(text), META_CHUNK)] or [""]
        revision = time.time_ns()
        for i in range(0, len(chunks), 64):
            client.insert(self.meta, [
                {"key": f"{generation}/{part}/{revision}/{j}", "generation": generation, "part": part,
                 "revision": revision, "chunk": j, "chunks": len(chunks), "text": chunk, "unused": [0.0, 0.0]}
                for j, chunk in enumerate(chunks[i : i + 64], start=i)])
        client.flush(self.meta)
        # older revisions of the same part are no longer read
        client.delete(self.meta, filter=f'generation == "{generation}" and part == "{part}" and revision < {revision}')

    def _read_meta(self, client, generation: str, part: str) -> dict | None:
        with _errors(self.meta):
            rows = client.query(self.meta, filter=f'generation == "{generation}" and part == "{part}"',
                                output_fields=["revision", "chunk", "chunks", "text"])
        revisions: dict[int, list[dict]] = {}
        for r in rows:
            revisions.setdefault(int(r["revision"]), []).append(r)
        for revision in sorted(revisions, reverse=True):
            parts = sorted(revisions[revision], key=lambda r: r["chunk"])
            if len(parts) == parts[0]["chunks"] and [r["chunk"] for r in parts] == list(range(len(parts))):
                try:
                    return json.loads("".join(r["text"] for r in parts))
                except ValueError:
                    break
        return None

    def _drop(self, client, generation: str) -> None:
        for name in (generation, f"{generation}_s"):
            if client.has_collection(name):
                client.drop_collection(name)
        client.delete(self.meta, filter=f'generation == "{generation}"')


_clients: dict[tuple[str, str], object] = {}
_metas: set[tuple[tuple[str, str], str]] = set()
_clients_lock = threading.Lock()


def _locked(path: Path) -> bool:
    """Whether another process holds Milvus Lite's lock on this .db."""
    import fcntl

    try:
        with open(path, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False


@contextlib.contextmanager
def _errors(collection: str):
    """Milvus failures during a request as errors a user can act on."""
    from pymilvus.exceptions import MilvusException

    try:
        yield
    except MilvusException as exc:
        text = str(exc)
        if "not exist" in text.lower() or "not found" in text.lower():
            raise DamagedIndexError(f"The Milvus collection {collection} is gone (dropped by a newer build or by "
                                    "hand); the index will be reloaded or rebuilt.") from None
        if "unavailable" in text.lower() or "connect" in text.lower():
            raise StoreUnavailableError(f"Lost the Milvus server while using {collection} ({text[:200]}): check "
                                        "that it is running, then try again.") from None
        raise
