"""The reranker's effect and cost, side by side in one run (never a pass/fail on time).

    .venv/bin/python -m bench.rerank [--sets seed,heldout,heldout2] [--json FILE]

For each CrossEncoder built on the spot by bench/tiny.py (nothing is downloaded): the tests' tiny one
(1 layer, 32 wide) and one of the shape of cross-encoder/ms-marco-MiniLM-L6-v2 (the packaged MiniLM
encoder with an untrained head), both without training, so they measure the plumbing and the cost, not
what a trained reranker would gain:
- retrieval hit@1, hit@5, MRR and the answer figures of each question set on seeds/, without and with it;
- retrieve() per question, without and with it, interleaved question by question after one warm-up
  pass (so both see warm caches), on the sets' questions: p50 and p95 in ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from assistant import Assistant, Settings
from assistant.evaluate import evaluate_set, load_registry, load_set

from .tiny import build_cross_encoder, build_minilm_cross_encoder


def _figures(rows: list[dict]) -> dict:
    row = rows[-1]  # the set's last row: its only split, or dev+test
    r, a = row["retrieval"], row["answers"]
    return {"questions": r["questions"], "hit@1": r["hit@1"], "hit@5": r.get("hit@5"), "mrr": r["mrr"],
            "answers": {key: v for key, v in a.items() if isinstance(v, (int, float))}}


def _times(plain: Assistant, reranked: Assistant, questions: list[str]) -> dict:
    for q in questions:  # warm-up: models loaded, caches filled for both
        plain.retrieve(q)
        reranked.retrieve(q)
    without, with_ = [], []
    for q in questions:
        t0 = time.perf_counter()
        plain.retrieve(q)
        t1 = time.perf_counter()
        reranked.retrieve(q)
        t2 = time.perf_counter()
        without.append(1000 * (t1 - t0))
        with_.append(1000 * (t2 - t1))

    def pct(values: list[float]) -> dict:
        values = sorted(values)
        return {"p50": round(statistics.median(values), 1), "p95": round(values[int(0.95 * (len(values) - 1))], 1)}

    return {"questions": len(questions), "without_ms": pct(without), "with_ms": pct(with_)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="seed,heldout,heldout2")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    wanted = args.sets.split(",")
    sets = [qs for qs in load_registry() if qs.name in wanted and qs.folder() is None]  # the sets on seeds/
    settings = Settings.from_env()
    plain = Assistant(settings=settings)
    plain.build()
    out: dict = {"sets": {}, "cost": {}}
    with tempfile.TemporaryDirectory() as tmp:
        models = {"tiny (1 layer, 32 wide)": build_cross_encoder(Path(tmp) / "tiny", seed=3),
                  "MiniLM-L6 shape (6 layers, 384 wide)": build_minilm_cross_encoder(Path(tmp) / "minilm")}
        questions = [r["question"] for qs in sets for r in load_set(qs) if r.get("question")]
        for qs in sets:
            out["sets"][qs.name] = {"without": _figures(evaluate_set(plain, qs))}
        for label, folder in models.items():
            reranked = Assistant(settings=settings.with_(reranker=str(folder)), embedder=plain.embedder)
            for qs in sets:
                out["sets"][qs.name][label] = _figures(evaluate_set(reranked, qs))
            out["cost"][label] = _times(plain, reranked, questions)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
