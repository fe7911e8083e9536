"""Optional generative answerers behind one interface: a causal LM from a local folder, or any
OpenAI-compatible chat-completions endpoint (Ollama, llama.cpp's llama-server, vLLM, LM Studio,
`transformers serve`). Both are prompted to answer only from the numbered passages; their output goes
through the same verification as the extractive answer, and the caller falls back to the extractive
answer when a generator fails, times out, is cancelled, or writes nothing the passages support.

A failure is a GeneratorError whose message says, in a user's words, what happened ("the model at
http://... did not answer in 30 s"); the key is never part of any message, log line or repr."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np

from .answer import claims, supported
from .errors import AssistantError, ModelError
from .search import VectorCache
from .types import Answer, Hit

SYSTEM = (
    "Answer the question using only the numbered passages. After every sentence put the number of the "
    "passage that supports it in square brackets, like [1]. If the passages do not contain the answer, "
    "say: The documents don't say."
)


class GeneratorError(AssistantError):
    """A generator failed, timed out or was cancelled; the message is shown to the user as the reason
    for the extractive fallback."""


class Generator(Protocol):
    label: str  # which answerer this is, for Answer.answerer and the web chat
    where: str  # "the model at http://..." / "the local model in ...", for messages

    def stream(self, question: str, hits: list[Hit], query: str = "",
               cancel: threading.Event | None = None) -> Iterator[str]: ...


def is_url(value: str | Path) -> bool:
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


def from_settings(settings) -> Generator | None:
    """The generator the settings name (`generator`: a folder or an http(s):// base URL), or None."""
    target = settings.generator
    if not target:
        return None
    if is_url(target):
        return EndpointGenerator(target, settings.generator_model, settings.generator_key,
                                 timeout=settings.generator_timeout, max_tokens=settings.generator_max_tokens)
    return LocalGenerator(target, threads=settings.threads, max_new_tokens=settings.generator_max_tokens)


def numbered(hits: list[Hit], context_chars: int) -> list[Hit]:
    """The passages the prompt holds: the first ones, in order, within `context_chars` (the first always,
    a passage being at most the embedder's window): the prompt's [n] is numbered(hits)[n-1], which is
    what verification checks [n] against."""
    kept: list[Hit] = []
    used = 0
    for hit in hits:
        if kept and used + len(hit.text) > context_chars:
            break
        kept.append(hit)
        used += len(hit.text)
    return kept


def tie_to_sentences(raw: Answer, cache: VectorCache | None) -> Answer:
    """The generator's answer with each marker [n] pointed at the sentence of passage n that supports
    its claim best: the exact span `answer.verify` then checks the claim against, and the one the chat
    highlights (as the extractive answerer cites). A claim is compared with one sentence, not a whole
    passage, so a faithful paraphrase of one sentence passes. When no sentence of the passage supports
    it, the marker keeps the whole passage; markers that point at no passage are dropped (verify then
    drops a claim left without one)."""
    citations: list[Hit] = []
    numbers_of: dict[tuple[str, int, int], int] = {}
    parts: list[str] = []
    for claim, numbers in claims(raw.text):
        markers = []
        for n in numbers:
            if not 1 <= n <= len(raw.citations):
                continue
            cited = _best_sentence(claim, raw.citations[n - 1], cache)
            key = (cited.doc, cited.start, cited.end)
            if key not in numbers_of:
                citations.append(cited)
                numbers_of[key] = len(citations)
            markers.append(f"[{numbers_of[key]}]")
        parts.append(" ".join([claim, *dict.fromkeys(markers)]))
    return replace(raw, text=" ".join(parts), citations=citations)


def _best_sentence(claim: str, hit: Hit, cache: VectorCache | None) -> Hit:
    spans = [(s, hit.text[s.start - hit.start : s.end - hit.start]) for s in hit.sentences
             if hit.start <= s.start < s.end <= hit.end]
    backing = [(s, text) for s, text in spans if supported(claim, text, cache)]
    if not backing:
        return hit
    if len(backing) > 1 and cache is not None:
        vectors = cache.encode([claim] + [text for _, text in backing])
        s, text = backing[int(np.argmax(vectors[1:] @ vectors[0]))]
    else:
        s, text = backing[0]
    return replace(hit, start=s.start, end=s.end, text=text, sentences=(s,))


def user_message(question: str, hits: list[Hit], query: str = "") -> str:
    """The numbered passages, the question, and (for a follow-up) the standalone question it stands for."""
    passages = "\n".join(f"[{i}] {' '.join(h.text.split())}" for i, h in enumerate(hits, start=1))
    text = f"Passages:\n{passages}\n\nQuestion: {question}"
    if query and query.strip() != question.strip():
        text += f"\n(This follow-up question is about: {query})"
    return text


# ---------------------------------------------------------------------------------------------------
# An OpenAI-compatible endpoint


class EndpointGenerator:
    """Chat completions streamed (server-sent events) from an OpenAI-compatible server.

    `timeout` bounds connecting and each wait for the next piece of the answer; `cancel` (a
    threading.Event) stops reading and closes the connection at the next piece."""

    def __init__(self, url: str, model: str, key: str = "", *, timeout: float = 30.0, max_tokens: int = 400) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.max_tokens = max_tokens
        self._key = key
        self.where = f"the model at {self.url}"
        self.label = f"generative: {model} at {self.url}"
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"EndpointGenerator({self.url!r}, model={self.model!r})"

    def client(self):
        with self._lock:
            if self._client is None:
                import httpx
                from openai import OpenAI

                # no retries: a server that is down or refuses the key is reported at once, and the
                # extractive answer shown; "none" is what local servers (Ollama, llama-server) accept
                self._client = OpenAI(base_url=self.url, api_key=self._key or "none", max_retries=0,
                                      timeout=httpx.Timeout(self.timeout))
        return self._client

    def prompt(self, question: str, hits: list[Hit], query: str = "") -> list[dict]:
        return [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": user_message(question, hits, query)}]

    def stream(self, question: str, hits: list[Hit], query: str = "",
               cancel: threading.Event | None = None) -> Iterator[str]:
        """Yield the model's text as it arrives. Raises GeneratorError with a user-facing reason."""
        import openai

        try:
            response = self.client().chat.completions.create(
                model=self.model, messages=self.prompt(question, hits, query), stream=True,
                max_tokens=self.max_tokens, temperature=0)
        except openai.APIStatusError as exc:
            raise GeneratorError(self._status_reason(exc.status_code, _body_text(exc))) from None
        except openai.APITimeoutError:
            raise GeneratorError(f"{self.where} did not answer in {self.timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise GeneratorError(f"{self.where} could not be reached ({_cause(exc)}): is the server running?"
                                 ) from None
        except openai.OpenAIError as exc:
            raise GeneratorError(f"{self.where} failed: {self._hide(str(exc))}") from None
        try:
            for chunk in _chunks(response, self):
                if cancel is not None and cancel.is_set():
                    raise GeneratorError("the question was replaced by a new one before the model finished")
                choice = chunk.choices[0] if chunk.choices else None
                piece = getattr(getattr(choice, "delta", None), "content", None) if choice else None
                if piece:
                    yield piece
        finally:
            response.close()

    def _status_reason(self, status: int, body: str) -> str:
        detail = f" ({self._hide(body)[:200]})" if body else ""
        if status in (401, 403):
            return (f"{self.where} refused the key (HTTP {status}){detail}: check ASSISTANT_GENERATOR_KEY")
        if status == 404:
            return (f"{self.where} has no model named {self.model!r} (HTTP 404){detail}: "
                    "check ASSISTANT_GENERATOR_MODEL")
        return f"{self.where} answered with an error (HTTP {status}){detail}"

    def _hide(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


def _chunks(response, generator: EndpointGenerator):
    """The stream's chunks, with read time-outs and dropped connections as GeneratorErrors."""
    import httpx
    import openai

    try:
        yield from response
    except (httpx.TimeoutException, openai.APITimeoutError):
        raise GeneratorError(f"{generator.where} did not answer in {generator.timeout:g} s") from None
    except (httpx.HTTPError, openai.APIError) as exc:
        raise GeneratorError(f"{generator.where} stopped in the middle of its answer ({_cause(exc)})") from None


def _body_text(exc) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        body = body.get("message") or body.get("error") or body
        if isinstance(body, dict):
            body = body.get("message") or str(body)
    return " ".join(str(body).split()) if body else ""


def _cause(exc: BaseException) -> str:
    """The innermost reason of a connection failure, e.g. "connection refused"."""
    inner = exc
    while inner.__cause__ is not None or inner.__context__ is not None:
        inner = inner.__cause__ or inner.__context__
    text = str(inner) or inner.__class__.__name__
    return text.split("] ", 1)[-1].lower()[:120]


# ---------------------------------------------------------------------------------------------------
# A local transformers folder


class LocalGenerator:
    """A local transformers causal LM, loaded on first use."""

    def __init__(self, path: str | Path, threads: int = 2, max_new_tokens: int = 160) -> None:
        self.path = Path(path)
        if not (self.path / "config.json").exists():
            raise ModelError(f"{self.path} is not a transformers model folder (no config.json).")
        self.threads = threads
        self.max_new_tokens = max_new_tokens
        self.where = f"the local model in {self.path}"
        self.label = f"generative: {self.path.name} (local)"
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

    def prompt(self, question: str, hits: list[Hit], query: str = "") -> str:
        user = user_message(question, hits, query)
        tok = self._tokenizer
        if getattr(tok, "chat_template", None):
            messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return f"{SYSTEM}\n\n{user}\nAnswer:"

    def stream(self, question: str, hits: list[Hit], query: str = "",
               cancel: threading.Event | None = None) -> Iterator[str]:
        """Yield the model's text as it is generated; `cancel` stops generation at the next token."""
        self._load()
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs) -> bool:
                return cancel is not None and cancel.is_set()

        text = self.prompt(question, hits, query)
        inputs = self._tokenizer(text, return_tensors="pt")
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self._model.generate(**inputs, streamer=streamer, max_new_tokens=self.max_new_tokens,
                                     do_sample=False, pad_token_id=self._tokenizer.pad_token_id
                                     or self._tokenizer.eos_token_id,
                                     stopping_criteria=StoppingCriteriaList([Cancelled()]))
            except BaseException as exc:  # noqa: BLE001 - reported to the caller after the stream ends
                errors.append(exc)
                streamer.end()

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        yield from streamer
        worker.join()
        if errors:
            raise GeneratorError(f"{self.where} failed: {errors[0]}")
        if cancel is not None and cancel.is_set():
            raise GeneratorError("the question was replaced by a new one before the model finished")
