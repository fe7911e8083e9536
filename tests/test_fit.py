"""eval/fit_answer.py: the listwise weights choose as the data says; the reader's held-out records."""

from __future__ import annotations

import numpy as np

from assistant import answer as answerer
from eval import fit_answer
from eval.train_reader import cache_bottom, heldout, swapped


def _example(i: int, rng: np.random.Generator, set_name: str = "a") -> fit_answer.Example:
    """Six candidates; the right one has the highest "reader" reading give or take noise, and "length"
    says nothing."""
    n = 6
    features = np.zeros((n, len(answerer.FEATURES)))
    right = np.zeros(n, dtype=bool)
    right[i % n] = True
    features[:, answerer.FEATURES.index("reader")] = rng.normal(0, 1, n) + 3.0 * right
    features[:, answerer.FEATURES.index("length")] = rng.uniform(0, 1, n)
    features[:, answerer.FEATURES.index("bias")] = 1.0
    return fit_answer.Example(set_name, f"q{i}", "answerable", "what", f"question {i}", features, right,
                              [f"s{j}" for j in range(n)], [""] * n, {"facts": []}, False)


def test_the_listwise_fit_learns_which_feature_marks_the_right_sentence():
    rng = np.random.default_rng(0)
    examples = [_example(i, rng) for i in range(200)] + [_example(i, rng, "b") for i in range(50)]
    w = fit_answer.fit_weights(examples)
    reader, length = w[answerer.FEATURES.index("reader")], w[answerer.FEATURES.index("length")]
    assert reader > 1.0 and abs(length) < 0.5 * reader
    chosen = [e.right[int(np.argmax(e.features @ w))] for e in examples]
    assert np.mean(chosen) > 0.9


def test_the_reader_s_held_out_records_are_a_fixed_share_chosen_by_hash():
    records = [{"set": "genres-train", "id": f"q-{i}"} for i in range(2000)]
    held = [r for r in records if heldout(r)]
    assert 0.12 < len(held) / len(records) < 0.18
    assert held == [r for r in records if heldout(r)]  # the same every time
    assert fit_answer.HELD and "genres-train" + fit_answer.HELD in fit_answer.DEV_SETS


def _single(set_name: str, i: int, kind: str, reading: float) -> fit_answer.Example:
    """One question with two candidates: the first read at `reading`, the second far below it."""
    features = np.zeros((2, len(answerer.FEATURES)))
    features[:, answerer.FEATURES.index("reader")] = [reading, reading - 4.0]
    features[:, answerer.FEATURES.index("bias")] = 1.0
    right = np.array([kind == "answerable", False])
    return fit_answer.Example(set_name, f"{set_name}{i}", kind, "what", f"question {i}", features, right,
                              ["s0", "s1"], ["", ""], {"facts": ["s0"]}, False)


def test_a_floor_keeps_a_regression_set_s_right_answers():
    """Unanswerable questions read nearly as well as the weakest answerable ones: balanced accuracy gives up
    one answerable question of 30 (within the 5% allowed), unless that set has a floor."""
    seed = [-1.0, *np.linspace(1.0, 4.0, 29)]  # one answerable question read as poorly as most unanswerable ones
    examples = ([_single("seed", i, "answerable", reading) for i, reading in enumerate(seed)]
                + [_single("other", i, "unanswerable", reading) for i, reading in enumerate(np.linspace(-3.0, 0.5, 30))]
                + [_single("other", 100 + i, "answerable", 2.0 + i / 10) for i in range(30)])
    w = fit_answer.fit_weights(examples)
    free = fit_answer.figures(examples, w, fit_answer.fit_thresholds(examples, w))
    kept = fit_answer.figures(examples, w, fit_answer.fit_thresholds(examples, w, {"seed": 1.0}))
    assert free["seed"]["accuracy"] < 1.0 and free["other"]["abstained"] > kept["other"]["abstained"]
    assert kept["seed"]["accuracy"] == 1.0 and kept["seed"]["false_abstentions"] == 0.0


def test_a_question_kept_right_stays_right_even_without_a_set_floor():
    """As above, with no floor on the set's accuracy but the one poorly read seed question among those the
    replaced weights got right (right_ones): the cut must leave it answered."""
    seed = [-1.0, *np.linspace(1.0, 4.0, 29)]
    examples = ([_single("seed", i, "answerable", reading) for i, reading in enumerate(seed)]
                + [_single("other", i, "unanswerable", reading) for i, reading in enumerate(np.linspace(-3.0, 0.5, 30))]
                + [_single("other", 100 + i, "answerable", 2.0 + i / 10) for i in range(30)])
    w = fit_answer.fit_weights(examples)
    never = {"abstain_below": -1e9, "value_margin": 1e9, "extra_margin": 0.0, "value_required": False,
             "answerability": {"score": 1.0}}
    keep = fit_answer.right_ones(examples, w, never, ("seed",))
    assert "seed/seed0" in keep and len(keep) == 30
    free = fit_answer.fit_thresholds(examples, w)
    assert fit_answer.figures(examples, w, free, keep)["seed"]["lost"] == 1  # the free fit gives seed0 up
    t = fit_answer.fit_thresholds(examples, w, keep=keep)
    f = fit_answer.figures(examples, w, t, keep)
    assert f["seed"]["lost"] == 0 and f["seed"]["accuracy"] == 1.0
    refined, _ = fit_answer.refine_answerability(examples, w, t, keep=keep)
    assert fit_answer.figures(examples, w, refined, keep)["seed"]["lost"] == 0
    assert fit_answer.decide(examples[0], w, **refined)[0]  # seed0 itself is answered


def test_the_unsure_cut_lies_where_given_answers_turn_more_often_wrong_than_right():
    """Answers read well are right, answers read poorly are wrong: the cut falls between them, and the
    answers under it are right less often than those above."""
    rng = np.random.default_rng(1)
    examples = []
    for i, reading in enumerate(np.linspace(-2.0, 4.0, 120)):
        e = _single("a", i, "answerable", reading)
        if rng.uniform() > 1 / (1 + np.exp(-2 * (reading - 1.0))):  # read poorly: the right sentence is not chosen
            e.right[:] = False
            e.texts[0] = "something else"
        examples.append(e)
    w = np.zeros(len(answerer.FEATURES))
    w[answerer.FEATURES.index("reader")] = 1.0
    t = {"abstain_below": -1e9, "value_margin": 1e9, "extra_margin": 0.0, "value_required": False,
         "answerability": {"reader": 1.0}}
    unsure = fit_answer.fit_unsure(examples, w, t)
    assert 0.0 < unsure["below"] < 2.0
    f = unsure["figures"]["a"]
    assert f["answered"] == 120 and 0.2 < f["flagged"] < 0.8 and f["right_flagged"] < 0.5 < f["right_unflagged"]


def test_the_answerability_search_finds_the_fact_that_the_starting_direction_misses():
    """Unanswerable questions read as well as answerable ones, but their best sentence comes from a document
    that never uses the question's names. Starting from the reading alone, no cut abstains on them without
    costing answerable questions; the search weighs in names_off_doc and abstains on them."""
    rng = np.random.default_rng(2)
    off = answerer.FEATURES.index("names_off_doc")
    examples = []
    for i in range(60):
        e = _single("a", i, "answerable", rng.uniform(0.0, 4.0))
        examples.append(e)
        u = _single("a", 100 + i, "unanswerable", rng.uniform(0.0, 4.0))
        u.features[:, off] = 1.0
        examples.append(u)
    w = np.zeros(len(answerer.FEATURES))
    w[answerer.FEATURES.index("reader")] = 1.0
    start = {"abstain_below": -1e9, "value_margin": 1e9, "extra_margin": 0.0, "value_required": False,
             "answerability": {n: float(n == "reader") for n in answerer.ANSWERABILITY}}
    before = fit_answer.figures(examples, w, start)
    refined, search = fit_answer.refine_answerability(examples, w, start)
    after = fit_answer.figures(examples, w, refined)
    assert refined["answerability"]["names_off_doc"] < 0 and search["steps"]
    assert search["objective"][1] > search["objective"][0]
    assert before["a"]["abstained"] == 0.0 and after["a"]["abstained"] > 0.9
    assert after["a"]["false_abstentions"] <= fit_answer.MAX_FALSE_ABSTENTIONS and after["a"]["accuracy"] > 0.95


def test_the_threshold_search_keeps_the_replaced_setting_when_the_grid_cannot_meet_the_floors():
    """Every answer needs its two best sentences, 0.5 apart: the grid's extra margins (up to 0.2 of the
    spread) give one, and the floor (every question right) is met only by the replaced setting's 0.6."""
    examples = []
    for i in range(20):
        features = np.zeros((3, len(answerer.FEATURES)))
        features[:, answerer.FEATURES.index("reader")] = [3.0, 2.5, -5.0]
        features[:, answerer.FEATURES.index("bias")] = 1.0
        examples.append(fit_answer.Example("a", f"a{i}", "answerable", "what", f"question {i}", features,
                                           np.array([True, True, False]), ["s0", "s1", "s2"], ["", "", ""],
                                           {"facts": ["s0", "s1"]}, False))
    w = np.zeros(len(answerer.FEATURES))
    w[answerer.FEATURES.index("reader")] = 1.0
    replaced = {"abstain_below": -1e9, "value_margin": 1e9, "extra_margin": 0.6, "value_required": False,
                "answerability": {"score": 1.0}}
    alone = fit_answer.figures(examples, w, fit_answer.fit_thresholds(examples, w, {"a": 1.0}))
    assert alone["a"]["accuracy"] == 0.0  # the grid's best is infeasible
    kept = fit_answer.figures(examples, w, fit_answer.fit_thresholds(examples, w, {"a": 1.0}, incumbent=replaced))
    assert kept["a"]["accuracy"] == 1.0 and kept["a"]["false_abstentions"] == 0.0


def test_a_swapped_question_is_a_near_miss_its_old_answer_does_not_answer():
    import random

    rec = {"set": "wiki-train", "id": "q1", "kind": "answerable", "question": "What is the capital of Turkey?",
           "candidates": ["Ankara is Turkey's capital and second-largest city.", "Turkey is a country.",
                          "It borders Greece.", "Its currency is the lira."], "right": [True, False, False, False]}
    cos = np.array([0.9, 0.5, 0.2, 0.1])
    made, kept = swapped(rec, cos, ["population", "capital", "currency"], random.Random(0))
    # "capital" (its answer's word) becomes "population": not "capital" (the question's own word) nor
    # "currency" (a candidate has it), whichever the draw offers first
    assert made["question"] == "What is the population of Turkey?"
    assert made["kind"] == "unanswerable" and not any(made["right"]) and made["id"] == "q1/swap"
    assert made["candidates"][0] == rec["candidates"][0] and len(made["candidates"]) == 3  # the old answer + 2 wrong
    assert list(kept) == [0.9, 0.5, 0.2]
    # a question with no lower-case word after an article that its answer has: nothing to swap
    names_only = {**rec, "question": "Where is Ankara?"}
    assert swapped(names_only, cos, ["population"], random.Random(0)) is None


def test_the_cached_frozen_layers_are_the_full_model_s_hidden_states_there():
    import torch
    from transformers import AutoModel, AutoTokenizer

    from assistant.embed import packaged_model_path

    base = str(packaged_model_path())
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModel.from_pretrained(base, attn_implementation="eager").eval()
    pairs = [("When was it founded?", "The observatory was founded in 1881 by Mara Ellison."), ("Who?", "Nobody.")]
    cached = cache_bottom(model, tok, pairs, [2, 3])  # runs only the bottom 3 layers, on a copy
    fresh = AutoModel.from_pretrained(base, attn_implementation="eager").eval()
    with torch.no_grad():
        for i, (q, s) in enumerate(pairs):
            enc = tok(q, s, return_tensors="pt")
            full = fresh(**enc, output_hidden_states=True).hidden_states
            after = model(**enc, output_hidden_states=True).hidden_states  # the model itself is left whole
            assert len(after) == len(full) == 7
            for level in (2, 3):
                assert cached[level][i].shape == full[level][0].shape
                assert torch.allclose(cached[level][i].float(), full[level][0], atol=0.05)  # bfloat16 storage


class _LengthReader:
    """Reads a sentence as its length in characters, and records how many it was given."""

    def __init__(self) -> None:
        self.read: list[str] = []

    def score(self, question: str, texts: list[str]) -> np.ndarray:
        self.read += texts
        return np.array([float(len(t)) for t in texts])


def test_re_reading_saved_candidates_gives_the_reader_feature_that_answering_gives():
    """fit_answer --reread fills the reader column as answer._read does: the best READER_TOP candidates
    that are no heading, by the other features, are read, and the rest take the lowest of those readings.
    Eighteen sentences of distinct lengths under a long heading (the longest reads best by "length"), so
    that some are left unread."""
    from dataclasses import replace as _replace

    from assistant import question as questions
    from assistant.types import Hit, Sentence

    heading = "# When the ferry leaves: every departure on the morning and evening tides, by season and by day"
    text, sentences = heading + "\n", [Sentence(0, len(heading), 1.0)]
    for i in range(18):
        sentence = f"The ferry number {i} leaves {'early ' * i}on the morning tide."
        sentences.append(Sentence(len(text), len(text) + len(sentence), 1.0))
        text += sentence + " "
    hit = Hit("notes.md", 0, len(text), text, 1.0, 1, 0, len(text), text, tuple(sentences))
    weights = {**answerer.HAND_WEIGHTS, "reader": 0.01, "length": 0.5}
    question = questions.analyse("When does the ferry leave?")
    reader = _LengthReader()
    found = answerer.candidates(question, [hit], weights=weights, reader=reader)
    assert len(found) > answerer.READER_TOP + 1 and len(reader.read) == answerer.READER_TOP  # some left unread
    features = np.array([c.features for c in found])
    base = np.delete(features, answerer.FEATURES.index("reader"), axis=1) @ [weights[f] for f in answerer.FEATURES if f != "reader"]
    first = [found[i].text for i in np.argsort(-base)[: answerer.READER_TOP]]
    assert heading in first and next(c.reads for c in found if c.text == heading) not in reader.read  # though among the best
    saved = fit_answer.Example("s", "q", "answerable", question.kind, answerer.reader_question(question),
                               features, np.zeros(len(found), dtype=bool), [c.text for c in found],
                               [c.value for c in found], {"facts": []}, False, [c.reads for c in found])
    garbled = features.copy()  # readings of another reader, as saved
    garbled[:, answerer.FEATURES.index("reader")] = np.random.default_rng(0).uniform(-1000, 1000, len(found))
    again = fit_answer.reread([_replace(saved, features=garbled)], _LengthReader(), weights)[0]
    np.testing.assert_array_equal(again.features, features)
