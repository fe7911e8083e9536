"""Shared fixtures: small temporary seed folders, an Assistant on the hashing embedder, and one
Assistant on the real packaged model (built once per session)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import assistant  # noqa: F401  (sets the offline environment variables before anything loads a model)
from assistant import Assistant, Settings
from assistant.embed import HashingEmbedder

REPO = Path(__file__).resolve().parent.parent
SEED_ARTICLE = REPO / "seeds" / "000_a28882b516aafde7.txt"
EVAL_SET = REPO / "eval" / "seed.jsonl"

# Small documents with the characters that break naive code: curly quotes, em dashes, accents, emoji,
# CRLF newlines, markdown headings, abbreviations.
DOCS: dict[str, str | bytes] = {
    "solar.txt": (
        "Solar panels on the roof of the town hall produce 40 kilowatts on a sunny day. "
        "The council installed them in 2021 after a vote of 7 to 2. "
        "“It was the cheapest way to cut our bills,” Mayor Ana Peña said. "
        "The panels are cleaned twice a year — in April and in October.\n"
        "Maintenance costs about €1,200 a year, which the U.S. manufacturer partly covers. "
        "Residents can see the live output on a screen in the lobby 🌞.\n"
    ),
    "bakery.md": (
        "# The bakery\n"
        "The bakery on Rue Lépine opens at six o’clock every morning except Sunday. "
        "Its sourdough is baked in a wood-fired oven built in 1932.\n"
        "\n"
        "## Prices\n"
        "A croissant costs €1.40 and a baguette costs €1.10. "
        "Prices rose by ten cents in January because flour became more expensive.\n"
    ),
    # CRLF newlines on purpose: offsets must still match Path.read_text().
    "notes/trains.txt": (
        "Night trains\r\n"
        "The night train from Vienna to Zürich leaves at 21:40 and arrives at 07:50.\r\n"
        "Sleeper cabins have three beds; couchettes have six. Dr. Novák, a frequent traveller, "
        "calls it “the calmest way to cross the Alps” — and books months ahead.\r\n"
    ).encode(),
}


def write_docs(folder: Path, docs: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in docs.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(content.encode("utf-8"))
    return folder


@pytest.fixture(autouse=True)
def _no_assistant_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """ASSISTANT_* variables from the developer's shell must not change what the tests see."""
    for name in list(os.environ):
        if name.startswith("ASSISTANT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def tmp_seeds(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "seeds", DOCS)


@pytest.fixture
def tmp_index(tmp_path: Path) -> Path:
    return tmp_path / "index"


@pytest.fixture
def fake_assistant(tmp_seeds: Path, tmp_index: Path) -> Assistant:
    return Assistant(seeds=tmp_seeds, index=tmp_index, embedder=HashingEmbedder())


@pytest.fixture(scope="session")
def real_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A temporary copy of the repository's seeds/ and an index folder next to it."""
    root = tmp_path_factory.mktemp("real")
    seeds = root / "seeds"
    shutil.copytree(REPO / "seeds", seeds)
    return seeds, root / "index"


@pytest.fixture(scope="session")
def real_assistant(real_dirs: tuple[Path, Path]) -> Assistant:
    """The real packaged model on a copy of seeds/, built once (the model is cached per process by
    assistant.embed.shared_embedder, so every Assistant of the session shares it)."""
    seeds, index = real_dirs
    a = Assistant(settings=Settings(seeds=seeds, index=index))  # not from_env: the shell must not matter
    a.build()
    return a


class RecordingEmbedder(HashingEmbedder):
    """The hashing embedder, remembering every text it was asked to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen.extend(texts)
        return super().encode(texts)


def kill_when_ready(script: str, args: list[str], where: str, tmp_path: Path) -> None:
    """Run `script` in a child Python with `args` and a ready file's path, and SIGKILL it as soon as it
    writes that file (it has reached `where`): a build killed at a chosen point."""
    ready = tmp_path / f"ready-{where}"
    proc = subprocess.Popen([sys.executable, "-c", script, *args, where, str(ready)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120  # a guard against hanging, not a timing assertion
        while not ready.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"the build ended before reaching {where}: {out.decode()} {err.decode()}")
            assert time.monotonic() < deadline, f"the build never reached {where}"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
