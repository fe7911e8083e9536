"""A tiny run of the benchmark, so bench/ keeps working: a few documents, the hashing embedder.
It checks that every figure is produced, never how fast anything is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run as bench

from .conftest import DOCS, write_docs


@pytest.mark.slow
def test_bench_smoke_run_produces_every_figure(tmp_path: Path) -> None:
    corpus = write_docs(tmp_path / "corpus", {name: text for name, text in DOCS.items() if name.endswith(".txt")})
    (corpus / "more.txt").write_text(
        "The ferry to the island leaves every hour from the north pier. "
        "Tickets cost four euros and can be bought on board. "
        "In winter the last ferry leaves at six in the evening.\n", encoding="utf-8")
    out = tmp_path / "results.json"
    args = bench.parse(["--sizes", "20", "--embedder", "hashing", "--corpus", str(corpus),
                        "--cache", str(tmp_path / "cache"), "--questions", "3", "--json", str(out)])
    results = bench.run(args, log=lambda message: None)
    assert json.loads(out.read_text()) == results
    (rung,) = results["rungs"]
    assert "error" not in rung["floor"] and rung["floor"]["floor_rate"] > 0
    build = rung["builds"]["hashing"]
    assert "error" not in build
    assert build["passages"] == rung["floor"]["passages"] > 0
    assert build["edit_embedded"] >= 1 and build["add_embedded"] >= 1  # only the touched documents
    assert "error" not in rung["query"] and rung["query"]["questions"] >= 2
    assert rung["query"]["hnsw_recall@10"] > 0 and rung["query"]["hnsw_recall@10_ties"] > 0
    assert rung["query"]["busy_retrieve_p50_ms"] > 0 and rung["query"]["busy_query_floor_p50_ms"] > 0
    assert rung["cold"]["cold_rc"] == 0, rung["cold"]["cold_error"]
    derived = rung["derived"]
    for key in ("retrieve_vs_query_floor", "ask_vs_retrieve", "edit_vs_full[hashing]", "disk_vs_raw[hashing]"):
        assert derived[key] > 0
    text = bench.table(results)
    assert "retrieve p50" in text and "index on disk" in text and "cold start" in text
    # the seeds folder is back to the rung's documents after the incremental runs
    seeds = tmp_path / "cache" / "smoke" / "20" / "seeds"
    assert not (seeds / "bench-added.txt").exists()
    assert (seeds / "solar.txt").read_bytes() == (corpus / "solar.txt").read_bytes()
