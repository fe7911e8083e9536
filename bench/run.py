"""Speed at scale, measured against the model's own floor in one run.

    .venv/bin/python -m bench.run --sizes 1000,10000,100000

For every rung of the ladder (a seeds folder of about N passages of Debian's Python / Linux docs):
  floor    SentenceTransformer.encode of the rung's passages (or a sample of them), passages/s, and
           each embedding backend of ours encoding the same texts, alternating in the same process
  build    our full build, then incremental rebuilds after editing one document and after adding one
  query    the query floor (encode one question + FAISS flat search) against our retrieve and ask,
           p50/p95 over the questions, recall@10 of our vector index against exact flat search
  cold     a new CLI process answering one question (wall time and peak memory)
Each phase runs in a fresh process (clean peak-memory figures). Figures go to stdout as a table and
to --json as JSON. Nothing here fails on a timing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

FLOOR_BATCH = 32  # SentenceTransformer.encode's default


# -- helpers ----------------------------------------------------------------------------------------------


def _maxrss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


@contextlib.contextmanager
def median_document_edited(seeds: Path) -> Iterator[None]:
    """The seed document of median size with a paragraph appended, put back as it was on exit."""
    docs = sorted(seeds.rglob("*.txt"), key=lambda p: p.stat().st_size)
    target = docs[len(docs) // 2]
    original = target.read_bytes()
    try:
        target.write_bytes(original + b"\n\nThis paragraph was added by the benchmark to change the document.\n")
        yield
    finally:
        target.write_bytes(original)


def timed_build(assistant, out: dict, name: str) -> None:
    """Build; record out[name_s] (seconds) and out[name_embedded] (passages embedded)."""
    t = time.perf_counter()
    report = assistant.build()
    out[f"{name}_s"] = time.perf_counter() - t
    out[f"{name}_embedded"] = report.passages_embedded


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _embedder(kind: str, threads: int):
    """'hashing' (smoke runs, structure-only rungs) or one of the real backends."""
    from assistant.embed import HashingEmbedder, shared_embedder

    if kind == "hashing":
        return HashingEmbedder(dim=384)
    return shared_embedder("", threads, 32, kind, "")


def _settings(seeds: Path, index: Path, backend: str, threads: int):
    from assistant import Settings

    return Settings(seeds=seeds, index=index, threads=threads,
                    embed_backend="torch" if backend == "hashing" else backend, auto_refresh=False)


def _passages(seeds: Path, embedder) -> list:
    from assistant import corpus
    from assistant.config import Settings
    from assistant.index import split_document

    documents, _ = corpus.load_all(seeds, 1 << 40)
    settings = Settings(seeds=seeds, index=seeds.parent / "unused-index")
    return [p for d in documents for p in split_document(d, settings, embedder)]


def _sample(items: list, n: int) -> list:
    if n <= 0 or n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def questions_for(passages: list, n: int) -> list[str]:
    """n questions spread over the corpus: the first words of a passage's first sentence, as a question."""
    from assistant import corpus

    out: list[str] = []
    for p in _sample(passages, n * 20):  # many first sentences are code or too short: look at plenty
        spans = corpus.sentences(p.text)
        words = p.text[spans[0].start : spans[0].end].split()[:12] if spans else []
        words = [w for w in words if any(ch.isalpha() for ch in w)]
        if len(words) >= 5:
            out.append("What about " + " ".join(words).rstrip(".:,;") + "?")
    return _sample(out, n)  # spread over the whole corpus, not its first documents


# -- phases (each runs in a child process) ----------------------------------------------------------------


def phase_floor(a: dict) -> dict:
    """The encode floor on (a sample of) the rung's passages, and our backends on the same texts."""
    from assistant.embed import HashingEmbedder, bulk_encoding, packaged_model_path, set_threads

    threads = a["threads"]
    counter = _embedder("hashing" if a["embedder"] == "hashing" else "torch", threads)
    passages = _passages(Path(a["seeds"]), counter)
    texts = [p.text for p in _sample(passages, a["floor_sample"])]
    out: dict = {"passages": len(passages), "floor_texts": len(texts),
                 "mean_tokens": float(np.mean([counter.count_tokens(t) for t in texts[:2000]]))}
    if a["embedder"] == "hashing":
        floor = HashingEmbedder(dim=384).encode
        encoders = {"hashing": HashingEmbedder(dim=384)}
    else:
        set_threads(threads)
        from sentence_transformers import SentenceTransformer

        t = time.perf_counter()
        model = SentenceTransformer(str(packaged_model_path()), device="cpu")
        model.max_seq_length = counter.max_tokens
        out["floor_load_s"] = time.perf_counter() - t

        def floor(texts):
            return model.encode(texts, batch_size=FLOOR_BATCH, normalize_embeddings=True, convert_to_numpy=True,
                                show_progress_bar=False)

        encoders = {b: _embedder(b, threads) for b in a["backends"]}
    floor(texts[:8])
    for name, enc in encoders.items():
        t = time.perf_counter()
        enc.encode(texts[:8])  # loads the model (and exports it to ONNX the first time)
        out[f"load_s[{name}]"] = time.perf_counter() - t
    # alternate floor and ours in halves, so noise from other processes hits both alike
    halves = [texts[: len(texts) // 2], texts[len(texts) // 2 :]]
    seconds = {"floor": 0.0, **{name: 0.0 for name in encoders}}
    vectors: dict[str, list] = {"floor": [], **{name: [] for name in encoders}}
    for half in halves:
        for name, fn in [("floor", floor), *((n, e.encode) for n, e in encoders.items())]:
            t = time.perf_counter()
            with bulk_encoding(threads):  # as in a build; the floor gets the same thread count
                vectors[name].append(fn(half))
            seconds[name] += time.perf_counter() - t
    ref = np.concatenate(vectors["floor"]).astype(np.float32)
    out["floor_rate"] = len(texts) / seconds["floor"]
    for name in encoders:
        mine = np.concatenate(vectors[name]).astype(np.float32)
        out[f"encode_rate[{name}]"] = len(texts) / seconds[name]
        out[f"cosine_to_floor[{name}]"] = float(np.mean(np.sum(mine * ref, axis=1)))
    # float16 on disk: recall@10 of exact search over fp16-rounded vectors against fp32, passages as queries
    import faiss

    queries = ref[:: max(1, len(ref) // 100)][:100]
    exact = faiss.IndexFlatIP(ref.shape[1])
    exact.add(ref)
    half = faiss.IndexFlatIP(ref.shape[1])
    half.add(ref.astype(np.float16).astype(np.float32))
    k = min(10, len(ref))
    _, gt = exact.search(queries, k)
    _, got = half.search(queries, k)
    out["fp16_recall@10"] = float(np.mean([len(set(g) & set(h)) / k for g, h in zip(gt, got)]))
    out["maxrss_mb"] = _maxrss_mb()
    return out


def _floor_rate_in_child(a: dict) -> float | None:
    done = subprocess.run([sys.executable, "-m", "bench.run", "--phase", "floor", "--phase-args", json.dumps(a)],
                          capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])["floor_rate"]


def phase_build(a: dict) -> dict:
    """Full build, incremental after editing one document and after adding one; seeds/ restored after."""
    from assistant import Assistant, store
    from assistant.embed import set_threads

    seeds, index = Path(a["seeds"]), Path(a["index"])
    settings = _settings(seeds, index, a["backend"], a["threads"])
    embedder = _embedder(a["backend"], a["threads"])
    set_threads(a["threads"])
    t = time.perf_counter()
    embedder.encode(["warm up"])  # model load (+ one-off ONNX export) is not part of the build figure
    out: dict = {"load_s": time.perf_counter() - t}
    shutil.rmtree(index, ignore_errors=True)
    assistant = Assistant(settings=settings, embedder=embedder)
    # the floor again right before and right after this build (a sample of the same passages, in a
    # fresh process): on a shared machine the rate moves by 2x within minutes, so the ratio needs both
    bracket = {**a, "floor_sample": a.get("bracket_sample", 300), "backends": []}
    if a["backend"] == "hashing" and a["embedder"] != "hashing":
        bracket = None  # a structure-only rung: its build has no embedding to compare with the floor
    out["floor_before"] = _floor_rate_in_child(bracket) if bracket else None
    t = time.perf_counter()
    report = assistant.build()
    out["full_s"] = time.perf_counter() - t
    out["floor_after"] = _floor_rate_in_child(bracket) if bracket else None
    out["passages"] = report.passages_total
    out["embedded"] = report.passages_embedded
    # passages indexed per second, like the floor's passages encoded per second (identical texts are
    # embedded once: `embedded` says how many were)
    out["build_rate"] = report.passages_total / out["full_s"]
    out["maxrss_full_mb"] = _maxrss_mb()
    snapshot = assistant.snapshot()
    gen = index / snapshot.generation
    out["index_bytes"] = _folder_bytes(gen) + (index / "manifest.json").stat().st_size
    # the sentence vectors made at build time (store.SENTENCE_FILES): the index without them is the rest
    out["sentence_bytes"] = sum((gen / name).stat().st_size for name in store.SENTENCE_FILES if (gen / name).exists())
    out["sentences"] = int(snapshot.sentences.rows[-1]) if snapshot.sentences is not None else 0
    out["raw_bytes"] = len(snapshot.passages) * embedder.dim * 4 + sum(len(p.text.encode()) for p in snapshot.passages)
    out["index_kind"] = type(snapshot.faiss_index).__name__

    added = seeds / "bench-added.txt"
    try:
        with median_document_edited(seeds):
            timed_build(assistant, out, "edit")
            added.write_text(Path(a["extra_doc"]).read_text(encoding="utf-8") if a.get("extra_doc") else
                             "A new document added by the benchmark. " * 40, encoding="utf-8")
            timed_build(assistant, out, "add")
    finally:
        added.unlink(missing_ok=True)
        assistant.build()  # back to the rung's documents (not timed)
    out["maxrss_mb"] = _maxrss_mb()
    return out


def phase_query(a: dict) -> dict:
    """Query floor (encode + flat search) against our retrieve and ask, on the same index, interleaved."""
    import faiss

    from assistant import Assistant, store
    from assistant.embed import packaged_model_path, set_threads

    seeds, index = Path(a["seeds"]), Path(a["index"])
    threads = a["threads"]
    set_threads(threads)
    query_backend = a["query_backend"]
    embedder = _embedder(query_backend, threads)
    assistant = Assistant(settings=_settings(seeds, index, query_backend, threads), embedder=embedder)
    snapshot = store.load(index)
    assistant._snapshot = snapshot  # the index as built (its vectors may come from another embedder)
    questions = a["questions"]
    flat = faiss.IndexFlatIP(snapshot.vectors.shape[1])
    flat.add(snapshot.vectors)
    if a["embedder"] == "hashing" and query_backend == "hashing":
        def floor_encode(q):
            return embedder.encode([q])
    else:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(packaged_model_path()), device="cpu")

        def floor_encode(q):
            return model.encode([q], batch_size=FLOOR_BATCH, normalize_embeddings=True, convert_to_numpy=True,
                                show_progress_bar=False)
    floor_encode("warm up")
    assistant.retrieve("warm up question")
    assistant.ask("warm up question")
    from assistant import search as retriever

    def floor_query(q):
        set_threads(threads)  # plain sentence-transformers + FAISS on this machine: one thread per core
        flat.search(np.asarray(floor_encode(q), dtype=np.float32).reshape(1, -1), 10)

    floor_ms, retrieve_ms, ask_ms, first_ms = [], [], [], []
    for q in questions:
        t = time.perf_counter()
        floor_query(q)
        floor_ms.append((time.perf_counter() - t) * 1000)
        # the first stage alone (encode the question, dense + BM25, fuse), before sentence rescoring
        assistant._cache = None
        t = time.perf_counter()
        qv = assistant.vectors.encode([q])[0]
        s = assistant.settings
        w = retriever.load_weights()
        retriever.fuse([[r for r, _ in retriever.dense(snapshot, qv, s.candidates)],
                        [r for r, _ in snapshot.lexicon.top(q, s.candidates)] if w.lexical > 0 else []],
                       s.rrf_k, [w.dense, w.lexical])
        first_ms.append((time.perf_counter() - t) * 1000)
        assistant._cache = None  # a fresh question: nothing of it cached
        t = time.perf_counter()
        assistant.retrieve(q)
        retrieve_ms.append((time.perf_counter() - t) * 1000)
        assistant._cache = None
        t = time.perf_counter()
        assistant.ask(q)
        ask_ms.append((time.perf_counter() - t) * 1000)
    # the same with the other core busy (another process spinning): the floor against our retrieve
    busy_floor_ms, busy_retrieve_ms = [], []
    burner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 600\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.3)
        for q in questions[:20]:
            t = time.perf_counter()
            floor_query(q + " ")
            busy_floor_ms.append((time.perf_counter() - t) * 1000)
            assistant._cache = None
            t = time.perf_counter()
            assistant.retrieve(q + " ")
            busy_retrieve_ms.append((time.perf_counter() - t) * 1000)
    finally:
        burner.kill()
        burner.wait()
    out = {"questions": len(questions)}
    for name, values in (("query_floor", floor_ms), ("first_stage", first_ms), ("retrieve", retrieve_ms),
                         ("ask", ask_ms), ("busy_query_floor", busy_floor_ms), ("busy_retrieve", busy_retrieve_ms)):
        out[f"{name}_p50_ms"] = _pct(values, 50)
        out[f"{name}_p95_ms"] = _pct(values, 95)
    # recall@10 of the index queries use against exact flat search (vectors of the index's own embedder)
    vector_embedder = _embedder(a["index_backend"], threads)
    qv = np.asarray(vector_embedder.encode(questions), dtype=np.float32)
    extra = snapshot.vectors[:: max(1, len(snapshot.vectors) // 200)][:200]  # passages as queries too
    qv = np.concatenate([qv, extra + 0.05 * np.random.default_rng(0).standard_normal(extra.shape).astype("f4")])
    qv /= np.linalg.norm(qv, axis=1, keepdims=True)
    k = min(10, len(snapshot.vectors))
    exact_scores, gt = flat.search(qv, k)
    ann = snapshot.faiss_index
    out["index_kind"] = type(ann).__name__
    if not hasattr(ann, "hnsw"):  # a flat rung: what HNSW would give at this size
        t = time.perf_counter()
        ann = store.vector_index(snapshot.vectors, ann_threshold=1)
        out["hnsw_build_s"] = time.perf_counter() - t
    ann.hnsw.efSearch = store.HNSW_EF_SEARCH
    _, got = ann.search(qv, k)
    out["hnsw_recall@10"] = float(np.mean([len(set(g) & set(h)) / k for g, h in zip(gt, got)]))
    # by score: a returned row counts when its exact score reaches the k-th exact score. The docs hold
    # identical passages (16% at 10^5), whose equal vectors tie, and flat and HNSW break ties differently
    got_scores = np.einsum("qd,qkd->qk", qv, snapshot.vectors[np.maximum(got, 0)])
    out["hnsw_recall@10_ties"] = float(np.mean([np.sum((s >= e[-1] - 1e-5) & (g >= 0)) / k
                                                for s, e, g in zip(got_scores, exact_scores, got)]))
    t = time.perf_counter()
    for row in qv[:100]:
        ann.search(row.reshape(1, -1), 30)
    out["hnsw_search_ms"] = (time.perf_counter() - t) * 10
    t = time.perf_counter()
    for row in qv[:100]:
        flat.search(row.reshape(1, -1), 30)
    out["flat_search_ms"] = (time.perf_counter() - t) * 10
    out["maxrss_mb"] = _maxrss_mb()
    return out


COLD_SNIPPET = """
import sys, json
from assistant import Assistant, store
from bench.run import _embedder, _settings
a = json.loads(sys.argv[1])
from pathlib import Path
assistant = Assistant(settings=_settings(Path(a["seeds"]), Path(a["index"]), a["query_backend"], a["threads"]),
                      embedder=_embedder(a["query_backend"], a["threads"]))
assistant._snapshot = store.load(Path(a["index"]))
print(assistant.ask(a["question"]).text)
"""


def phase_cold(a: dict) -> dict:
    """A new `assistant ask` process: wall time to its answer, and its peak memory. When the index's vectors
    come from another embedder than the question's (structure-only rungs, smoke runs) the CLI would rebuild,
    so a new Python process does what the CLI does (import, load the index, load the model, ask) instead."""
    env = {**os.environ, "ASSISTANT_EMBED_BACKEND": a["query_backend"]}
    via_cli = a["index_backend"] == a["query_backend"] != "hashing"
    if via_cli:
        cmd = [sys.executable, "-m", "assistant.cli", "--seeds", a["seeds"], "--index", a["index"], "--no-refresh",
               "ask", a["question"]]
    else:
        cmd = [sys.executable, "-c", COLD_SNIPPET, json.dumps(a)]
    t = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    return {"cold_start_s": time.perf_counter() - t, "cold_rc": done.returncode,
            "cold_maxrss_mb": _maxrss_mb(resource.RUSAGE_CHILDREN),
            "cold_error": done.stderr.strip().splitlines()[-1] if done.returncode else "",
            "cold_via": "cli" if via_cli else "python"}


PHASES = {"floor": phase_floor, "build": phase_build, "query": phase_query, "cold": phase_cold}


def child(phase: str, args: dict, log) -> dict:
    """Run one phase in a fresh interpreter; its JSON result is the last line of its stdout."""
    cmd = [sys.executable, "-m", "bench.run", "--phase", phase, "--phase-args", json.dumps(args)]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        log(f"  {phase}: failed ({done.stderr.strip().splitlines()[-1:]})")
        return {"error": done.stderr.strip()[-2000:]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    log(f"  {phase} done in {time.perf_counter() - t:.0f}s")
    return result


# -- the ladder -------------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    import faiss
    import torch

    versions = {"python": platform.python_version(), "torch": torch.__version__, "faiss": faiss.__version__}
    try:
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": mem, "load_at_start": load, **versions}


def run(args: argparse.Namespace, log=print) -> dict:
    from bench import corpus as bench_corpus

    cache = Path(args.cache).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    from assistant.embed import resolve_backend

    args.default_backend = resolve_backend(args.default_backend)  # the table names what actually ran
    backends = [b for b in args.backends.split(",") if b]
    counter = _embedder("hashing" if args.embedder == "hashing" else "torch", args.threads)
    counts_file = cache / "passage-counts.json"
    counts = json.loads(counts_file.read_text()) if counts_file.exists() else {}

    def count(name: str, text: str) -> int:
        from assistant.config import Settings
        from assistant.index import split_document
        from assistant.types import Document

        doc = Document(name, text, "", len(text), 0)
        return len(split_document(doc, Settings(seeds=cache / "none", index=cache / "none-index"), counter))

    results: dict = {"machine": machine(), "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
                     "started": time.strftime("%Y-%m-%d %H:%M:%S"), "rungs": []}
    for size in sizes:
        log(f"rung ~{size} passages")
        if args.corpus:
            docs = [(p.relative_to(args.corpus).as_posix(), p.read_text(encoding="utf-8"))
                    for p in sorted(Path(args.corpus).rglob("*.txt"))]
            extra = None
        else:
            docs = bench_corpus.documents(cache, size + 1, counts, count)
            counts_file.write_text(json.dumps(counts))
            extra = docs.pop()  # one document beyond the rung: the "add one" of the incremental build
        rung_dir = _rung_dir(args, size)
        seeds = rung_dir / "seeds"
        bench_corpus.write_seeds(seeds, docs)
        extra_path = None
        if extra is not None:
            extra_path = rung_dir / "extra.txt"
            extra_path.write_text(extra[1], encoding="utf-8")
        structure_only = args.embedder == "hashing" or size > args.real_build_max
        build_backends = ["hashing"] if structure_only else [b for b in backends if size <= args.all_backends_max]
        if not structure_only and args.default_backend not in build_backends:
            build_backends.append(args.default_backend)
        rung: dict = {"size": size, "documents": len(docs), "structure_only": structure_only}
        base = {"seeds": str(seeds), "threads": args.threads, "embedder": args.embedder}
        floor_sample = 0 if size <= args.floor_sample else args.floor_sample
        rung["floor"] = child("floor", {**base, "floor_sample": floor_sample,
                                        "backends": [] if args.embedder == "hashing" else backends}, log)
        rung["builds"] = {}
        for backend in build_backends:
            rung["builds"][backend] = child("build", {**base, "backend": backend,
                                                      "index": str(rung_dir / f"index-{backend}"),
                                                      "extra_doc": str(extra_path) if extra_path else None}, log)
        query_phases(rung, rung_dir, counter, args, log)
        results["rungs"].append(rung)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


def _rung_dir(args: argparse.Namespace, size: int) -> Path:
    return Path(args.cache).expanduser() / ("smoke" if args.corpus else "rungs") / str(size)


def query_phases(rung: dict, rung_dir: Path, counter, args: argparse.Namespace, log) -> None:
    """The query and cold-start phases of a rung whose indexes are built, and the rung's ratios."""
    seeds = rung_dir / "seeds"
    index_backend = "hashing" if rung["structure_only"] else args.default_backend
    query_backend = "hashing" if args.embedder == "hashing" else args.default_backend
    questions = questions_for(_passages(seeds, counter), args.questions)
    qargs = {"seeds": str(seeds), "threads": args.threads, "embedder": args.embedder,
             "index": str(rung_dir / f"index-{index_backend}"), "query_backend": query_backend,
             "index_backend": index_backend, "questions": questions}
    rung["query"] = child("query", qargs, log)
    rung["cold"] = child("cold", {**qargs, "question": questions[0] if questions else "What is this?"}, log)
    rung["derived"] = derive(rung, args.default_backend)


def requery(path: Path, args: argparse.Namespace, log=print) -> dict:
    """Run the query and cold phases again for every rung of an earlier run's JSON (same indexes, the
    current question set and code), and write the figures back into it."""
    from assistant.embed import resolve_backend

    results = json.loads(path.read_text())
    args.default_backend = resolve_backend(args.default_backend)
    counter = _embedder("hashing" if args.embedder == "hashing" else "torch", args.threads)
    for rung in results["rungs"]:
        log(f"rung ~{rung['size']} passages: query and cold again")
        query_phases(rung, _rung_dir(args, rung["size"]), counter, args, log)
    results.setdefault("requeried", []).append(time.strftime("%Y-%m-%d %H:%M:%S"))
    path.write_text(json.dumps(results, indent=1))
    return results


def derive(rung: dict, default_backend: str) -> dict:
    """Ratios to the floor, all from the same run."""
    d: dict = {}
    floor = rung.get("floor", {})
    rate = floor.get("floor_rate")
    for backend, b in rung.get("builds", {}).items():
        brackets = [x for x in (b.get("floor_before"), b.get("floor_after")) if x]
        local = sum(brackets) / len(brackets) if brackets else rate  # the floor measured around this build
        if local and b.get("full_s") and not rung["structure_only"]:
            d[f"build_vs_floor[{backend}]"] = b["passages"] / b["full_s"] / local
            # the same counting only the texts actually embedded (identical passages are embedded once)
            d[f"embedded_vs_floor[{backend}]"] = b["embedded"] / b["full_s"] / local
        if b.get("full_s") and b.get("edit_s") is not None:
            d[f"edit_vs_full[{backend}]"] = b["edit_s"] / b["full_s"]
            d[f"add_vs_full[{backend}]"] = b["add_s"] / b["full_s"]
        if b.get("raw_bytes"):
            d[f"disk_vs_raw[{backend}]"] = b["index_bytes"] / b["raw_bytes"]
    for key, value in floor.items():
        if key.startswith("encode_rate[") and rate:
            d["encode_vs_floor[" + key[len("encode_rate[") :]] = value / rate
    q = rung.get("query", {})
    if q.get("query_floor_p50_ms"):
        d["retrieve_vs_query_floor"] = q["retrieve_p50_ms"] / q["query_floor_p50_ms"]
        d["ask_vs_retrieve"] = q["ask_p50_ms"] / q["retrieve_p50_ms"]
    return d


def table(results: dict) -> str:
    """The figures as a Markdown table: one column per rung."""
    rungs = results["rungs"]
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, fn) -> None:
        cells = []
        for r in rungs:
            try:
                value = fn(r)
            except (KeyError, TypeError, ZeroDivisionError):
                value = None
            cells.append("–" if value is None else value)
        if any(c != "–" for c in cells):
            rows.append((label, cells))

    def f(x, fmt="{:.1f}"):
        return None if x is None else fmt.format(x)

    row("passages (documents)", lambda r: f"{r['floor']['passages']:,} ({r['documents']:,})")
    row("vectors in the index", lambda r: "hashing (structure only)" if r["structure_only"] else "real model")
    row("mean tokens / passage", lambda r: f(r["floor"]["mean_tokens"], "{:.0f}"))
    row("floor: ST.encode passages/s (texts)", lambda r: f"{r['floor']['floor_rate']:.1f} ({r['floor']['floor_texts']:,})")
    backends = sorted({k[len("encode_rate[") : -1] for r in rungs for k in r["floor"] if k.startswith("encode_rate[")})
    for b in backends:
        row(f"encode {b}: passages/s (x floor)", lambda r, b=b: f"{r['floor'][f'encode_rate[{b}]']:.1f} "
            f"({r['derived'][f'encode_vs_floor[{b}]']:.2f}x)")
        row(f"encode {b}: cosine to floor", lambda r, b=b: f(r["floor"][f"cosine_to_floor[{b}]"], "{:.4f}"))
    builds = sorted({b for r in rungs for b in r["builds"]})
    for b in builds:
        row(f"full build {b}: s (passages/s, x floor)", lambda r, b=b: f"{r['builds'][b]['full_s']:.1f} "
            f"({r['builds'][b]['passages'] / r['builds'][b]['full_s']:.1f}/s"
            + (f", {r['derived'][f'build_vs_floor[{b}]']:.2f}x)" if f"build_vs_floor[{b}]" in r["derived"] else ")"))
        row(f"  same, counting only texts embedded ({b}): texts/s (x floor)", lambda r, b=b: f"{r['builds'][b]['embedded']:,} "
            f"in {r['builds'][b]['full_s']:.1f}s: {r['builds'][b]['embedded'] / r['builds'][b]['full_s']:.1f}/s "
            f"({r['derived'][f'embedded_vs_floor[{b}]']:.2f}x)")
        row(f"floor around that build {b}: passages/s", lambda r, b=b: f"{r['builds'][b]['floor_before']:.1f} / "
            f"{r['builds'][b]['floor_after']:.1f}")
        row(f"edit one doc {b}: s (% of full)", lambda r, b=b: f"{r['builds'][b]['edit_s']:.2f} "
            f"({100 * r['derived'][f'edit_vs_full[{b}]']:.1f}%)")
        row(f"add one doc {b}: s (% of full)", lambda r, b=b: f"{r['builds'][b]['add_s']:.2f} "
            f"({100 * r['derived'][f'add_vs_full[{b}]']:.1f}%)")
        row(f"index on disk {b}: MB (x raw)", lambda r, b=b: f"{r['builds'][b]['index_bytes'] / 1e6:.1f} "
            f"({r['derived'][f'disk_vs_raw[{b}]']:.2f}x)")
        row(f"  of which sentence vectors {b}: MB (sentences); without them MB (x raw)", lambda r, b=b:
            f"{r['builds'][b]['sentence_bytes'] / 1e6:.1f} ({r['builds'][b]['sentences']:,}); "
            f"{(r['builds'][b]['index_bytes'] - r['builds'][b]['sentence_bytes']) / 1e6:.1f} "
            f"({(r['builds'][b]['index_bytes'] - r['builds'][b]['sentence_bytes']) / r['builds'][b]['raw_bytes']:.2f}x)")
        row(f"peak memory, build {b}: MB", lambda r, b=b: f(r["builds"][b]["maxrss_mb"], "{:.0f}"))
    row("vector index", lambda r: r["query"]["index_kind"])
    row("query floor p50 / p95 ms", lambda r: f"{r['query']['query_floor_p50_ms']:.1f} / {r['query']['query_floor_p95_ms']:.1f}")
    row("retrieve p50 / p95 ms (x floor)", lambda r: f"{r['query']['retrieve_p50_ms']:.1f} / "
        f"{r['query']['retrieve_p95_ms']:.1f} ({r['derived']['retrieve_vs_query_floor']:.2f}x)")
    row("first stage p50 ms (encode + dense + BM25 + RRF, x floor)", lambda r: f"{r['query']['first_stage_p50_ms']:.1f} "
        f"({r['query']['first_stage_p50_ms'] / r['query']['query_floor_p50_ms']:.2f}x)")
    row("other core busy: query floor / retrieve p50 ms", lambda r: f"{r['query']['busy_query_floor_p50_ms']:.1f} / "
        f"{r['query']['busy_retrieve_p50_ms']:.1f}")
    row("ask p50 / p95 ms (x retrieve)", lambda r: f"{r['query']['ask_p50_ms']:.1f} / {r['query']['ask_p95_ms']:.1f} "
        f"({r['derived']['ask_vs_retrieve']:.2f}x)")
    row("HNSW recall@10 vs flat: by score (by row id)", lambda r: f"{r['query']['hnsw_recall@10_ties']:.3f} "
        f"({r['query']['hnsw_recall@10']:.3f})")
    row("search ms: HNSW / flat (k=30)", lambda r: f"{r['query']['hnsw_search_ms']:.2f} / {r['query']['flat_search_ms']:.2f}")
    row("fp16 vs fp32 recall@10", lambda r: f(r["floor"]["fp16_recall@10"], "{:.3f}"))
    row("peak memory, query process MB", lambda r: f(r["query"]["maxrss_mb"], "{:.0f}"))
    row("cold start, new process to answer: s (peak MB)", lambda r: "failed" if r["cold"]["cold_rc"] else
        f"{r['cold']['cold_start_s']:.1f} ({r['cold']['cold_maxrss_mb']:.0f}, {r['cold']['cold_via']})")
    head = "| figure | " + " | ".join(f"~{r['size']:,}" for r in rungs) + " |"
    sep = "| --- |" + " --- |" * len(rungs)
    return "\n".join([head, sep, *("| " + label + " | " + " | ".join(cells) + " |" for label, cells in rows)])


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,10000,100000", help="passages per rung, comma-separated")
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "assistant-bench"), help="corpus and rung cache")
    p.add_argument("--backends", default="torch,torch-bf16,onnx,onnx-int8", help="embedding backends to measure")
    p.add_argument("--default-backend", default="auto",
                   help="the backend queries and big builds use (auto: what the product picks on this machine)")
    p.add_argument("--all-backends-max", type=int, default=1000,
                   help="full builds with every backend up to this size; only the default backend above")
    p.add_argument("--real-build-max", type=int, default=10000,
                   help="rungs above this are built with hashing vectors (structure only: split, BM25, HNSW, disk, "
                        "latency with the real model encoding the question); their encode rates come from a sample")
    p.add_argument("--floor-sample", type=int, default=1000, help="encode-rate sample for rungs above this size")
    p.add_argument("--questions", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--embedder", choices=["real", "hashing"], default="real", help="hashing: a smoke run, no model")
    p.add_argument("--corpus", default="", help="a folder of .txt files instead of the Debian docs (smoke runs)")
    p.add_argument("--json", default="", help="write the results here as JSON")
    p.add_argument("--render", default="", help="print the table of an earlier run's JSON file and exit")
    p.add_argument("--requery", default="", help="re-run the query and cold phases of an earlier run's JSON file")
    p.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    p.add_argument("--phase-args", default="{}", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import assistant  # noqa: F401  (offline environment)

    args = parse(argv)
    if args.phase:
        print(json.dumps(PHASES[args.phase](json.loads(args.phase_args))))
        return 0
    if args.requery:
        print(table(requery(Path(args.requery), args, log=lambda m: print(m, file=sys.stderr, flush=True))))
        return 0
    if args.render:
        results = json.loads(Path(args.render).read_text())
        for rung in results["rungs"]:
            rung["derived"] = derive(rung, args.default_backend)
        print(table(results))
        return 0
    results = run(args, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(table(results))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
