"""search: reciprocal-rank fusion, de-duplication, exact offsets, k, and question checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assistant import Assistant, engine
from assistant.embed import HashingEmbedder
from assistant.errors import QuestionError
from assistant.search import EACH_RANKER, Weights, deduplicate, fuse, pool
from assistant.types import Hit, Sentence

from .conftest import write_docs

QUESTIONS = [
    "When does the night train from Vienna arrive in Zürich?",
    "How much does a croissant cost?",
    "Why did the mayor install solar panels?",
    "Who pays for the maintenance of the panels?",
    "bakery sourdough oven",
]


def assert_exact_offsets(seeds: Path, hits: list[Hit]) -> None:
    for h in hits:
        text = (Path(seeds) / h.doc).read_text(encoding="utf-8")
        assert text[h.start : h.end] == h.text, h
        assert text[h.context_start : h.context_end] == h.context_text
        assert h.context_start <= h.start < h.end <= h.context_end
        for s in h.sentences:
            assert h.start <= s.start < s.end <= h.end
            assert text[s.start : s.end].strip() == text[s.start : s.end]


def assert_no_overlap(hits: list[Hit]) -> None:
    for i, a in enumerate(hits):
        for b in hits[i + 1 :]:
            if a.doc == b.doc:
                assert a.end <= b.start or b.end <= a.start, (a, b)


# ---------------------------------------------------------------------------------------------------
# Fusion


def test_fuse_sums_reciprocal_ranks():
    fused = dict(fuse([[10, 20, 30], [30, 10]], k=60))
    assert fused[10] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[20] == pytest.approx(1 / 62)
    assert fused[30] == pytest.approx(1 / 63 + 1 / 61)
    assert [row for row, _ in fuse([[10, 20, 30], [30, 10]], k=60)] == [10, 30, 20]


def test_fuse_k_and_ties_and_empty():
    assert fuse([[7]], k=1) == [(7, 0.5)]
    assert fuse([[5], [3]], k=60) == [(3, 1 / 61), (5, 1 / 61)]  # ties: lower row first, deterministic
    assert fuse([], k=60) == [] and fuse([[], []]) == []
    # a row found by both rankings beats a row ranked first by only one of them
    assert fuse([[1, 2], [2, 3]], k=60)[0][0] == 2
    # a smaller k rewards the top ranks more
    top_heavy = dict(fuse([[1, 2]], k=1))
    assert top_heavy[1] / top_heavy[2] > dict(fuse([[1, 2]], k=60))[1] / dict(fuse([[1, 2]], k=60))[2]


def test_pool_keeps_each_rankers_first_hits_beyond_the_fused_best():
    dense = list(range(100, 130))
    lexical = list(range(200, 230))
    w = Weights(dense=1.0, lexical=0.1)  # BM25 weighed down: its first hits rank below dense's 30
    fused_rows = [row for row, _ in fuse([dense, lexical], 60, [w.dense, w.lexical])]
    assert fused_rows.index(200) >= 12
    chosen = pool(dense, lexical, 60, w, 12)
    rows = [row for row, _ in chosen]
    assert rows[:12] == fused_rows[:12]  # the fused best first, in order
    assert set(rows[12:]) == set(lexical[:EACH_RANKER])  # then BM25's first hits, with their fused scores
    assert dict(chosen)[200] == pytest.approx(0.1 / 61)
    assert len(rows) == len(set(rows))
    # a ranker of weight 0 adds nothing, not even its first hits
    assert [row for row, _ in pool(dense, lexical, 60, Weights(dense=1.0, lexical=0.0), 12)] == dense[:12]


# ---------------------------------------------------------------------------------------------------
# De-duplication

DOC = " ".join(f"w{i:02d}" for i in range(40))  # "w00 w01 ...": 4 characters a word


def span(first: int, last: int) -> tuple[int, int]:
    """Character span of words first..last (inclusive) in DOC."""
    return first * 4, last * 4 + 3


def make_hit(doc: str, sentence_words: list[tuple[int, int]], score: float) -> Hit:
    sentences = tuple(
        Sentence(*span(a, b), score=score - 0.01 * i) for i, (a, b) in enumerate(sentence_words)
    )
    start, end = sentences[0].start, sentences[-1].end
    return Hit(doc, start, end, DOC[start:end], score, 0, start, end, DOC[start:end], sentences)


def test_deduplicate_trims_and_drops_overlapping_hits():
    best = make_hit("a.txt", [(0, 2), (3, 5), (6, 8)], 0.9)
    overlapping = make_hit("a.txt", [(6, 8), (9, 11), (12, 14)], 0.8)
    inside = make_hit("a.txt", [(3, 5)], 0.7)
    other_doc = make_hit("b.txt", [(0, 2), (3, 5)], 0.6)
    out = deduplicate([best, overlapping, inside, other_doc])
    assert [h.doc for h in out] == ["a.txt", "a.txt", "b.txt"]
    trimmed = out[1]
    assert (trimmed.start, trimmed.end) == span(9, 14)
    assert trimmed.text == DOC[trimmed.start : trimmed.end]
    assert [(s.start, s.end) for s in trimmed.sentences] == [span(9, 11), span(12, 14)]
    assert trimmed.score < overlapping.score  # its best sentence was the one removed
    assert out[0] == best and out[2] == other_doc
    assert_no_overlap(out)


def test_deduplicate_keeps_the_longest_free_run():
    best = make_hit("a.txt", [(6, 8)], 0.9)
    wide = make_hit("a.txt", [(0, 2), (3, 5), (6, 8), (9, 11)], 0.5)
    out = deduplicate([best, wide])
    assert [(h.start, h.end) for h in out] == [span(6, 8), span(0, 5)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a.txt", "b.txt"]),
            st.integers(0, 39),
            st.lists(st.integers(1, 4), min_size=1, max_size=5),
            st.floats(0, 1),
        ),
        max_size=12,
    )
)
def test_deduplicate_never_returns_overlapping_hits(specs):
    hits = []
    for doc, first, lengths, score in specs:
        sentences, pos = [], first
        for n in lengths:
            if pos > 39:
                break
            sentences.append((pos, min(39, pos + n - 1)))
            pos += n
        hits.append(make_hit(doc, sentences, score))
    hits.sort(key=lambda h: -h.score)
    out = deduplicate(hits)
    assert_no_overlap(out)
    for h in out:
        assert h.text == DOC[h.start : h.end]
        assert h.sentences and h.sentences[0].start == h.start and h.sentences[-1].end == h.end
    assert [h.score for h in out] == sorted((h.score for h in out), reverse=True)


# ---------------------------------------------------------------------------------------------------
# Retrieval with the fake embedder


@pytest.mark.parametrize("question", QUESTIONS)
def test_hits_carry_exact_offsets(fake_assistant, tmp_seeds, question):
    hits = fake_assistant.retrieve(question, k=5)
    assert hits
    assert_exact_offsets(tmp_seeds, hits)
    assert_no_overlap(hits)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_offsets_are_exact_in_a_crlf_document_with_many_passages(tmp_path):
    sentences = [
        f"Stop {i} of the line is in Zürich “Kreis {i}” — {i * 3} minutes 🚆 from the start."
        for i in range(60)
    ]
    seeds = write_docs(tmp_path / "seeds", {"line.txt": "\r\n".join(sentences).encode("utf-8")})
    a = Assistant(seeds=seeds, index=tmp_path / "index", embedder=HashingEmbedder(), min_words=20,
                  max_words=40)
    for question in ("How far is stop 42?", "Kreis 7 minutes", "Zürich line"):
        hits = a.retrieve(question, k=8)
        assert len(hits) == 8
        assert_exact_offsets(seeds, hits)
        assert_no_overlap(hits)


def test_the_right_document_comes_first(fake_assistant):
    assert fake_assistant.retrieve("croissant baguette price", k=1)[0].doc == "bakery.md"
    assert fake_assistant.retrieve("night train Vienna sleeper cabins", k=1)[0].doc == "notes/trains.txt"
    assert fake_assistant.retrieve("solar panels kilowatts", k=1)[0].doc == "solar.txt"


@pytest.mark.parametrize("k", [1, 2, 3, 50])
def test_k_is_respected(fake_assistant, k):
    hits = fake_assistant.retrieve("prices and costs", k=k)
    total = len(fake_assistant.snapshot().passages)
    assert 1 <= len(hits) <= min(k, total)
    if k <= 2:
        assert len(hits) == k


def test_default_k_comes_from_settings(tmp_seeds, tmp_path):
    a = Assistant(seeds=tmp_seeds, index=tmp_path / "index", embedder=HashingEmbedder(), k=2,
                  min_words=5, max_words=10)
    assert len(a.retrieve("bakery prices solar train")) == 2


@pytest.mark.parametrize("k", [0, -1])
def test_k_below_one_is_a_question_error(fake_assistant, k):
    with pytest.raises(QuestionError, match="at least 1"):
        fake_assistant.retrieve("bakery", k=k)


# ---------------------------------------------------------------------------------------------------
# Questions


@pytest.mark.parametrize("question", ["", "   ", "\n\t  \r\n", "\x00\x07\x1b", "\u200b\u200b"])
def test_empty_questions_are_rejected_helpfully(fake_assistant, question):
    with pytest.raises(QuestionError, match="empty.*type a question"):
        fake_assistant.retrieve(question)


def test_over_long_questions_are_rejected_helpfully(fake_assistant):
    with pytest.raises(QuestionError) as caught:
        fake_assistant.retrieve("why " * 600)
    message = str(caught.value)
    assert "2,399 characters" in message and "limit is 2,000" in message and "one thing at a time" in message
    # just under the limit is fine
    assert fake_assistant.retrieve("b" * 1999 + "?")


def test_the_length_limit_is_a_setting(tmp_seeds, tmp_path):
    a = Assistant(seeds=tmp_seeds, index=tmp_path / "index", embedder=HashingEmbedder(),
                  max_question_chars=20)
    with pytest.raises(QuestionError, match="limit is 20"):
        a.retrieve("How much does a croissant cost?")


def test_a_question_that_is_not_text_is_rejected(fake_assistant):
    with pytest.raises(QuestionError, match="text"):
        fake_assistant.retrieve(None)  # type: ignore[arg-type]


def test_citation_markers_pasted_into_a_question_are_set_aside():
    """A user pastes part of an answer: its [n] markers are no words of the question."""
    assert engine.clean_question("[1] [2] [999] When does the bakery open? [0]", 2000) == "When does the bakery open?"
    assert engine.clean_question("Is array[i] valid at [0-9]?", 2000) == "Is array[i] valid at [0-9]?"
    with pytest.raises(QuestionError, match="empty"):
        engine.clean_question("[1] [2]", 2000)


def test_control_characters_are_stripped(fake_assistant):
    dirty = "How\x00 much\x07 does a\u200b croissant\x1b cost?\r\n"
    assert engine.clean_question(dirty, 2000) == "How much does a croissant cost?"
    assert engine.clean_question("family 👨\u200d👩\u200d👧 trip", 2000) == "family 👨\u200d👩\u200d👧 trip"
    clean = fake_assistant.retrieve("How much does a croissant cost?", k=3)
    assert fake_assistant.retrieve(dirty, k=3) == clean


def test_a_name_no_candidate_has_brings_the_passages_that_have_it(tmp_path):
    """"How many days did the Michaelmas fair last?": when the fused candidates are all about other fairs,
    the one passage naming Michaelmas joins them (found by the lexicon for the name alone)."""
    from assistant import question as questions
    from assistant.search import named_rows

    lines = [f"The fair at town {i} lasted {i} days and sold cattle, sheep and cloth." for i in range(40)]
    lines[23] = "The royal fair at Ostbury was held for 9 days every Michaelmas."
    seeds = write_docs(tmp_path / "seeds", {"fairs.txt": "\n\n".join(lines).encode("utf-8")})
    a = Assistant(seeds=seeds, index=tmp_path / "index", embedder=HashingEmbedder(), min_words=5, max_words=20)
    snapshot = a.snapshot()
    question = questions.analyse("How many days did the Michaelmas fair last?")
    named = [row for row, p in enumerate(snapshot.passages) if "Michaelmas" in p.text]
    others = [(row, 1.0) for row in range(len(snapshot.passages)) if row not in named][:10]
    assert [row for row, _ in named_rows(snapshot, question, others)] == named
    assert named_rows(snapshot, question, others + [(named[0], 0.5)]) == []  # a candidate has it already
    assert named_rows(snapshot, questions.analyse("How long did the fair last?"), others) == []  # no name
    assert any("Michaelmas" in h.text for h in a.retrieve("How many days did the Michaelmas fair last?", k=3))


def test_a_name_only_lower_hits_have_takes_the_last_place():
    from assistant import question as questions
    from assistant.search import keep_names

    def hit(i: int, text: str) -> Hit:
        return Hit("d.txt", i * 100, i * 100 + len(text), text, 1.0 - i / 10, i + 1)

    ranked = [hit(i, f"Fair number {i} sold cattle.") for i in range(5)] + [hit(5, "The Michaelmas fair sold geese.")]
    question = questions.analyse("What did the Michaelmas fair sell?")
    assert [h.text for h in keep_names(question, ranked, 3)] == [ranked[0].text, ranked[1].text, ranked[5].text]
    assert keep_names(question, ranked, 1) == ranked[:1]  # the best hit always stays
    assert keep_names(questions.analyse("What did the fair sell?"), ranked, 3) == ranked[:3]
