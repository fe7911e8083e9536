"""eval/abstention.py: the figures its report rests on (AUC, from eval/train_reader.py; the AUC a target
needs; the best cut)."""

from __future__ import annotations

import math

import pytest

from eval.abstention import Question, at_cut, best_cut, needed_auc
from eval.train_reader import auc


def test_auc_counts_pairs_and_halves_ties():
    assert auc([3, 4], [1, 2]) == 1.0
    assert auc([1, 2], [3, 4]) == 0.0
    assert auc([1, 3], [2, 2]) == 0.5  # one pair above, one below
    assert auc([2], [2]) == 0.5


def test_needed_auc_is_the_binormal_separation_of_the_target():
    assert needed_auc(0.85, 0.05) == pytest.approx(0.971, abs=5e-4)
    assert needed_auc(0.5, 0.5) == pytest.approx(0.5)  # chance: abstain on as many of each
    assert needed_auc(0.45, 0.05) < 0.88 < needed_auc(0.85, 0.05)  # where the dev sets stand, and the target


def _set(name: str, answerable: list[float], unanswerable: list[float]) -> list[Question]:
    return [Question(name, True, s) for s in answerable] + [Question(name, False, s) for s in unanswerable]


def test_the_best_cut_keeps_false_abstentions_under_the_bar_pooled_or_on_every_set():
    # set a: 20 answerable at 10..29, unanswerable at 0..9 and 15; set b: 10 answerable, one of them low (5)
    qs = _set("a", list(range(10, 30)), list(range(10)) + [15]) + _set("b", [5] + list(range(20, 29)), [1, 2])
    cut, f = best_cut(qs, every_set=False, bar=0.05)
    # pooled 30 answerable: one may be lost (1/30 <= 5%), so the cut passes 5 and the b question is lost
    assert cut == 10 and f["all"] == (pytest.approx(12 / 13), pytest.approx(1 / 30))
    cut, f = best_cut(qs, every_set=True, bar=0.05)
    # on every set: b's low answerable question (1 of 10 = 10%) must stay answered, so the cut stays at 5
    assert cut == 5 and f["b"][1] == 0.0 and f["all"][0] == pytest.approx(7 / 13)


def test_nothing_chosen_abstains_whatever_the_cut():
    qs = [Question("a", True, -math.inf), Question("a", False, -math.inf), Question("a", True, 1.0)]
    assert at_cut(qs, -math.inf)["a"] == (1.0, 0.5)  # no cut at all: still abstains on both unchosen
    cut, f = best_cut(qs, every_set=True, bar=0.5)
    assert f["a"] == (1.0, 0.5)
