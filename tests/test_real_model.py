"""The behaviour that matters, with the real packaged embedding model on the seed article."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import assistant
from assistant import evaluate
from assistant.cli import main

from .conftest import EVAL_SET, REPO

pytestmark = pytest.mark.slow

QUESTION = "What did Merz say about Article 5?"
QUOTE = "“This is a truly far-reaching and substantial agreement"

# Measured with `.venv/bin/assistant eval` on eval/seed.jsonl: 85 questions, hit@1 72/85 (84.7%),
# hit@5 85/85 (100%), MRR 0.909. The floors allow at most one question of slack. (Before sentence
# vectors were pooled at build time and the weights fitted on all dev sets, hit@1 was 79/85: pooled
# sentence vectors cost 2 questions with the fitted weights, the weights fitted on four sets 5 more.)
HIT_AT_1_FLOOR = 71 / 85
HIT_AT_5_FLOOR = 84 / 85


def test_cli_search_puts_the_merz_quote_first(real_assistant, capsys):
    s = real_assistant.settings
    assert main(["--seeds", str(s.seeds), "--index", str(s.index), "search", QUESTION, "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert QUOTE in hits[0]["text"]
    assert hits[0]["rank"] == 1
    text = (s.seeds / hits[0]["doc"]).read_text(encoding="utf-8")
    for h in hits:
        assert text[h["start"] : h["end"]] == h["text"]


def test_retrieve_puts_the_merz_quote_first(real_assistant):
    hits = real_assistant.retrieve(QUESTION, k=5)
    assert QUOTE in hits[0].text
    assert all(QUOTE not in h.text for h in hits[1:])  # shown once, not repeated by overlapping passages
    text = (real_assistant.settings.seeds / hits[0].doc).read_text(encoding="utf-8")
    for h in hits:
        assert text[h.start : h.end] == h.text


def test_every_passage_fits_the_model_window(real_assistant):
    embedder = real_assistant.embedder
    snapshot = real_assistant.snapshot()
    assert embedder.max_tokens == 256 and embedder.dim == 384
    assert snapshot.vectors.shape == (len(snapshot.passages), 384)
    assert all(embedder.count_tokens(p.text) <= 256 for p in snapshot.passages)


def test_eval_set_retrieval_figures(real_assistant):
    records = evaluate.load_questions(EVAL_SET)
    report = evaluate.evaluate_retrieval(real_assistant, records, k=5)
    figures = report.as_dict()
    assert figures["questions"] == len(evaluate.retrieval_items(records)) >= 80
    missed = [(m["id"], m["rank"]) for m in figures["missed"]]
    assert report.hit_at(5) >= HIT_AT_5_FLOOR, missed
    assert report.hit_at(1) >= HIT_AT_1_FLOOR, missed


def test_default_assistant_through_the_package(tmp_path, monkeypatch):
    """`import assistant; assistant.retrieve(...)` uses ./seeds and ./index of the working directory."""
    shutil.copytree(REPO / "seeds", tmp_path / "seeds")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(assistant, "_default", None)

    hits = assistant.retrieve(QUESTION, k=3)
    assert len(hits) == 3 and QUOTE in hits[0].text
    assert isinstance(hits[0], assistant.Hit)
    assert (tmp_path / "index" / "manifest.json").exists()
    default = assistant.default()
    assert default.settings.seeds == Path("seeds") and default.settings.index == Path("index")
    assert assistant.default() is default  # one per process
