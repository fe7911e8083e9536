"""Descriptions in questions ("the Ukrainian leader") resolved to the people the documents introduce."""

from __future__ import annotations

import re

import pytest

from assistant import aliases
from assistant.lexical import related, words

NEWS = ("Ukrainian President Volodymyr Zelenskyy gave an upbeat assessment. German Chancellor Friedrich Merz "
        "hosted the talks. There is no sign that Russian dictator Vladimir Putin will agree. The statement was "
        "signed by European Commission President Ursula von der Leyen.")


def test_introductions_learn_qualifier_role_and_surname():
    table = aliases.introductions([NEWS])
    assert table == {
        "Zelenskyy": {("ukrainian", "president")},
        "Merz": {("german", "chancellor")},
        "Putin": {("russian", "dictator")},
        "von der Leyen": {("european commission", "president")},
    }


@pytest.mark.parametrize("question, resolved", [
    ("How did the Ukrainian leader rate the proposals?", "How did the Ukrainian leader Zelenskyy rate the proposals?"),
    ("What is the Russian leader's stance on NATO?", "What is the Russian leader Putin's stance on NATO?"),
    ("What did the German chancellor say?", "What did the German chancellor Merz say?"),
    ("What did the Ukraine president warn?", "What did the Ukraine president Zelenskyy warn?"),
    # a role the documents never gave that person, a place nobody was introduced with, a name already there
    ("What did the Russian president say?", "What did the Russian president say?"),
    ("Is the Kremlin leader on board?", "Is the Kremlin leader on board?"),
    ("Did the Ukrainian leader Zelenskyy agree?", "Did the Ukrainian leader Zelenskyy agree?"),
    ("Who is the Prime Minister of Belgium?", "Who is the Prime Minister of Belgium?"),
])
def test_descriptions_resolve_to_exactly_one_person(question, resolved):
    assert aliases.resolve_descriptions(question, aliases.introductions([NEWS])) == resolved


def test_an_ambiguous_description_is_left_as_asked():
    table = aliases.introductions([NEWS + " Former Ukrainian President Petro Poroshenko disagreed."])
    question = "What did the Ukrainian president say?"
    assert aliases.resolve_descriptions(question, table) == question


def test_descriptions_of_a_person_match_how_sentences_refer_to_them():
    patterns = aliases.descriptions_of("Zelenskyy", aliases.introductions([NEWS]))
    said = " ".join(words("But the Ukraine president cautioned that the plans were a first draft."))
    assert any(re.search(p, said) for p in patterns)
    other = " ".join(words("The German chancellor cautioned that the plans were a first draft."))
    assert not any(re.search(p, other) for p in patterns)


@pytest.mark.parametrize("a, b, same", [
    ("ukraine", "ukrainian", True), ("russia", "russians", True), ("belgium", "belgian", True),
    ("china", "chinese", True), ("iran", "iranians", True), ("iran", "iraq", False), ("merz", "mercedes", False),
    ("poland", "portugal", False),
])
def test_related_words(a, b, same):
    assert related(a, b) is same and related(b, a) is same
