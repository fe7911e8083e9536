"""Optional generative answerer: a causal LM from a local folder, prompted to answer only from the
numbered passages. Its output goes through the same verification as the extractive answer; the
caller falls back to the extractive answer when nothing it wrote is supported."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from .errors import ModelError
from .types import Hit

SYSTEM = (
    "Answer the question using only the numbered passages. After every sentence put the number of the "
    "passage that supports it in square brackets, like [1]. If the passages do not contain the answer, "
    "say: The documents don't say."
)


class Generator:
    """A local transformers causal LM, loaded on first use."""

    def __init__(self, path: str | Path, threads: int = 2, max_new_tokens: int = 160) -> None:
        self.path = Path(path)
        if not (self.path / "config.json").exists():
            raise ModelError(f"{self.path} is not a transformers model folder (no config.json).")
        self.threads = threads
        self.max_new_tokens = max_new_tokens
        self._model = None
        self._tokenizer = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            torch.set_num_threads(self.threads)
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(str(self.path), local_files_only=True)
                self._model = AutoModelForCausalLM.from_pretrained(str(self.path), local_files_only=True)
            except Exception as exc:
                raise ModelError(f"Could not load the generator from {self.path}: {exc}") from exc
            self._model.eval()

    def prompt(self, question: str, hits: list[Hit]) -> str:
        passages = "\n".join(f"[{i}] {h.text}" for i, h in enumerate(hits, start=1))
        user = f"Passages:\n{passages}\n\nQuestion: {question}"
        tok = self._tokenizer
        if getattr(tok, "chat_template", None):
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return f"{SYSTEM}\n\n{user}\nAnswer:"

    def stream(self, question: str, hits: list[Hit]) -> Iterator[str]:
        """Yield the model's text as it is generated."""
        self._load()
        from transformers import TextIteratorStreamer

        text = self.prompt(question, hits)
        inputs = self._tokenizer(text, return_tensors="pt")
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self._model.generate(**inputs, streamer=streamer, max_new_tokens=self.max_new_tokens,
                                     do_sample=False, pad_token_id=self._tokenizer.pad_token_id
                                     or self._tokenizer.eos_token_id)
            except BaseException as exc:  # reported to the caller after the stream ends
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        yield from streamer
        worker.join()
        if errors:
            raise ModelError(f"The generator failed: {errors[0]}")
