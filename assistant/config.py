"""Settings: one frozen dataclass, checked when constructed, with ASSISTANT_* environment overrides."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .embed import BACKENDS
from .errors import ConfigError

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf")
STORES = ("faiss", "milvus")


@dataclass(frozen=True)
class Settings:
    seeds: Path = Path("seeds")
    index: Path = Path("index")
    # the embedding model: "" = the packaged all-MiniLM-L6-v2; a sentence-transformers folder, or a model
    # name found in the Hugging Face cache ("BAAI/bge-small-en-v1.5"); nothing is downloaded (README)
    model: str = ""
    # what some models want before each text (part of the index fingerprint): e5 "query: " / "passage: ",
    # bge "Represent this sentence for searching relevant passages: " / ""
    query_prefix: str = ""
    passage_prefix: str = ""
    threads: int = 2  # torch and FAISS threads for builds (questions use embed.QUERY_THREADS = 1)
    batch_size: int = 32
    # embedding backend (part of the index fingerprint): "torch" (sentence-transformers as is),
    # "torch-bf16" (bfloat16 matmuls for batches: ~2x on CPUs with AMX/AVX512-BF16, vectors within 1e-4
    # cosine), "onnx" (the weights exported locally to ONNX: same vectors), "onnx-int8" (int8 MatMuls,
    # ~0.99 cosine). "auto" = torch-bf16 where the CPU has native bfloat16, else torch. bench/README.md.
    embed_backend: str = "auto"
    model_cache: str = ""  # where exported ONNX files go; "" = $XDG_CACHE_HOME/assistant/models
    # vector index: exact flat search below this many passages, HNSW (recall@10 >= 0.98) from it on
    ann_threshold: int = 20000
    # splitting (part of the index fingerprint)
    min_words: int = 60
    max_words: int = 120
    overlap_sentences: int = 1
    max_tokens: int = 256  # the model's window; a passage never exceeds it
    # retrieval
    k: int = 5
    candidates: int = 30  # dense top-n and BM25 top-n before fusion
    rescore: int = 12  # fused candidates rescored at sentence level
    rrf_k: int = 60
    reader: bool = True  # the answerer reads each candidate sentence with the question (assistant/reader/)
    # optional cross-encoder (assistant/rerank.py): "" = off; a sentence-transformers CrossEncoder folder or
    # a name on disk. It reorders the best `rerank_candidates` retrieved passages before the k are kept.
    reranker: str = ""
    rerank_candidates: int = 20
    # documents
    max_file_mb: float = 20.0
    auto_refresh: bool = True  # notice seeds/ changes before answering and rebuild
    max_question_chars: int = 2000
    # the optional generative answerer (assistant/generate.py): "" = none (the extractive answerer alone),
    # a local transformers folder, or the http(s):// base URL of an OpenAI-compatible API (Ollama:
    # http://localhost:11434/v1); its answer is verified like any other and falls back to the extractive one
    generator: str = ""
    generator_model: str = ""  # the model name sent to the endpoint ("llama3.2", "qwen2.5:3b-instruct")
    generator_key: str = field(default="", repr=False)  # ASSISTANT_GENERATOR_KEY; never logged or shown
    generator_timeout: float = 30.0  # seconds to connect, and to wait for each next piece of the answer
    generator_max_tokens: int = 400
    generator_context_chars: int = 6000  # the numbered passages sent with the question, at most
    # where the index lives (docs/scale.md): "faiss" = the index folder; "milvus" = a Milvus collection
    # at milvus_uri: a path ending in .db is Milvus Lite inside this process ("" = <index>/milvus.db),
    # http://host:19530 a Milvus standalone or cluster
    store: str = "faiss"
    milvus_uri: str = ""
    milvus_token: str = field(default="", repr=False)  # "user:password" or an API key (never printed)
    milvus_collection: str = "assistant"  # the alias queries use; generations are <name>_g<time>_<rand>
    # embed the passages of a build on Ray: "" = here, "local" = a Ray started here, else a cluster address
    ray: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", Path(self.seeds))
        object.__setattr__(self, "index", Path(self.index))
        checks = [
            (self.threads >= 1, "threads must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.embed_backend in BACKENDS, f"embed_backend must be one of {', '.join(BACKENDS)}"),
            (self.ann_threshold >= 1, "ann_threshold must be at least 1"),
            (1 <= self.min_words <= self.max_words, "need 1 <= min_words <= max_words"),
            (self.overlap_sentences >= 0, "overlap_sentences must be 0 or more"),
            (self.max_tokens >= 16, "max_tokens must be at least 16"),
            (self.k >= 1, "k must be at least 1"),
            (self.candidates >= 1, "candidates must be at least 1"),
            (self.rescore >= 1, "rescore must be at least 1"),
            (self.rrf_k >= 1, "rrf_k must be at least 1"),
            (self.max_file_mb > 0, "max_file_mb must be positive"),
            (self.max_question_chars >= 10, "max_question_chars must be at least 10"),
            (self.rerank_candidates >= 1, "rerank_candidates must be at least 1"),
            (self.generator_timeout > 0, "generator_timeout must be positive"),
            (self.generator_max_tokens >= 1, "generator_max_tokens must be at least 1"),
            (self.generator_context_chars >= 200, "generator_context_chars must be at least 200"),
            (self.store in STORES, f"store must be one of {', '.join(STORES)}"),
            (not self.milvus_uri or self.milvus_uri.endswith(".db") or "://" in self.milvus_uri,
             "milvus_uri must be a path ending in .db (Milvus Lite) or a server address like http://host:19530"),
            (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,180}", self.milvus_collection) is not None,
             "milvus_collection must start with a letter or _ and hold only letters, digits and _"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"Invalid setting: {message}.")
        _check_generator(self.generator, self.generator_model)
        if self.seeds.resolve() == self.index.resolve():
            raise ConfigError("seeds and index must be different folders.")

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then ASSISTANT_<FIELD> environment variables, then explicit overrides."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(f"ASSISTANT_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _parse(f.name, raw, type(getattr(cls(), f.name)))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)


def _check_generator(generator: str, model: str) -> None:
    if not generator.lower().startswith(("http://", "https://")):
        return
    from urllib.parse import urlsplit

    if not urlsplit(generator).hostname:
        raise ConfigError(f"Invalid setting: generator {generator!r} is not a URL (like http://localhost:11434/v1).")
    if not model:
        raise ConfigError("Invalid setting: a generator URL needs the model name to ask for: set "
                          "ASSISTANT_GENERATOR_MODEL (for Ollama, a name from `ollama list`).")


def _parse(name: str, raw: str, kind: type) -> object:
    try:
        if kind is bool:
            if raw.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if raw.strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind is Path:
            return Path(raw)
        return kind(raw)
    except ValueError:
        raise ConfigError(f"ASSISTANT_{name.upper()}={raw!r} is not a valid {kind.__name__}.") from None
