"""Faults: a build process killed with SIGKILL at many points, a full disk or a read-only index/ while
building, and two build processes at once.

Every kill runs a real build in a subprocess that is parked (deterministically, by monkeypatching
inside that subprocess) at a named point and then killed with SIGKILL. Afterwards the index must load
and answer from the last complete generation, and the next build must complete, be identical to a
build from scratch, and leave no partial generation or temporary file behind.

tests/test_index.py already kills builds at five points (during embedding, before the BM25 files,
in `before_commit`, after the manifest's temporary file, before old generations are deleted); the
points here are all different ones, so the suite covers 5 + 14 kill points.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, Settings, engine, store
from assistant import index as indexer
from assistant.cli import main as cli_main
from assistant.embed import HashingEmbedder
from assistant.errors import IndexWriteError

from .conftest import DOCS as SMALL_DOCS
from .conftest import REPO, write_docs

pytestmark = pytest.mark.slow  # subprocesses; still part of the default run (and of CI)


def filler(topic: str, n: int) -> str:
    return "\n".join(
        f"Paragraph {i} of the {topic} notes explains step {i} in some detail. It has a second sentence "
        f"about {topic} number {i}. A third sentence mentions tool {i * 7} and the colour {i % 5}."
        for i in range(n)
    ) + "\n"


DOCS = {
    "bakery.md": SMALL_DOCS["bakery.md"],
    "gardening.txt": filler("gardening", 30),
}
NEW_DOC = ("observatory.txt", "The Quillfeather Observatory was founded in 1873 by Amelia Harrow.\n"
           + filler("astronomy", 30))
OLD_QUESTION, OLD_FACT, OLD_DOC = "How much does a croissant cost?", "€1.40", "bakery.md"
NEW_QUESTION, NEW_FACT = "Who founded the Quillfeather Observatory?", "Amelia Harrow"


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    return Settings(seeds=write_docs(tmp_path / "seeds", DOCS), index=tmp_path / "index")


def generations(index_dir: Path) -> set[str]:
    return {p.name for p in Path(index_dir).iterdir() if p.is_dir() and p.name.startswith(store.GEN_PREFIX)}


def index_entries(index_dir: Path) -> set[str]:
    return {p.name for p in Path(index_dir).iterdir()}


def build_from_scratch(cfg: Settings, where: Path) -> store.Snapshot:
    """A reference: the same seeds/ built into an empty index folder."""
    _, snap = indexer.build(cfg.with_(index=where), HashingEmbedder())
    return snap


def assert_clean_and_correct(cfg: Settings, reference_dir: Path) -> store.Snapshot:
    """One generation, no leftovers, and exactly what a build from scratch produces."""
    snap = store.load(cfg.index)
    assert snap is not None
    assert index_entries(cfg.index) == {store.MANIFEST, store.LOCK, snap.generation}, index_entries(cfg.index)
    reference = build_from_scratch(cfg, reference_dir)
    assert snap.passages == reference.passages
    assert np.array_equal(snap.vectors, reference.vectors)
    assert snap.documents == reference.documents
    return snap


def assert_answers(cfg: Settings, question: str, fact: str, doc: str | None = None) -> None:
    """A fresh Assistant (no rebuild allowed) answers with a citation whose offsets are exact."""
    a = Assistant(settings=cfg, embedder=HashingEmbedder(), auto_refresh=False)
    answer = a.ask(question)
    assert answer.answered and answer.citations, answer.text
    assert fact in answer.text
    for c in answer.citations:
        text = (cfg.seeds / c.doc).read_text(encoding="utf-8")
        assert text[c.start : c.end] == c.text
    if doc is not None:
        assert answer.citations[0].doc == doc


# ---------------------------------------------------------------------------------------------------
# SIGKILL at named points

KILLED_BUILD = textwrap.dedent(
    r"""
    import builtins, os, shutil, sys, time
    from pathlib import Path
    import faiss
    from assistant import Settings, corpus, store
    from assistant import index as indexer
    from assistant.embed import HashingEmbedder
    from assistant.lexical import Lexicon

    seeds, index, point, ready = sys.argv[1:5]
    embedder = HashingEmbedder()

    def park(what=""):
        # the state on disk is whatever the build left so far; the test kills us here
        Path(ready).write_text(f"{os.getpid()} {what}")
        while True:
            time.sleep(1)

    def nth_call(n, original, then=park):
        calls = []
        def wrapper(*args, **kwargs):
            calls.append(1)
            if len(calls) == n:
                then()
            return original(*args, **kwargs)
        return wrapper

    class HalfWriter:
        # a file opened for writing that, on its first write, writes half the data, flushes and parks
        def __init__(self, f):
            self._f = f
        def write(self, data):
            self._f.write(data[: max(1, len(data) // 2)])
            self._f.flush()
            os.fsync(self._f.fileno())
            park(self._f.name)
        def writelines(self, lines):
            self.write("".join(lines))
        def __getattr__(self, name):
            return getattr(self._f, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self._f.close()

    def half_write_when(match, nth=1):
        real_open = builtins.open
        seen = []
        def opener(file, mode="r", *args, **kwargs):
            f = real_open(file, mode, *args, **kwargs)
            if any(m in mode for m in "wax") and match(Path(os.fsdecode(file))):
                seen.append(1)
                if len(seen) == nth:
                    return HalfWriter(f)
            return f
        builtins.open = opener

    if point == "reading-documents":          # the lock held, the second document being read
        corpus.load = nth_call(2, corpus.load)
    elif point == "splitting":                 # the new document being split into passages
        indexer.split_document = nth_call(1, indexer.split_document)
    elif point == "embedding-mid-way":         # two chunks of the new passages embedded, more to go
        indexer.EMBED_CHUNK = 4
        embedder.encode = nth_call(3, embedder.encode)
    elif point == "building-bm25":             # every vector ready, the BM25 index being built in memory
        Lexicon.build = classmethod(nth_call(1, Lexicon.build.__func__))
    elif point == "writing-passages":          # passages.jsonl half written
        half_write_when(lambda p: p.name == "passages.jsonl")
    elif point in ("writing-faiss", "first-build"):  # the FAISS file half written
        real_write = faiss.write_index
        def write_half(index, path):
            real_write(index, path + ".whole")
            data = Path(path + ".whole").read_bytes()
            os.unlink(path + ".whole")
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
            park(path)
        faiss.write_index = write_half
    elif point == "writing-bm25":              # one BM25 file complete, the second one half written
        half_write_when(lambda p: p.parent.name == "bm25", nth=2)
    elif point == "syncing-generation":        # all files written, being fsynced and checksummed
        os.fsync = nth_call(2, os.fsync)
    elif point in ("writing-manifest", "refreshing-manifest"):  # the manifest's temporary file half written
        half_write_when(lambda p: p.name.startswith(store.MANIFEST) and p.name.endswith(".tmp"))
    elif point == "manifest-replaced":         # the switch done, the folder not yet fsynced, nothing deleted
        real_replace = os.replace
        def replace(src, dst):
            real_replace(src, dst)
            if Path(dst).name == store.MANIFEST:
                park(dst)
        store.os.replace = replace
    elif point == "deleting-old-generation":   # the old generation half deleted
        def rmtree(path, *args, **kwargs):
            files = sorted(p for p in Path(path).rglob("*") if p.is_file())
            for p in files[: max(1, len(files) // 2)]:
                p.unlink()
            park(str(path))
        store.shutil.rmtree = rmtree
    elif point == "holding-the-lock":          # parked while embedding; another build waits for the lock
        embedder.encode = nth_call(1, embedder.encode)
    else:
        raise SystemExit(f"unknown point {point}")
    indexer.build(Settings(seeds=Path(seeds), index=Path(index)), embedder)
    print("finished without being killed")
    """
)


CLI = textwrap.dedent(
    """
    import fcntl, os, sys
    from pathlib import Path
    from assistant import engine
    from assistant.embed import HashingEmbedder

    engine.shared_embedder = lambda *args, **kwargs: HashingEmbedder()  # the fast, deterministic embedder
    marker = os.environ.get("FAULTS_LOCK_MARKER")
    if marker:
        real_flock = fcntl.flock

        def flock(fd, operation):
            try:
                return real_flock(fd, operation)
            except BlockingIOError:
                Path(marker).write_text("waiting for the lock")
                raise

        fcntl.flock = flock
    from assistant.cli import main

    sys.exit(main(sys.argv[1:]))
    """
)


def cli(cfg: Settings, *args: str) -> list[str]:
    """The `assistant` command line (on the hashing embedder) for cfg's folders."""
    return [sys.executable, "-c", CLI, "--seeds", str(cfg.seeds), "--index", str(cfg.index), *args]


def start_parked_build(cfg: Settings, point: str, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    ready = tmp_path / f"ready-{point}"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(cfg.seeds), str(cfg.index), point, str(ready)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120  # a guard against a hang, not a timing assertion
    while not ready.exists() or not ready.read_text():  # created, then written: wait for its content
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the build ended (status {proc.returncode}) before reaching {point}:\n"
                        f"{out.decode()}\n{err.decode()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.communicate()
            pytest.fail(f"the build never reached {point}")
        time.sleep(0.02)
    return proc, ready


def sigkill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL


# point -> (what changes in seeds/ before the killed build, what the manifest must name afterwards)
KILL_POINTS = {
    "reading-documents": ("add", "old"),
    "splitting": ("add", "old"),
    "embedding-mid-way": ("add", "old"),
    "building-bm25": ("add", "old"),
    "writing-passages": ("add", "old"),
    "writing-faiss": ("add", "old"),
    "writing-bm25": ("add", "old"),
    "syncing-generation": ("add", "old"),
    "writing-manifest": ("add", "old"),
    "manifest-replaced": ("add", "new"),
    "deleting-old-generation": ("add", "new"),
    "refreshing-manifest": ("touch", "old"),  # nothing to embed: only the manifest's stat snapshot is rewritten
    "first-build": ("first", "none"),  # killed during the very first build: there is no index yet
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_build_killed_at_this_point_leaves_the_last_complete_generation(cfg, tmp_path, point):
    change, expect = KILL_POINTS[point]
    old = None
    if change != "first":
        indexer.build(cfg, HashingEmbedder())
        old = store.load(cfg.index)
    if change == "touch":
        path = cfg.seeds / "bakery.md"
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    else:
        (cfg.seeds / NEW_DOC[0]).write_text(NEW_DOC[1], encoding="utf-8")

    proc, ready = start_parked_build(cfg, point, tmp_path)
    parked_at = ready.read_text()
    sigkill(proc)
    # it was killed where intended: the half-written file, or the generation being deleted
    evidence = {"writing-passages": "passages.jsonl", "writing-faiss": "faiss.index", "first-build": "faiss.index",
                "writing-bm25": "/bm25/", "writing-manifest": ".tmp", "refreshing-manifest": ".tmp",
                "manifest-replaced": store.MANIFEST, "deleting-old-generation": old and old.generation}
    assert evidence.get(point, "") in parked_at, parked_at

    # the index on disk loads (every checksum verified) and is the last complete generation
    snap = store.load(cfg.index)
    if expect == "none":
        assert snap is None
        assert generations(cfg.index), "the killed first build should have left a partial generation"
    elif expect == "old":
        assert snap.generation == old.generation and snap.passages == old.passages
        assert np.array_equal(snap.vectors, old.vectors)
        assert NEW_DOC[0] not in snap.documents
    else:
        assert snap.generation != old.generation and NEW_DOC[0] in snap.documents
    if point == "deleting-old-generation":
        assert (cfg.index / old.generation).exists()  # half deleted, still there
    if expect != "none":
        assert_answers(cfg, OLD_QUESTION, OLD_FACT, OLD_DOC)

    # the next build (the lock died with the process) completes, cleans up, and is correct
    report, _ = indexer.build(cfg, HashingEmbedder())
    if expect == "old" and change == "add":
        assert report.added == (NEW_DOC[0],) and report.passages_embedded > 0
    snap = assert_clean_and_correct(cfg, tmp_path / "reference")
    if change != "touch":
        assert NEW_DOC[0] in snap.documents
        assert_answers(cfg, NEW_QUESTION, NEW_FACT, NEW_DOC[0])
    assert_answers(cfg, OLD_QUESTION, OLD_FACT, OLD_DOC)


def test_a_killed_first_build_is_finished_by_the_first_question(cfg, tmp_path):
    (cfg.seeds / NEW_DOC[0]).write_text(NEW_DOC[1], encoding="utf-8")
    sigkill(start_parked_build(cfg, "first-build", tmp_path)[0])
    assert store.load(cfg.index) is None
    a = Assistant(settings=cfg, embedder=HashingEmbedder())
    answer = a.ask(NEW_QUESTION)
    assert answer.answered and NEW_FACT in answer.text and answer.citations[0].doc == NEW_DOC[0]
    assert_clean_and_correct(cfg, tmp_path / "reference")


def test_a_build_waiting_for_the_lock_finishes_when_the_holder_is_killed(cfg, tmp_path):
    indexer.build(cfg, HashingEmbedder())
    old = store.load(cfg.index)
    (cfg.seeds / NEW_DOC[0]).write_text(NEW_DOC[1], encoding="utf-8")
    holder, _ = start_parked_build(cfg, "holding-the-lock", tmp_path)
    marker = tmp_path / "waiting"
    waiter = subprocess.Popen(cli(cfg, "index"), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env={**os.environ, "FAULTS_LOCK_MARKER": str(marker)})
    try:
        deadline = time.monotonic() + 120  # a guard against a hang, not a timing assertion
        while not marker.exists():
            assert waiter.poll() is None, waiter.communicate()
            assert time.monotonic() < deadline, "the second build never tried the lock"
            time.sleep(0.02)
        # the waiter is blocked on the lock: nothing it could write has appeared
        assert store.load(cfg.index).generation == old.generation
        assert generations(cfg.index) == {old.generation}
        sigkill(holder)
        out, err = waiter.communicate(timeout=120)
    finally:
        for p in (holder, waiter):
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert waiter.returncode == 0, err.decode()
    assert "1 added" in out.decode()
    assert_clean_and_correct(cfg, tmp_path / "reference")
    assert_answers(cfg, NEW_QUESTION, NEW_FACT, NEW_DOC[0])


# ---------------------------------------------------------------------------------------------------
# A full disk or a read-only index/ while building

FAISS_ENOSPC = ("Error in void faiss::write_index(const Index*, IOWriter*, int) at /project/faiss/impl/"
                "index_write.cpp:499: Error: 'ret == (size * 4)' failed: write error in {path}: 65491 != 307200 "
                "(No space left on device)")


def fail_write(monkeypatch: pytest.MonkeyPatch, where: str) -> str:
    """Make the build fail at `where` the way a full disk or a read-only folder does. Returns the
    fragment the message must contain."""
    import builtins

    real_open = builtins.open

    def refuse_open(names, code):
        def opener(file, mode="r", *args, **kwargs):
            if any(m in mode for m in "wax+") and names(Path(os.fsdecode(file))):
                raise OSError(code, os.strerror(code), os.fsdecode(file))
            return real_open(file, mode, *args, **kwargs)
        monkeypatch.setattr(builtins, "open", opener)

    if where == "generation-folder":  # a read-only index/: the new generation cannot be created
        real_mkdir = Path.mkdir

        def mkdir(self, *args, **kwargs):
            if self.name.startswith(store.GEN_PREFIX):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
        return "not writable"
    if where == "passages":
        refuse_open(lambda p: p.name == "passages.jsonl", errno.ENOSPC)
        return "disk is full"
    if where == "faiss":  # what FAISS really raises on a full disk (seen on a 64 KB tmpfs)
        import faiss

        def write_index(index, path):
            Path(path).write_bytes(b"\0" * 100)
            raise RuntimeError(FAISS_ENOSPC.format(path=path))

        monkeypatch.setattr(faiss, "write_index", write_index)
        return "disk is full"
    if where == "bm25":
        def save(*args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(np, "save", save)
        return "disk is full"
    if where == "manifest":
        refuse_open(lambda p: p.name.startswith(store.MANIFEST), errno.ENOSPC)
        return "disk is full"
    if where == "manifest-switch":
        real_replace = os.replace

        def replace(src, dst):
            if Path(dst).name == store.MANIFEST:
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dst))
            return real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
        return "not writable"
    if where == "lock":  # index/ read-only: even the lock file cannot be opened for writing
        refuse_open(lambda p: p.name == store.LOCK, errno.EROFS)
        return "not writable"
    raise AssertionError(where)


@pytest.mark.parametrize("where", ["generation-folder", "passages", "faiss", "bm25", "manifest", "manifest-switch",
                                   "lock"])
def test_a_full_or_read_only_disk_gives_a_clear_message_and_the_old_index_serves(cfg, tmp_path, monkeypatch,
                                                                                  capsys, where):
    indexer.build(cfg, HashingEmbedder())
    old = store.load(cfg.index)
    answering = Assistant(settings=cfg, embedder=HashingEmbedder())  # auto-refresh on, as in the app
    answering.snapshot()
    (cfg.seeds / NEW_DOC[0]).write_text(NEW_DOC[1], encoding="utf-8")

    monkeypatch.setattr(engine, "shared_embedder", lambda *args, **kwargs: HashingEmbedder())  # for the CLI
    fragment = fail_write(monkeypatch, where)
    with pytest.raises(IndexWriteError) as caught:
        indexer.build(cfg, HashingEmbedder())
    message = str(caught.value)
    assert fragment in message and str(cfg.index) in message and "previous index" in message, message
    assert "Traceback" not in message and "\n" not in message

    # the CLI says it in one line and exits 1
    assert cli_main(["--seeds", str(cfg.seeds), "--index", str(cfg.index), "index"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: Could not write the index") and fragment in err[0], err

    # questions are still answered from the previous index, even though seeds/ changed and every
    # automatic refresh fails
    answering._last_check = 0.0  # let the staleness check run now
    answer = answering.ask(OLD_QUESTION)
    assert answer.answered and OLD_FACT in answer.text
    assert answering.snapshot().generation == old.generation
    fresh = Assistant(settings=cfg, embedder=HashingEmbedder())  # first load finds seeds/ changed too
    assert fresh.ask(OLD_QUESTION).answered

    # the web app reports it as a message, not as an exception name
    from assistant.web import WebApp

    web = WebApp(answering)
    web.ready.set()
    shown = web.rebuild()[0]
    assert "Index not updated: Could not write the index" in shown and fragment in shown, shown

    monkeypatch.undo()
    snap = store.load(cfg.index)
    assert snap.generation == old.generation and snap.passages == old.passages
    assert generations(cfg.index) == {old.generation}  # the partial generation was removed
    assert not [p for p in cfg.index.iterdir() if p.name.endswith(".tmp")]

    report, _ = indexer.build(cfg, HashingEmbedder())  # space is back: the next build completes
    assert report.added == (NEW_DOC[0],)
    assert_clean_and_correct(cfg, tmp_path / "reference")
    answering._last_check = 0.0
    assert NEW_FACT in answering.ask(NEW_QUESTION).text


def test_a_file_size_limit_hit_by_the_real_kernel_is_a_one_line_error(cfg, tmp_path):
    """RLIMIT_FSIZE makes the kernel refuse writes past a size (EFBIG), like a full disk, for one process."""
    indexer.build(cfg, HashingEmbedder())
    old = store.load(cfg.index)
    (cfg.seeds / NEW_DOC[0]).write_text(NEW_DOC[1], encoding="utf-8")
    limit = (cfg.index / old.generation / "passages.jsonl").stat().st_size + 2000  # the new one is bigger

    def limit_file_size() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(
        cli(cfg, "index"), cwd=REPO, capture_output=True, text=True, check=False, preexec_fn=limit_file_size, timeout=120,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Could not write the index"), result.stderr
    assert "File too large" in lines[0] and "Traceback" not in result.stderr
    assert store.load(cfg.index).generation == old.generation
    assert generations(cfg.index) == {old.generation}
    assert_answers(cfg, OLD_QUESTION, OLD_FACT, OLD_DOC)
    indexer.build(cfg, HashingEmbedder())
    assert_clean_and_correct(cfg, tmp_path / "reference")


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real, tiny tmpfs for the index, when this machine lets the tests mount one (root in CI does)."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()}); the monkeypatched disk-full "
                    "tests above still run")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def remount(mount_point: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mount_point)], check=True)


def test_a_really_full_and_a_really_read_only_index_disk(cfg, tmp_path, tmpfs):
    cfg = cfg.with_(index=tmpfs / "index")
    indexer.build(cfg, HashingEmbedder())
    old = store.load(cfg.index)
    fs = os.statvfs(tmpfs)
    used = (fs.f_blocks - fs.f_bfree) * fs.f_frsize
    remount(tmpfs, f"size={used + 64 * 1024}")  # room for a little more than the current generation
    (cfg.seeds / "big.txt").write_text(filler("geology", 600), encoding="utf-8")

    with pytest.raises(IndexWriteError, match="No space left on device.*disk is full"):
        indexer.build(cfg, HashingEmbedder())
    assert store.load(cfg.index).generation == old.generation
    assert generations(cfg.index) == {old.generation}
    assert_answers(cfg, OLD_QUESTION, OLD_FACT, OLD_DOC)

    remount(tmpfs, "ro")
    with pytest.raises(IndexWriteError, match="Read-only file system.*not writable"):
        indexer.build(cfg, HashingEmbedder())
    answering = Assistant(settings=cfg, embedder=HashingEmbedder())  # seeds/ changed, cannot rebuild
    assert OLD_FACT in answering.ask(OLD_QUESTION).text

    remount(tmpfs, "rw,size=16m")
    report, _ = indexer.build(cfg, HashingEmbedder())
    assert report.added == ("big.txt",)
    assert_clean_and_correct(cfg, tmp_path / "reference")


# ---------------------------------------------------------------------------------------------------
# Two builds at once, in two processes


def test_two_cli_builds_at_once_serialise_and_both_succeed(cfg, tmp_path):
    """Both `assistant index` processes finish; the lock makes one wait, so exactly one of them embeds
    the new document and the other finds nothing to do. (test_index.py checks the ordering itself.)"""
    indexer.build(cfg, HashingEmbedder())
    (cfg.seeds / NEW_DOC[0]).write_text(NEW_DOC[1], encoding="utf-8")
    procs = [
        subprocess.Popen(cli(cfg, "index"), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(out)
    assert sorted("1 added" in out for out in outs) == [False, True], outs
    assert_clean_and_correct(cfg, tmp_path / "reference")
    shutil.rmtree(tmp_path / "reference")
