"""Sentence vectors made at build time (one forward pass per passage), titles embedded with passages,
and the fitted retrieval weights: stored, reused, checked for damage, and read by search."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, Settings, search, store
from assistant import index as indexer
from assistant.embed import HashingEmbedder, pool_spans
from assistant.errors import DamagedIndexError
from assistant.types import Passage

from .conftest import DOCS, RecordingEmbedder, write_docs

TITLED = {
    **{k: v for k, v in DOCS.items()},
    "lead.txt": "Quillon Observatory\n\n" + " ".join(
        f"Fact {i} about the Quillon Observatory says that its dome number {i} was rebuilt in {1880 + i}."
        for i in range(20)) + "\n",
    "one.txt": "The ferry to the island leaves every hour from the north pier.\n",
}


@pytest.fixture
def cfg(tmp_path: Path) -> Settings:
    return Settings(seeds=write_docs(tmp_path / "seeds", TITLED), index=tmp_path / "index")


def sentence_rows(snap: store.Snapshot, row: int) -> list[tuple[int, int]]:
    p = snap.passages[row]
    return [(p.start + int(a), p.start + int(b)) for a, b in snap.sentences.spans[snap.sentences.of(row)]]


def test_stored_sentences_are_exactly_the_sentences_of_each_passage(cfg):
    _, snap = indexer.build(cfg, HashingEmbedder())
    assert len(snap.sentences.vectors) == snap.sentences.rows[-1] > len(snap.passages)
    assert snap.sentences.vectors.dtype == np.float16
    for row, p in enumerate(snap.passages):
        assert sentence_rows(snap, row) == [(s.start, s.end) for s in search.sentence_spans(p)]
    loaded = store.load(cfg.index)
    assert np.array_equal(loaded.sentences.vectors, snap.sentences.vectors)
    assert np.array_equal(loaded.sentences.rows, snap.sentences.rows)
    assert loaded.titles == snap.titles


def test_sentence_vectors_are_the_pooled_features_of_each_sentence(cfg):
    embedder = HashingEmbedder()
    _, snap = indexer.build(cfg, embedder)
    for row, p in enumerate(snap.passages):
        for (start, end), vector in zip(sentence_rows(snap, row), snap.sentences.vectors[snap.sentences.of(row)]):
            expected = embedder.encode([p.text[start - p.start : end - p.start]])[0]
            assert np.allclose(vector.astype(np.float32), expected, atol=2e-3)


def test_one_sentence_passage_gets_the_passage_vector(cfg):
    _, snap = indexer.build(cfg, HashingEmbedder())
    (row,) = [r for r, p in enumerate(snap.passages) if p.doc == "one.txt"]
    assert snap.titles[row] == "" and len(sentence_rows(snap, row)) == 1
    (vector,) = snap.sentences.vectors[snap.sentences.of(row)]
    assert np.allclose(vector.astype(np.float32), snap.vectors[row], atol=2e-3)


def test_pooling_over_the_whole_text_is_the_mean_pooled_text_vector():
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(7, 5)).astype(np.float32)
    offsets = np.array([[0, 0], [0, 3], [4, 9], [9, 10], [11, 15], [15, 16], [0, 0]])
    special = np.array([1, 0, 0, 0, 0, 0, 1], dtype=bool)
    text_vector = tokens.mean(axis=0) / np.linalg.norm(tokens.mean(axis=0))
    whole, first, cut = pool_spans(tokens, offsets, special, [(0, 16), (0, 10), (40, 50)], text_vector)
    assert np.allclose(whole, text_vector, atol=1e-6)
    part = tokens[[0, 1, 2, 3, 6]].mean(axis=0)
    assert np.allclose(first, part / np.linalg.norm(part), atol=1e-6)
    assert np.allclose(cut, text_vector)  # a span past the token window falls back to the text's vector


def test_unchanged_passages_are_never_embedded_again(cfg):
    embedder = RecordingEmbedder()
    _, first = indexer.build(cfg, embedder)
    calls, texts = embedder.calls, embedder.texts_encoded
    assert texts == len(set(embedder.seen))  # one pass per distinct passage, none per sentence
    embedder.seen.clear()
    with open(cfg.seeds / "one.txt", "a", encoding="utf-8") as f:
        f.write("In winter the last ferry leaves at six in the evening.\n")
    report, second = indexer.build(cfg, embedder)
    assert report.changed == ("one.txt",)
    assert embedder.calls == calls + 1 and embedder.texts_encoded == texts + 1
    assert all("ferry" in t for t in embedder.seen)
    old = {p.id: row for row, p in enumerate(first.passages)}
    reused = 0
    for row, p in enumerate(second.passages):
        if p.id in old:
            was = old[p.id]
            assert np.array_equal(second.sentences.vectors[second.sentences.of(row)],
                                  first.sentences.vectors[first.sentences.of(was)])
            assert sentence_rows(second, row) == sentence_rows(first, was)
            reused += 1
    assert reused == len(second.passages) - 1


@pytest.mark.parametrize("damage", ["delete", "truncate", "flip", "unlisted", "rows"])
def test_damaged_or_missing_sentence_files_are_detected_and_rebuilt(cfg, damage):
    _, snap = indexer.build(cfg, HashingEmbedder())
    folder = cfg.index / snap.generation
    manifest_path = cfg.index / store.MANIFEST
    if damage == "delete":
        (folder / "sentence_vectors.npy").unlink()
    elif damage == "truncate":
        path = folder / "sentence_vectors.npy"
        path.write_bytes(path.read_bytes()[:-100])
    elif damage == "flip":
        path = folder / "sentence_spans.npy"
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    elif damage == "unlisted":  # the manifest no longer lists the file at all
        manifest = json.loads(manifest_path.read_text())
        del manifest["files"]["sentence_rows.npy"]
        manifest_path.write_text(json.dumps(manifest))
    else:  # consistent checksums, inconsistent content: rows that do not cover the sentences
        rows = np.load(folder / "sentence_rows.npy")
        rows[-1] -= 1
        np.save(folder / "sentence_rows.npy", rows)
        manifest = json.loads(manifest_path.read_text())
        path = folder / "sentence_rows.npy"
        manifest["files"]["sentence_rows.npy"] = {"size": path.stat().st_size, "sha256": store._sha256(path)}
        manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(DamagedIndexError):
        store.load(cfg.index)
    report, rebuilt = indexer.build(cfg, HashingEmbedder())
    assert report.full_rebuild
    assert store.load(cfg.index).sentences.rows[-1] == rebuilt.sentences.rows[-1]


def test_titles_are_embedded_but_offsets_and_texts_stay_exact(cfg):
    embedder = RecordingEmbedder()
    _, snap = indexer.build(cfg, embedder)
    lead = (cfg.seeds / "lead.txt").read_text(encoding="utf-8")
    rows = [r for r, p in enumerate(snap.passages) if p.doc == "lead.txt"]
    assert len(rows) >= 2
    first, *rest = rows
    assert snap.titles[first] == ""  # it starts with its title already
    for row in rest:
        p = snap.passages[row]
        assert snap.titles[row] == "Quillon Observatory"
        assert lead[p.start : p.end] == p.text and not p.text.startswith("Quillon Observatory\n")
        assert "Quillon Observatory — " + p.text in embedder.seen
        assert sentence_rows(snap, row) == [(s.start, s.end) for s in search.sentence_spans(p)]
    a = Assistant(settings=cfg, embedder=HashingEmbedder(), auto_refresh=False)
    hits = a.retrieve("dome number 17 rebuilt", k=5)
    assert any(h.doc == "lead.txt" for h in hits)
    for hit in hits:
        if hit.doc == "lead.txt":
            assert lead[hit.start : hit.end] == hit.text
            for s in hit.sentences:
                assert hit.start <= s.start < s.end <= hit.end


def test_titles_of_a_document():
    def passage(text: str, heading: str = "") -> Passage:
        return Passage("x", "d.md", 0, len(text), text, heading)

    passages = [passage("# Cooking\nStep one.", "Cooking"), passage("Step two.", "Cooking"),
                passage("## Prices\nA croissant.", "Prices"), passage("A baguette.", "Prices")]
    assert indexer.titles_of(passages) == ["", "Cooking", "Cooking", "Cooking — Prices"]
    untitled = [passage("The ferry leaves every hour."), passage("## Winter\nIt stops.", "Winter")]
    assert indexer.titles_of(untitled) == ["", ""]
    assert indexer.embedded_text("T", "body") == "T — body" and indexer.embedded_text("", "body") == "body"


def test_a_title_that_would_not_fit_the_window_is_dropped(tmp_path):
    long_title = " ".join(["Heading"] * 9)
    text = long_title + "\n\n" + " ".join(f"word{i} is here." for i in range(120)) + "\n"
    cfg = Settings(seeds=write_docs(tmp_path / "seeds", {"a.txt": text}), index=tmp_path / "index", max_tokens=60)
    embedder = HashingEmbedder(max_tokens=60)
    _, snap = indexer.build(cfg, embedder)
    for p, title in zip(snap.passages, snap.titles):
        assert embedder.count_tokens(indexer.embedded_text(title, p.text)) <= 60


def test_retrieve_embeds_only_the_question(cfg):
    embedder = HashingEmbedder()
    a = Assistant(settings=cfg, embedder=embedder, auto_refresh=False)
    a.build()
    before = embedder.texts_encoded
    hits = a.retrieve("When does the night train leave Vienna?", k=3)
    assert hits and embedder.texts_encoded == before + 1


# ---------------------------------------------------------------------------------------------------
# Fitted weights


def test_weights_load_from_the_retrieval_key(tmp_path):
    path = tmp_path / "weights.json"
    assert search.load_weights(path) == search.Weights()  # no file: the defaults
    path.write_text(json.dumps({"answer": {"x": 1}, "retrieval": {"weights": {"lexical": 0.25, "passage": 0.3,
                                                                               "unknown": 5}}}))
    w = search.load_weights(path)
    assert w.lexical == 0.25 and w.passage == 0.3 and w.dense == search.Weights().dense
    path.write_text(json.dumps({"answer": {"x": 1}}))  # the answerer's key alone: defaults
    assert search.load_weights(path) == search.Weights()
    path.write_text("{not json")
    assert search.load_weights(path) == search.Weights()


def test_the_packaged_weights_file_is_read(monkeypatch, tmp_path):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"retrieval": {"weights": {"lexical": 0.0}}}))
    monkeypatch.setattr(search, "WEIGHTS_FILE", path)
    assert search.load_weights().lexical == 0.0
    assert search.load_weights(search.Path(__file__).parent.parent / "assistant/weights.json").title > 0  # fitted


def test_a_zero_weight_ranking_adds_no_candidates():
    assert [row for row, _ in search.fuse([[1, 2], [3, 4]], 60, [1.0, 0.0])] == [1, 2]
    weighted = dict(search.fuse([[1, 2], [2, 1]], 60, [1.0, 0.5]))
    assert weighted[1] > weighted[2]  # dense's first beats BM25's first when BM25 weighs less


def test_search_uses_the_given_weights(cfg):
    embedder = HashingEmbedder()
    a = Assistant(settings=cfg, embedder=embedder, auto_refresh=False)
    a.build()
    snap = a.snapshot()
    cache = search.VectorCache(embedder)
    from assistant.question import analyse

    q = analyse("How much does a croissant cost?")
    dense_only = search.search(snap, cache, q, 3, weights=search.Weights(lexical=0.0, sentence=0.0, passage=1.0,
                                                                          fusion=0.0))
    vector = embedder.encode([q.query])[0]
    expected = [snap.passages[row] for row, _ in search.dense(snap, vector, 3)]
    assert [(h.doc, h.start) for h in dense_only][:1] == [(p.doc, p.start) for p in expected][:1]


def test_fit_script_writes_only_the_retrieval_key(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("fit_retrieval", Path(__file__).parent.parent / "eval/fit_retrieval.py")
    fit = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "fit_retrieval", fit)  # dataclasses look their module up there
    spec.loader.exec_module(fit)
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"answer": {"w": [1, 2]}}))
    fit.write_weights(path, {"weights": {"lexical": 0.2}})
    data = json.loads(path.read_text())
    assert data == {"answer": {"w": [1, 2]}, "retrieval": {"weights": {"lexical": 0.2}}}
    assert search.load_weights(path).lexical == 0.2


# ---------------------------------------------------------------------------------------------------
# The real model: one forward pass gives the text's vector and its sentences' pooled vectors


@pytest.mark.slow
def test_real_model_pools_sentences_from_one_forward_pass(tmp_path):
    from assistant.embed import OnnxEmbedder, SentenceTransformerEmbedder, packaged_model_path

    path = packaged_model_path()
    texts = ["Quillon Observatory — The observatory was founded in 1881. It stands on the island of Tessa.",
             "The ferry to the island leaves every hour from the north pier.",
             "Sleeper cabins have three beds; couchettes have six. Dr. Novák calls it calm."]
    spans = [[(22, 58), (59, len(texts[0]))], [(0, len(texts[1]))], [(0, 52), (53, len(texts[2]))]]
    reference = SentenceTransformerEmbedder(path).encode(texts)
    outputs = {}
    for name, embedder in (("torch", SentenceTransformerEmbedder(path)),
                           ("bf16", SentenceTransformerEmbedder(path, bf16=True)),
                           ("onnx", OnnxEmbedder(path, cache=tmp_path))):
        vectors, pooled = embedder.encode_passages(texts * 2, spans * 2)  # 6 texts: bf16 batches
        assert embedder.texts_encoded == 6  # one pass per text, none per sentence
        assert vectors.shape == (6, embedder.dim) and pooled.shape == (10, embedder.dim)
        assert np.min(np.sum(vectors[:3] * reference, axis=1)) > 0.999  # the text vectors are encode()'s
        assert np.allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-4)
        # a passage of one sentence: its sentence's pooled vector is the passage's vector
        assert float(pooled[2] @ vectors[1]) > 0.9999
        outputs[name] = pooled[:5]
    assert np.min(np.sum(outputs["onnx"] * outputs["torch"], axis=1)) > 0.9999
    assert np.min(np.sum(outputs["bf16"] * outputs["torch"], axis=1)) > 0.99


def test_title_match_counts_the_title_words_the_question_names(cfg):
    _, snap = indexer.build(cfg, HashingEmbedder())
    from assistant.lexical import terms

    rows = [r for r, p in enumerate(snap.passages) if p.doc == "lead.txt"]
    asked = set(terms("When was the Quillon Observatory founded?"))
    assert all(search.title_match(snap, r, asked) == 1.0 for r in rows)
    assert search.title_match(snap, rows[0], set(terms("Where is the observatory?"))) == 0.5
    (one,) = [r for r, p in enumerate(snap.passages) if p.doc == "one.txt"]
    assert search.title_match(snap, one, asked) == 0.0  # no title, no heading
