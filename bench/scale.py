"""The Milvus store and Ray embedding beside the folder store, on one rung of bench/run.py's ladder.

    .venv/bin/python -m bench.scale --size 10000 --json bench/scale-10000.json           # real model
    .venv/bin/python -m bench.scale --size 100000 --hashing --json bench/scale-100000.json  # structure only

For each store (faiss: the index folder; milvus: Milvus Lite, a .db in the rung's folder):
  build   a full build (real model, or hashing vectors with --hashing), then the rebuild after appending a
          paragraph to one document: seconds, peak RSS of the process, bytes on disk
  query   retrieve p50/p95 over --questions questions, every one new (the question and sentence caches are
          cleared before each), and recall@10 of the store's dense search against exact search over the
          same stored vectors (ties counted by score), peak RSS
and, unless --no-ray, the folder store built again with its passages embedded on a local Ray instance
(`ray="local"`, all CPUs of this machine), against the local build above, and their vectors compared.
The rung's seeds come from bench/run.py (run it once, or `python -m bench.run --sizes N` stops after
making them). Each phase runs in a fresh process; nothing here fails on a timing.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.run import (
    _embedder,
    _folder_bytes,
    _passages,
    _pct,
    median_document_edited,
    questions_for,
    timed_build,
)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _settings(a: dict):
    from assistant import Settings

    root = Path(a["root"])
    return Settings(seeds=root / "seeds", index=root / f"index-{a['name']}", threads=a["threads"],
                    store=a["store"], milvus_uri=str(root / f"index-{a['name']}" / "milvus.db"),
                    ray=a.get("ray", ""), auto_refresh=False,
                    embed_backend="torch" if a["hashing"] else "auto")


def phase_build(a: dict) -> dict:
    from assistant import Assistant

    settings = _settings(a)
    shutil.rmtree(settings.index, ignore_errors=True)
    embedder = _embedder("hashing" if a["hashing"] else "auto", a["threads"])
    embedder.encode(["warm up"])  # the model's load is not part of the build
    assistant = Assistant(settings=settings, embedder=embedder)
    out: dict = {}
    if settings.ray:
        from assistant import workers

        t = time.perf_counter()
        workers.connect("local")  # Ray's start-up, measured on its own (the build reuses this instance)
        out["ray_start_s"] = time.perf_counter() - t
    t = time.perf_counter()
    report = assistant.build()
    out["full_s"] = time.perf_counter() - t
    out["passages"], out["embedded"] = report.passages_total, report.passages_embedded
    out["maxrss_full_mb"] = _maxrss_mb()
    out["disk_bytes"] = _folder_bytes(settings.index)
    snapshot = assistant.snapshot()
    rows = list(range(len(snapshot.passages)))
    np.save(Path(a["root"]) / f"vectors-{a['name']}.npy", snapshot.passage_vectors(rows))
    _, sentences = snapshot.sentence_vectors(rows)
    np.save(Path(a["root"]) / f"sentences-{a['name']}.npy", np.asarray(sentences, np.float32))
    out["sentences"] = len(sentences)
    if settings.ray or a.get("no_edit"):
        out["maxrss_mb"] = _maxrss_mb()
        return out  # the Ray comparison is about embedding; the rest of the build is the local one
    try:
        with median_document_edited(settings.seeds):
            timed_build(assistant, out, "edit")
    finally:
        assistant.build()
    out["disk_bytes_after"] = _folder_bytes(settings.index)
    out["maxrss_mb"] = _maxrss_mb()
    return out


def phase_query(a: dict) -> dict:
    from assistant import Assistant, search
    from assistant.embed import set_threads

    settings = _settings(a)
    set_threads(a["threads"])
    embedder = _embedder("auto", a["threads"])  # questions in the real model even on hashing rungs
    assistant = Assistant(settings=settings, embedder=embedder)
    t = time.perf_counter()
    assistant._snapshot = snapshot = settings_store(settings).load()
    out = {"load_s": time.perf_counter() - t}
    questions = a["questions"]
    assistant.retrieve("warm up question")
    retrieve_ms = []
    for q in questions:
        assistant._cache = None  # every question new: nothing of it cached
        t = time.perf_counter()
        assistant.retrieve(q)
        retrieve_ms.append((time.perf_counter() - t) * 1000)
    out["retrieve_p50_ms"], out["retrieve_p95_ms"] = statistics.median(retrieve_ms), _pct(retrieve_ms, 95)
    # recall@10 of the store's dense search against exact search over the vectors the store holds
    vectors = snapshot.passage_vectors(list(range(len(snapshot.passages))))
    qv = np.asarray(_embedder("hashing" if a["hashing"] else "auto", a["threads"]).encode(questions), np.float32)
    extra = vectors[:: max(1, len(vectors) // 200)][:200]  # passages as queries too, as bench/run.py does
    qv = np.concatenate([qv, extra + 0.05 * np.random.default_rng(0).standard_normal(extra.shape).astype("f4")])
    qv /= np.linalg.norm(qv, axis=1, keepdims=True)
    k = 10
    hits, dense_ms = 0, []
    for v in qv:
        exact = vectors @ v
        kth = np.partition(-exact, k - 1)[k - 1]  # the 10th best score: a result at least as good counts
        t = time.perf_counter()
        got = search.dense(snapshot, v, k)
        dense_ms.append((time.perf_counter() - t) * 1000)
        hits += sum(1 for row, _ in got if exact[row] >= -kth - 1e-5)
    out["recall@10"] = hits / (k * len(qv))
    out["dense_p50_ms"] = statistics.median(dense_ms)
    out["maxrss_mb"] = _maxrss_mb()
    return out


def phase_agreement(a: dict) -> dict:
    """Do the two stores find the same? BM25 top-30 (Milvus's IDF is per segment, bm25s's global), dense
    top-30, and retrieve()'s top 5, question by question, on the two indexes of this rung."""
    from assistant import Assistant
    from assistant.embed import set_threads

    set_threads(a["threads"])
    embedder = _embedder("hashing" if a["hashing"] else "auto", a["threads"])
    stores = {}
    for name in ("faiss", "milvus"):
        settings = _settings({**a, "store": name, "name": f"scale-{name}" + ("-hashing" if a["hashing"] else "")})
        assistant = Assistant(settings=settings, embedder=embedder)
        assistant._snapshot = settings_store(settings).load()
        stores[name] = assistant
    f, m = stores["faiss"], stores["milvus"]
    bm25, dense, top5, same_top1 = [], [], [], 0
    for q in a["questions"]:
        fb = {r for r, _ in f.snapshot().lexicon.top(q, 30)}
        mb = {r for r, _ in m.snapshot().lexicon.top(q, 30)}
        bm25.append(len(fb & mb) / max(len(fb | mb), 1))
        v = embedder.encode([q])[0]
        fd = {r for r, _ in f.snapshot().dense(v, 30)}
        md = {r for r, _ in m.snapshot().dense(v, 30)}
        dense.append(len(fd & md) / max(len(fd | md), 1))
        fh = [(h.doc, h.start, h.end) for h in f.retrieve(q)]
        mh = [(h.doc, h.start, h.end) for h in m.retrieve(q)]
        top5.append(fh == mh)
        same_top1 += bool(fh and mh and fh[0] == mh[0])
    n = len(a["questions"])
    return {"questions": n, "bm25_top30_jaccard": statistics.mean(bm25), "dense_top30_jaccard": statistics.mean(dense),
            "retrieve_top5_identical": sum(top5) / n, "retrieve_top1_identical": same_top1 / n}


def settings_store(settings):
    from assistant import store

    return store.open_store(settings)


PHASES = {"build": phase_build, "query": phase_query, "agreement": phase_agreement}


def child(phase: str, args: dict, log) -> dict:
    cmd = ["nice", "-n", "10", sys.executable, "-m", "bench.scale", "--phase", phase, "--phase-args", json.dumps(args)]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        log(f"  {phase} {args.get('name')}: failed ({done.stderr.strip().splitlines()[-1:]})")
        return {"error": done.stderr.strip()[-2000:]}
    log(f"  {phase} {args.get('name')} done in {time.perf_counter() - t:.0f}s")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(args: argparse.Namespace, log) -> dict:
    from bench.run import machine

    root = Path(args.cache).expanduser() / "rungs" / str(args.size)
    if not (root / "seeds").is_dir():
        raise SystemExit(f"{root / 'seeds'} is missing: run `python -m bench.run --sizes {args.size}` first")
    base = {"root": str(root), "threads": args.threads, "hashing": args.hashing, "no_edit": args.no_edit}
    results: dict = {"machine": machine(), "command": " ".join(["python -m bench.scale", *sys.argv[1:]]),
                     "started": time.strftime("%Y-%m-%d %H:%M:%S"), "size": args.size, "stores": {}}
    counter = _embedder("hashing" if args.hashing else "torch", args.threads)
    questions = questions_for(_passages(root / "seeds", counter), args.questions)
    for store in args.stores.split(","):
        a = {**base, "store": store, "name": f"scale-{store}" + ("-hashing" if args.hashing else "")}
        log(f"{store}:")
        results["stores"][store] = {"build": child("build", a, log),
                                    "query": child("query", {**a, "questions": questions}, log)}
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
    if set(args.stores.split(",")) == {"faiss", "milvus"}:
        results["agreement"] = child("agreement", {**base, "questions": questions}, log)
    if not args.no_ray:
        log("faiss with Ray embedding:")
        a = {**base, "store": "faiss", "name": "scale-faiss-ray" + ("-hashing" if args.hashing else ""), "ray": "local"}
        results["ray"] = child("build", a, log)
        local = np.load(root / f"vectors-{base_name('faiss', args)}.npy")
        remote = np.load(root / f"vectors-{a['name']}.npy")
        results["ray"]["max_abs_diff_vs_local"] = float(np.abs(local - remote).max()) if local.shape == remote.shape else None
        ls = np.load(root / f"sentences-{base_name('faiss', args)}.npy")
        rs = np.load(root / f"sentences-{a['name']}.npy")
        results["ray"]["sentence_max_abs_diff_vs_local"] = float(np.abs(ls - rs).max()) if ls.shape == rs.shape else None
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


def base_name(store: str, args: argparse.Namespace) -> str:
    return f"scale-{store}" + ("-hashing" if args.hashing else "")


def table(results: dict) -> str:
    stores = results["stores"]
    names = list(stores)
    rows = []

    def row(label, fn):
        cells = []
        for s in names:
            try:
                cells.append(fn(stores[s]))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("–")
        rows.append(f"| {label} | " + " | ".join(cells) + " |")

    row("passages (sentences)", lambda s: f"{s['build']['passages']:,} ({s['build']['sentences']:,})")
    row("full build s (passages/s)", lambda s: f"{s['build']['full_s']:.1f} ({s['build']['passages'] / s['build']['full_s']:.1f}/s)")
    row("edit one doc: s (embedded)", lambda s: f"{s['build']['edit_s']:.2f} ({s['build']['edit_embedded']})")
    row("peak memory, build MB", lambda s: f"{s['build']['maxrss_mb']:.0f}")
    row("on disk MB", lambda s: f"{s['build']['disk_bytes'] / 1e6:.1f}")
    row("load the generation s", lambda s: f"{s['query']['load_s']:.2f}")
    row("retrieve p50 / p95 ms (every question new)", lambda s: f"{s['query']['retrieve_p50_ms']:.1f} / {s['query']['retrieve_p95_ms']:.1f}")
    row("dense search p50 ms (k=10)", lambda s: f"{s['query']['dense_p50_ms']:.2f}")
    row("recall@10 vs exact (by score)", lambda s: f"{s['query']['recall@10']:.3f}")
    row("peak memory, query process MB", lambda s: f"{s['query']['maxrss_mb']:.0f}")
    head = f"| ~{results['size']:,} passages | " + " | ".join(names) + " |"
    out = [head, "| --- |" + " --- |" * len(names), *rows]
    g = results.get("agreement")
    if g and "questions" in g:
        out.append("")
        out.append(f"Same finds, {g['questions']} questions: BM25 top-30 Jaccard {g['bm25_top30_jaccard']:.3f}, dense "
                   f"top-30 {g['dense_top30_jaccard']:.3f}; retrieve() top 5 identical for "
                   f"{100 * g['retrieve_top5_identical']:.0f}%, top 1 for {100 * g['retrieve_top1_identical']:.0f}%")
    r = results.get("ray")
    if r and "full_s" in r:
        local = stores.get("faiss", {}).get("build", {})
        out.append("")
        out.append(f"Ray (local, {results['machine']['nproc']} CPUs): start {r['ray_start_s']:.1f} s, build "
                   f"{r['full_s']:.1f} s against {local.get('full_s', float('nan')):.1f} s local "
                   f"({r['full_s'] / local['full_s']:.2f}x); vectors max |diff| {r['max_abs_diff_vs_local']}, "
                   f"sentence vectors {r['sentence_max_abs_diff_vs_local']}; peak memory of the driver "
                   f"{r['maxrss_full_mb']:.0f} MB")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    import assistant  # noqa: F401  (offline environment)

    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=10000, help="the rung (its seeds made by bench/run.py)")
    p.add_argument("--stores", default="faiss,milvus")
    p.add_argument("--hashing", action="store_true", help="hashing vectors: the stores' own costs, no model")
    p.add_argument("--no-ray", action="store_true")
    p.add_argument("--no-edit", action="store_true",
                   help="skip the edit-one-document rebuild (on Milvus it rewrites the whole generation, twice)")
    p.add_argument("--questions", type=int, default=50)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", default=str(Path.home() / ".cache" / "assistant-bench"))
    p.add_argument("--json", default="")
    p.add_argument("--render", default="", help="print the table of an earlier run's JSON and exit")
    p.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    p.add_argument("--phase-args", default="{}", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.phase:
        print(json.dumps(PHASES[args.phase](json.loads(args.phase_args))))
        return 0
    if args.render:
        print(table(json.loads(Path(args.render).read_text())))
        return 0
    results = run(args, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
