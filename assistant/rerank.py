"""Optional reranker: a sentence-transformers CrossEncoder that reads the question with each candidate
passage and reorders them (Settings.reranker, off by default). A folder or a model name found on disk;
nothing is downloaded (embed.model_path says what was tried when it is missing)."""

from __future__ import annotations

import threading
from dataclasses import replace
from functools import lru_cache

import numpy as np

from .embed import current_threads, model_path, set_threads
from .errors import ModelError
from .types import Hit


class Reranker:
    """Scores (question, passage) pairs with a CrossEncoder; the model loads on first use."""

    def __init__(self, model: str, batch_size: int = 16, max_length: int = 256) -> None:
        self.path, label = model_path(model, what="reranker", setting="ASSISTANT_RERANKER")
        self.name = label or self.path.name
        self.batch_size = batch_size
        self.max_length = max_length
        self._model = None
        self._lock = threading.Lock()

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                from sentence_transformers import CrossEncoder

                try:
                    self._model = CrossEncoder(str(self.path), device="cpu", max_length=self.max_length,
                                               local_files_only=True)
                except Exception as exc:
                    raise ModelError(f"Could not load the reranker from {self.path}: {exc}") from exc
        return self._model

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        """One score per text: higher means it matches the question better."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        model = self.model
        set_threads(current_threads())
        scores = model.predict([(question, t) for t in texts], batch_size=self.batch_size,
                               show_progress_bar=False, convert_to_numpy=True)
        scores = np.asarray(scores, dtype=np.float32)
        return scores if scores.ndim == 1 else scores[:, -1]  # a two-label model: the "relevant" logit

    def rerank(self, question: str, hits: list[Hit], k: int) -> list[Hit]:
        """The k hits the cross-encoder ranks best, best first (ties keep retrieval's order); each
        hit keeps its retrieval score (the answerer's thresholds are in those units), rank renumbered."""
        scores = self.score(question, [h.text for h in hits])
        order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), i))[:k]
        return [replace(hits[i], rank=n) for n, i in enumerate(order, start=1)]


@lru_cache(maxsize=2)
def shared_reranker(model: str) -> Reranker:
    """One reranker per process and model."""
    return Reranker(model)
