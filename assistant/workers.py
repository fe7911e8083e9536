"""Embedding a build's passages on Ray (`assistant index --ray [ADDRESS]`, Settings.ray).

The passages that need embedding are cut into the same chunks as a local build (index.EMBED_CHUNK
texts, longest first) and sent to a pool of Ray actors, one per `threads` CPUs of the cluster. Each actor
loads the model once, when it starts, and runs the same function as the local path on each chunk, so
passage and pooled sentence vectors equal the local ones (tests/test_ray.py compares them). Results come
back in order; everything else of the build (what to embed, the store, the switch) stays on this machine.

The actors rebuild the embedder from a recipe (backend, model folder, threads, batch size): the packaged
model resolves on each worker to its own installed copy, a model folder given with ASSISTANT_MODEL must exist
at the same path on every worker. An embedder that is neither (tests' HashingEmbedder) travels pickled.
Every actor checks that its model has the driver's name (the index fingerprint): a worker with another
model or backend stops the build instead of writing a mixed index.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from .embed import (
    Embedder,
    OnnxEmbedder,
    Prefixed,
    SentenceTransformerEmbedder,
    packaged_model_path,
    set_threads,
)
from .errors import ClusterError, ModelError

log = logging.getLogger(__name__)

Job = tuple[list[str], list[list[tuple[int, int]]]]  # texts, and each text's sentence spans
Encode = Callable[[Embedder, list[str], list[list[tuple[int, int]]]], tuple[np.ndarray, np.ndarray]]


def recipe(embedder: Embedder) -> tuple:
    """What a worker needs to make the same embedder (never the loaded model itself)."""
    if isinstance(embedder, Prefixed):
        inner = recipe(embedder.inner)
        return ("object", embedder) if inner[0] == "object" else ("prefixed", inner, embedder.query, embedder.passage)
    if isinstance(embedder, SentenceTransformerEmbedder | OnnxEmbedder):
        path = "" if embedder.path.resolve() == packaged_model_path().resolve() else str(embedder.path)
        kind = "torch-bf16" if getattr(embedder, "bf16", False) else getattr(embedder, "backend", "torch")
        label = embedder.name.split(":")[1] if isinstance(embedder, SentenceTransformerEmbedder) else ""
        return (kind, path, embedder.threads, embedder.batch_size, label)
    return ("object", embedder)


def make(spec: tuple) -> Embedder:
    """The embedder a recipe describes, on this machine."""
    if spec[0] == "object":
        return spec[1]
    if spec[0] == "prefixed":
        return Prefixed(make(spec[1]), spec[2], spec[3])
    kind, path, threads, batch_size, label = spec
    path = Path(path) if path else packaged_model_path()
    if kind in ("onnx", "onnx-int8"):
        return OnnxEmbedder(path, threads=threads, batch_size=batch_size, quantize=kind == "onnx-int8")
    return SentenceTransformerEmbedder(path, threads=threads, batch_size=batch_size, bf16=kind == "torch-bf16",
                                       label=label)


class _Worker:
    """One Ray actor: the model loaded once, then one chunk of passages per call."""

    def __init__(self, spec: tuple, name: str, threads: int, encode: Encode) -> None:
        set_threads(threads)
        self.embedder = make(spec)
        if self.embedder.name != name:
            raise ModelError(f"A Ray worker has the model {self.embedder.name!r}, this build {name!r}: install "
                             "the same package version and model on every worker.")
        self.encode_fn = encode

    def encode(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, np.ndarray]:
        return self.encode_fn(self.embedder, texts, spans)


def connect(address: str) -> bool:
    """Join the Ray cluster at `address` ("local": start one here). True when this call started Ray."""
    try:
        import ray
    except ImportError:
        raise ClusterError("Embedding on Ray needs ray: pip install -e '.[ray]'.") from None
    if ray.is_initialized():
        return False
    reachable(address)
    try:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    except Exception as exc:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError: whatever Ray raises for a bad address
        raise ClusterError(f"Cannot join the Ray cluster at {address!r} ({str(exc).splitlines()[0][:200]}): start it "
                           "(`ray start --head`), or fix --ray / ASSISTANT_RAY.") from None
    return True


def _root(exc: BaseException) -> BaseException:
    """The exception a Ray error wraps (a task's or an actor's creation task's), as raised on the worker."""
    seen = 0
    while seen < 5 and isinstance(getattr(exc, "cause", None), BaseException) and exc.cause is not exc:
        exc, seen = exc.cause, seen + 1
    return exc


def reachable(address: str, timeout: float = 5.0) -> None:
    """A quick check that a host:port address answers: ray.init retries a dead address for minutes."""
    if address in ("local", "auto"):
        return
    where = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        port = where.port
    except ValueError:
        port = None
    if not where.hostname or port is None:
        raise ClusterError(f"{address!r} is not a Ray address: give host:port (the head's GCS, e.g. head:6379) "
                           "or ray://host:10001 (Ray Client).")
    try:
        socket.create_connection((where.hostname, port), timeout=timeout).close()
    except OSError as exc:
        raise ClusterError(f"Cannot reach the Ray cluster at {address!r} ({exc.strerror or exc}): start it "
                           "(`ray start --head`), or fix --ray / ASSISTANT_RAY.") from None


def encode_passages(embedder: Embedder, jobs: list[Job], address: str, encode: Encode, threads: int = 2
                    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """encode(embedder, texts, spans) of every job, run on Ray actors, yielded in the jobs' order."""
    if not jobs:
        return
    started = connect(address)
    import ray
    from ray.util import ActorPool

    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    per_actor = min(threads, cpus)
    actors = [ray.remote(num_cpus=per_actor)(_Worker).remote(recipe(embedder), embedder.name, per_actor, encode)
              for _ in range(max(1, min(len(jobs), cpus // per_actor)))]
    log.info("embedding %d chunks on %d Ray actors", len(jobs), len(actors))
    try:
        pool = ActorPool(actors)
        for encoded, pooled in pool.map(lambda actor, job: actor.encode.remote(*job), jobs):
            yield np.asarray(encoded, np.float32), np.asarray(pooled, np.float32)
    except (ray.exceptions.RayActorError, ray.exceptions.RayTaskError) as exc:
        cause = _root(exc)
        if isinstance(cause, ModelError):
            raise ModelError(str(cause)) from None
        # an actor that died in __init__ carries the worker's traceback only as text
        said = re.search(r"ModelError: (.+)", str(exc))
        if said:
            raise ModelError(said.group(1).strip()) from None
        raise ClusterError(f"A Ray worker failed while embedding ({str(cause).splitlines()[0][:300]}).") from None
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
