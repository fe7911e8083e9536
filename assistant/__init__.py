"""assistant: local, offline, citation-first question answering over a folder of documents.

    from assistant import Assistant
    a = Assistant(seeds="seeds", index="index")
    a.build()
    hits = a.retrieve("What did Merz say about Article 5?", k=5)

Importing this package is cheap: models and indexes load on first use.
"""

from __future__ import annotations

import os

# Offline by design: the model ships inside a Python package; nothing may contact a model hub.
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TRANSFORMERS_VERBOSITY": "error",
}.items():
    os.environ.setdefault(_name, _value)

from .config import Settings  # noqa: E402
from .engine import Assistant  # noqa: E402
from .errors import AssistantError  # noqa: E402
from .types import Answer, BuildReport, Document, Hit, Passage  # noqa: E402

__all__ = ["Assistant", "AssistantError", "Answer", "BuildReport", "Document", "Hit", "Passage", "Settings",
           "ask", "default", "retrieve"]

_default: Assistant | None = None


def default() -> Assistant:
    """The process-wide Assistant on ./seeds and ./index (ASSISTANT_* variables apply)."""
    global _default
    if _default is None:
        _default = Assistant()
    return _default


def retrieve(question: str, k: int | None = None) -> list[Hit]:
    """`Assistant().retrieve` on the default Assistant."""
    return default().retrieve(question, k)


def ask(question: str, history: list[dict] | None = None) -> Answer:
    """`Assistant().ask` on the default Assistant."""
    return default().ask(question, history)
