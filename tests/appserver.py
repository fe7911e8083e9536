"""The real server for end-to-end tests: app.py in a subprocess on a free loopback port
(test_security, test_load, test_web_browser)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant import store

from .conftest import REPO


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(root: Path, *args: str, env: dict[str, str] | None = None, start_timeout: float = 300
               ) -> Iterator[dict]:
    """`python app.py --port P *args` on a copy of seeds/ (and of index/ when one is built), until the
    HTTP server answers. Stopped (SIGTERM, then SIGKILL) on exit."""
    seeds, index = root / "seeds", root / "index"
    if not seeds.exists():
        shutil.copytree(REPO / "seeds", seeds)
        for path in [seeds, *seeds.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)  # the shipped seeds are read-only
    if not index.exists() and (REPO / "index" / store.MANIFEST).exists():
        shutil.copytree(REPO / "index", index, ignore=shutil.ignore_patterns(".lock"))
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    full_env.update(ASSISTANT_SEEDS=str(seeds), ASSISTANT_INDEX=str(index), GRADIO_ANALYTICS_ENABLED="False",
                    PYTHONUNBUFFERED="1", **(env or {}))
    log_path = root / f"app-{port}.log"
    with open(log_path, "w+", encoding="utf-8") as log:
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--port", str(port), *args], cwd=root,
                                env=full_env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + start_timeout  # a guard against a hang, not a timing assertion
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"app.py exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(url, timeout=2):
                        break
                except urllib.error.HTTPError:
                    break  # it answers (a login page, say)
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("app.py did not start serving in time")
                time.sleep(0.3)
            yield {"url": url, "port": port, "proc": proc, "log": log_path, "seeds": seeds, "index": index,
                   "started": started}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
