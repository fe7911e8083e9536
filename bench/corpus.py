"""The bench corpus: Debian's python3.11-doc (+ linux-doc for the largest sizes), fetched with apt and
prepared once into a cache outside git (~/.cache/assistant-bench by default), then cut into a ladder of
seeds folders of about N passages each."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from pathlib import Path

PYTHON_DOC = "python3.11-doc"
LINUX_DOC_FALLBACK = "linux-doc-6.12"


def default_cache() -> Path:
    return Path.home() / ".cache" / "assistant-bench"


def linux_doc_package() -> str:
    """The versioned linux-doc package apt knows about (linux-doc-6.12 on bookworm-backports)."""
    try:
        out = subprocess.run(["apt-cache", "search", "--names-only", "^linux-doc-[0-9]"], capture_output=True, check=False,
                             text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return LINUX_DOC_FALLBACK
    names = re.findall(r"^(linux-doc-[0-9.]+)\s", out, flags=re.MULTILINE)
    return max(names, key=lambda n: [int(x) for x in n.split("-")[-1].split(".")], default=LINUX_DOC_FALLBACK)


def fetch(package: str, cache: Path) -> Path:
    """Download (apt-get download) and unpack (dpkg-deb -x) a package once; returns the unpack folder."""
    unpacked = cache / "x" / package
    if (unpacked / ".done").exists():
        return unpacked
    debs = cache / "deb"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True, capture_output=True)
        found = sorted(debs.glob(f"{package}_*.deb"))
    if unpacked.exists():
        shutil.rmtree(unpacked)
    unpacked.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(unpacked)], check=True)
    (unpacked / ".done").touch()
    return unpacked


def python_docs(cache: Path) -> list[tuple[str, str]]:
    """(name, text) of every plain-text source page of the Python 3.11 documentation, sorted."""
    root = fetch(PYTHON_DOC, cache)
    out = []
    for path in sorted(root.glob("usr/share/doc/python3.11/html/_sources/**/*.rst.txt")):
        rel = path.relative_to(root / "usr/share/doc/python3.11/html/_sources").as_posix()
        out.append(("python/" + rel[: -len(".rst.txt")].replace("/", "__") + ".txt",
                    path.read_text(encoding="utf-8", errors="replace")))
    return out


def linux_docs(cache: Path) -> list[tuple[str, str]]:
    """(name, text) of the kernel's reStructuredText documentation (gzipped in the package), sorted."""
    package = linux_doc_package()
    root = fetch(package, cache)
    base = root / "usr/share/doc" / package / "Documentation"
    out = []
    for path in sorted(base.glob("**/*.rst.gz")):
        rel = path.relative_to(base).as_posix()
        text = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        out.append(("linux/" + rel[: -len(".rst.gz")].replace("/", "__") + ".txt", text))
    return out


def documents(cache: Path, want_passages: int, counts: dict[str, int], count) -> list[tuple[str, str]]:
    """Documents in a fixed order (Python docs, then Linux docs when more are needed) until their passages
    reach `want_passages`. `counts` caches passages per document; `count(name, text)` splits one."""
    out: list[tuple[str, str]] = []
    total = 0
    sources = [python_docs]
    if want_passages > 30000:
        sources.append(linux_docs)
    for source in sources:
        for name, text in source(cache):
            if not text.strip():
                continue
            if name not in counts:
                counts[name] = count(name, text)
            out.append((name, text))
            total += counts[name]
            if total >= want_passages:
                return out
    return out


def write_seeds(folder: Path, docs: list[tuple[str, str]]) -> None:
    """Write the documents as .txt files (only when the folder does not hold exactly these already)."""
    stamp = folder.parent / f"{folder.name}.docs.json"  # beside, not inside, seeds/
    names = [name for name, _ in docs]
    if stamp.exists() and json.loads(stamp.read_text()) == names:
        return
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, text in docs:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    stamp.write_text(json.dumps(names))
