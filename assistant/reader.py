"""The reader: a small cross-encoder that scores how well a sentence answers a question.

It is the packaged all-MiniLM-L6-v2 with its top layer(s) replaced by fine-tuned ones and a linear
head over the mean-pooled last hidden state (eval/train_reader.py). Only those parameters ship, in
assistant/reader/ (float16, a few MB); reader.json names the base weights' sha256, so a different base
model is detected instead of silently giving wrong scores.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from .embed import current_threads, native_bf16, packaged_model_path, set_threads, torch_autocast_bf16
from .errors import ModelError

FOLDER = Path(__file__).with_name("reader")
log = logging.getLogger(__name__)


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes (the reader records its base weights' so a mismatch is caught)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Reader:
    """Scores (question, sentence) pairs; the model loads on first use, once per instance."""

    def __init__(self, folder: Path = FOLDER, base: Path | None = None, batch_size: int = 32,
                 bf16: bool | None = None) -> None:
        self.folder = Path(folder)
        # bfloat16 autocast, as trained: 2.3x faster where the CPU multiplies bfloat16 in hardware (AMX,
        # AVX512-BF16), same held-out top-1; elsewhere it is emulated, and 12 sentences took 1.5-3.6 s
        # instead of 0.2 s in float32 (AVX2 only, 2026-12-04). None: bfloat16 only where it is native.
        self.bf16 = native_bf16() if bf16 is None else bf16
        self.base = Path(base) if base else packaged_model_path()
        self.batch_size = batch_size
        try:
            self.meta = json.loads((self.folder / "reader.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"The reader's files are missing or unreadable in {self.folder}: {exc}") from exc
        if not (self.folder / "reader.safetensors").exists():
            raise ModelError(f"{self.folder / 'reader.safetensors'} is missing.")
        base_file = self.base / self.meta["base_file"]
        if not base_file.exists() or file_sha256(base_file) != self.meta["base_sha256"]:
            raise ModelError(f"The reader was trained on other base weights than {base_file}.")
        self.max_length = int(self.meta["max_length"])
        self._parts = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._parts is None:
                import torch
                from safetensors.torch import load_file
                from transformers import AutoModel, AutoTokenizer

                tok = AutoTokenizer.from_pretrained(str(self.base))
                model = AutoModel.from_pretrained(str(self.base)).eval()
                shipped = {k: v.float() for k, v in load_file(str(self.folder / "reader.safetensors")).items()}
                head = torch.nn.Linear(model.config.hidden_size, 1)
                own = model.state_dict()
                if "head.weight" not in shipped or "head.bias" not in shipped:
                    raise ModelError(f"{self.folder / 'reader.safetensors'} has no head.")
                head.load_state_dict({"weight": shipped.pop("head.weight"), "bias": shipped.pop("head.bias")})
                if not shipped or any(k not in own or own[k].shape != v.shape for k, v in shipped.items()):
                    raise ModelError(f"{self.folder / 'reader.safetensors'} does not fit the base model.")
                model.load_state_dict(shipped, strict=False)
                self._parts = (tok, model, head.eval())
        return self._parts

    def score(self, question: str, sentences: list[str]) -> np.ndarray:
        """One float32 logit per sentence: higher means it answers the question better."""
        if not sentences:
            return np.zeros(0, dtype=np.float32)
        import torch

        tok, model, head = self._load()
        set_threads(current_threads())
        out = np.empty(len(sentences), dtype=np.float32)
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))  # less padding
        fast = torch_autocast_bf16(self.bf16)
        with torch.no_grad(), fast:
            for b in range(0, len(order), self.batch_size):
                idx = order[b: b + self.batch_size]
                enc = tok([question] * len(idx), [sentences[i] for i in idx], truncation=True,
                          max_length=self.max_length, padding=True, return_tensors="pt")
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1)
                out[idx] = head(pooled).squeeze(-1).float().numpy()
        return out


@lru_cache(maxsize=1)
def shared_reader() -> Reader | None:
    """The shipped reader, one per process; None (logged once) when its files are missing or were
    trained on other base weights."""
    try:
        return Reader()
    except ModelError as exc:
        log.warning("reader disabled: %s", exc)
        return None
