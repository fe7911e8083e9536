"""The answerer: verification rules (no model), and the behaviour users see on the seed (real model)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from assistant import answer as answerer
from assistant import cli, corpus, evaluate
from assistant import question as questions
from assistant.types import Answer, Hit, Sentence

from .conftest import EVAL_SET, SEED_ARTICLE

# Measured on eval/seed.jsonl with the fitted weights (assistant/weights.json, 2026-12-02): accuracy
# 83.6%, unanswerable abstained 83.3%, false abstentions 3.3%, dialogues 11/12. A regression of more than
# one question fails. (The hand-set weights, tuned on this set, measured 91.8 / 100 / 3.3 / 100; weights
# fitted on five dev sets of other genres trade that for 65-73% instead of 51-66% on the multi-genre and
# FanOutQA sets: README, Evaluation.)
ANSWER_ACCURACY_FLOOR = 0.82
ABSTAIN_FLOOR = 0.77
FALSE_ABSTAIN_CEILING = 0.05
DIALOGUE_FLOOR = 0.83


def _hit(text: str, start: int = 0, doc: str = "d.txt") -> Hit:
    return Hit(doc, start, start + len(text), text, 1.0, 1, start, start + len(text), text,
               (Sentence(start, start + len(text), 1.0),))


def test_claims_split_at_markers():
    assert answerer.claims("A is b. [1] C is d [2][3] tail") == [
        ("A is b.", [1]), ("C is d", [2, 3]), ("tail", [])]


def test_verify_drops_unsupported_claims_and_dangling_markers_and_renumbers():
    hits = [_hit("The bakery opens at six."), _hit("Croissants cost two euros.", 100)]
    raw = Answer("Croissants cost two euros. [2] The moon is made of cheese. [1] The bakery opens at six. [7] "
                 "The bakery opens at six. [1]", hits, True, "q")
    checked = answerer.verify(raw, cache=None)
    assert checked.answered
    assert checked.text == "Croissants cost two euros. [1] The bakery opens at six. [2]"
    assert [c.text for c in checked.citations] == ["Croissants cost two euros.", "The bakery opens at six."]


def test_verify_abstains_when_nothing_is_supported():
    raw = Answer("Paris is the capital of France. [1]", [_hit("The bakery opens at six.")], True, "q")
    checked = answerer.verify(raw, cache=None)
    assert not checked.answered and checked.citations == []
    assert "don't say" in checked.text


@pytest.mark.parametrize("question, kind, speaker", [
    ("What did Merz say about Article 5?", "say", "Merz"),
    ("How many troops would the force include?", "quantity", ""),
    ("On what date will the ceasefire begin?", "date", ""),
    ("When could a ceasefire be achieved?", "when", ""),
    ("Who hosted the talks?", "who", ""),
    ("Why would Ukraine keep a large army?", "why", ""),
    ("How did the Ukrainian leader rate the proposals?", "say", "the Ukrainian leader"),
    ("Did Zelenskyy regard the plans as final?", "say", "Zelenskyy"),
    ("Does the proposal say anything about Ukraine joining the EU?", "yesno", ""),
    ("How do I rotate the log files?", "how", ""),
    ("What do I get paid for being on call over Christmas?", "what", ""),  # "I" is no speaker; "call" no saying
    ("What is the price of a day ticket?", "quantity", ""),
])
def test_intent(question, kind, speaker):
    got = questions.analyse(question)
    assert got.kind == kind and got.speaker == speaker


def test_question_entities_skip_the_question_word():
    assert questions.question_entities("What did Emmanuel Macron say about Article 5?") == [
        "Emmanuel Macron", "Article"]
    assert questions.question_entities("Emmanuel Macron said what?") == ["Emmanuel Macron"]
    assert questions.question_entities("Zelenskyy warned the plans were only what?") == ["Zelenskyy"]
    assert questions.question_entities("Is it OK to take Velmorin when pregnant?") == ["Velmorin"]  # a word


@pytest.mark.parametrize("question, names", [
    ("Roughly how much mobile data does the Pro use in a month?", ["Pro"]),
    ("During Ramadan, when does the museum open?", ["Ramadan"]),
    ("I'm a student: how much is the pass?", []),
    ("Since 1990, who has led Tessa?", ["Tessa"]),
    ("Italy won how many medals?", ["Italy"]),
    ("Can I fill a Dewar on a Saturday if I'm alone?", ["Dewar"]),  # a weekday alone is a date
    ("Who met on Monday Street in March?", ["Monday Street"]),
    ("What did May say in January?", ["May"]),
    ("Zelenskyy warned the plans were only what?", ["Zelenskyy"]),
])
def test_a_word_capitalised_only_for_opening_the_question_is_no_name(question, names):
    assert questions.question_entities(question) == names


def test_an_opening_word_the_passages_lack_is_not_a_missing_name():
    """A German question word is capitalised too ("Wann"); a name elsewhere in the question still counts."""
    hits = [_hit("Die Brücke über die Saale wurde im März 2024 eröffnet.")]
    assert answerer.compose(questions.analyse("Wann wurde die Brücke über die Saale eröffnet?"), hits).answered
    refused = answerer.compose(questions.analyse("Wann hat Zorblax die Brücke über die Saale eröffnet?"), hits)
    assert not refused.answered and "Zorblax" in refused.text


def test_predicate_is_the_question_without_its_names_and_question_words():
    question = "Did Zelenskyy regard the plans as final?"
    assert questions.analyse(question).predicate == "regard plans as final"


@pytest.mark.parametrize("entity, text, named", [
    ("United States", "Separately, the U.S. would be responsible for a mechanism.", True),
    ("United States", "The US would be responsible.", True),
    ("United States", "They told us nothing.", False),
    ("European Union", "EU countries remain locked in talks.", True),
    ("Zelenskyy", "But the Ukraine president cautioned that the plans were only a first draft.", True),
    ("Zelenskyy", "But the German chancellor cautioned that the plans were only a first draft.", False),
])
def test_names_by_initials_or_by_description(entity, text, named):
    people = {"Zelenskyy": {("ukrainian", "president")}, "Merz": {("german", "chancellor")}}
    assert answerer.named_otherwise(entity, text, people) is named


def test_a_description_of_the_speaker_counts_as_attribution():
    text = "But the Ukraine president cautioned that the plans were only a “first draft.”"
    assert answerer.speaker_matches("Zelenskyy", text, "") == (True, False)
    assert answerer.speaker_matches("Zelenskyy", text, "", (r"ukrai\w*\s(?:president|leader)",)) == (True, True)


def test_a_statement_speaks_through_in_a_statement():
    text = "In a subsequent joint statement the leaders of Denmark joined Merz in welcoming the “significant progress.”"
    assert answerer.speaker_matches("the joint statement", text, "") == (True, True)
    assert answerer.speaker_matches("Merz", "In a statement, the leaders of Denmark disagreed.", "") == (False, False)


@pytest.mark.parametrize("question, passage, unmatched", [
    ("Which city will host the next round of talks?", "Merz hosted the talks in Berlin.", "next round"),
    ("Which city will host the next round of talks?", "The next talks will be in Geneva.", ""),
    ("Which city will host the upcoming summit?", "Leaders meet at an upcoming summit in Rome.", ""),
    ("What is the current troop strength of the army?", "It should keep a strength of 800,000.",
     "current troop strength"),
    ("What is the current troop strength of the army?", "It now has 600,000 soldiers.", ""),
    ("When will Kyiv run out of money, next year?", "Kyiv runs out of money in the first half.", ""),
    ("Who hosted the talks?", "Merz hosted the talks.", ""),
    ("Why can't we leave rubbish bags next to the bins?", "Do not leave bags beside the bins.", ""),  # a place
])
def test_a_question_about_the_next_or_current_one_needs_a_passage_about_that_time(question, passage, unmatched):
    assert answerer._unmatched_time(question, passage) == unmatched


def test_abstain_lists_closest_matches_but_cites_nothing():
    hits = [_hit("Something loosely related.")]
    a = answerer.abstain("q", hits, "nothing")
    assert not a.answered and a.citations == [] and a.closest == hits


# --- with the real model on the seed article -----------------------------------------------------------

@pytest.mark.slow
def test_merz_article_5_is_answered_with_his_own_words(real_assistant):
    ans = real_assistant.ask("What did Merz say about Article 5?")
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    assert ans.answered
    assert "truly far-reaching and substantial agreement" in ans.text
    assert ans.citations, "an answer must cite"
    for c in ans.citations:
        assert text[c.start : c.end] == c.text
        assert "Article 5 is the cornerstone" not in c.text  # the article's definition is not Merz's words
    first = ans.citations[0]
    assert first.text.startswith("“This is a truly far-reaching") and first.text.endswith("Merz said.")


@pytest.mark.slow
def test_follow_up_resolves_he_to_merz(real_assistant):
    first = real_assistant.ask("Who hosted the talks?")
    assert first.answered and "Merz" in first.text
    history = [{"role": "user", "content": "Who hosted the talks?"},
               {"role": "assistant", "content": first.text}]
    second = real_assistant.ask("What did he call the security guarantees?", history)
    assert "Merz" in second.query
    assert second.answered and "remarkable" in second.text and "material" in second.text
    assert second.citations


@pytest.mark.slow
def test_a_follow_up_can_be_answered_by_the_person_of_the_previous_turn(real_assistant):
    question = "What did Zelenskyy say about the question of land?"
    first = real_assistant.ask(question)
    assert first.answered and "different positions" in first.text
    history = [{"role": "user", "content": question},
               {"role": "assistant", "content": first.text, "query": first.query}]
    second = real_assistant.ask("And who do the European leaders say should decide on giving it up?", history)
    assert second.answered and second.text.startswith("Zelenskyy [1]"), second.text
    assert "for Zelenskyy to decide" in second.citations[0].text


@pytest.mark.slow
@pytest.mark.parametrize("question, words, cited", [
    # a description resolved to the person the article introduces, and shown in the query searched
    ("How did the Ukrainian leader rate the proposals?", ["pretty good"], "Zelenskyy said"),
    # the article says "the Ukraine president cautioned", not "Zelenskyy warned"
    pytest.param("What did Zelenskyy warn about the plans?", ["first draft"], "the Ukraine president cautioned",
                 marks=pytest.mark.xfail(strict=True, reason="since the reader trained on 3x the genre data (stop 16) "
                                         "Zelenskyy's own quotes in the top passage win ('pretty good'): the fitted "
                                         "weight of the passage's rank outweighs the predicate 'warn' ~ 'cautioned'")),
    # the value sits in a quotation that continues the sentence saying who spoke: both are cited
    pytest.param("Besides Russia, China and Iran, who did an EU diplomat accuse of spreading disinformation?",
                 ["U.S.", "disinformation war"], "one EU diplomat said",
                 marks=pytest.mark.xfail(strict=True, reason="with the fitted weights the answer is 'White House' "
                                         "from the sentence before; the quote-continuation rule no longer wins")),
    # the sentence naming the force, then the one that goes on about it ("This force would ...")
    ("What would the multinational force do?", ["skies", "security at sea"], "This force would"),
    # "Moscow" stands for Russia: not an absent name
    ("What kinds of help could be given if Moscow strikes again?", ["armed force"], "if Russia attacks again"),
])
def test_answers_that_need_more_than_shared_words(real_assistant, question, words, cited):
    ans = real_assistant.ask(question)
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    assert ans.answered, ans.text
    assert all(w in ans.text for w in words), ans.text
    assert any(cited in c.text for c in ans.citations)
    assert all(text[c.start : c.end] == c.text for c in ans.citations)
    if "leader" in question:
        assert "Zelenskyy" in ans.query


@pytest.mark.slow
@pytest.mark.parametrize("question", [
    "What is the capital of Australia?",
    "What did Emmanuel Macron say about the security guarantees?",
    "How many troops would the multinational force Ukraine include?",
    "On what date will the ceasefire begin?",
    "Where was the Zorblax accord signed?",  # a name nowhere in the documents decides, even a single word
    "Which city will host the next summit?",  # "which city" wants a town, not "EU" or "Merz"
    "Which city will host the next round of peace talks?",  # not where these talks were held
    "What is the current troop strength of Ukraine's army?",  # the article gives a peacetime target
])
def test_unanswerable_questions_abstain(real_assistant, question):
    ans = real_assistant.ask(question)
    assert not ans.answered and ans.citations == []
    assert "don't say" in ans.text


@pytest.mark.slow
def test_ask_stream_yields_text_then_the_final_answer(real_assistant):
    parts = list(real_assistant.ask_stream("Who hosted the talks?"))
    assert isinstance(parts[-1], Answer)
    streamed = "".join(p for p in parts[:-1])
    assert all(isinstance(p, str) for p in parts[:-1]) and len(parts) > 1
    assert streamed.strip() == parts[-1].text


@pytest.mark.slow
def test_eval_answer_figures_hold(real_assistant):
    """The measured level on eval/seed.jsonl; a drop of more than a question or two fails."""
    results = evaluate.evaluate_answers(real_assistant, evaluate.load_questions(EVAL_SET))
    f = evaluate.answer_figures(results)
    assert f["offsets_exact"] is True
    assert f["answer_accuracy"] >= ANSWER_ACCURACY_FLOOR
    assert f["abstained_unanswerable"] >= ABSTAIN_FLOOR
    assert f["false_abstentions"] <= FALSE_ABSTAIN_CEILING
    assert f["dialogues_right"] >= DIALOGUE_FLOOR


# eval/heldout.jsonl was written without looking at the code or the tuned set, and later also used to
# choose between options; eval/heldout2.jsonl was written afterwards by someone who read only the article,
# never used for choosing weights, but its misses pointed at two bugs (fixed). Floors: the measured level
# less one question.
HELDOUT_FLOORS = {
    # file: (accuracy, abstained, false abstentions at most, dialogues); measured with the fitted weights
    # 86.7 / 70.0 / 0 / 100 since the fit also holds false abstentions to 5% on the reader's held-out
    # training questions (2026-12-03; before: 86.7 / 80.0 / 0 / 100; hand-set weights: 93.3 / 90.0 / 0 / 100)
    "heldout.jsonl": (0.83, 0.60, 0.04, 0.83),
    # measured 100 / 75.0 / 0 / 100 since the reader trained on eval/train and the listwise fit (before:
    # 96.7 / 91.7 / 0 / 100; hand-set weights: 100 / 91.7 / 0 / 100): two more unanswerable questions answered
    "heldout2.jsonl": (0.96, 0.66, 0.04, 0.83),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HELDOUT_FLOORS))
def test_heldout_sets_are_not_worse_than_measured(real_assistant, name):
    accuracy, abstained, false_abstentions, dialogues = HELDOUT_FLOORS[name]
    results = evaluate.evaluate_answers(real_assistant, evaluate.load_questions(EVAL_SET.parent / name))
    f = evaluate.answer_figures(results)
    assert f["offsets_exact"] is True
    assert f["answer_accuracy"] >= accuracy
    assert f["abstained_unanswerable"] >= abstained
    assert f["false_abstentions"] <= false_abstentions
    assert f["dialogues_right"] >= dialogues


def test_the_reader_reads_a_list_item_after_its_lead_in_and_under_the_heading_its_passage_opens_with():
    text = "## 4. Accommodation\n\nHotel costs are reimbursed up to these limits per night:\n\n- London: £140\n- Abroad: £160"
    hit = replace(_hit(text, 500), title="Travel policy")
    at = text.index("- Abroad")
    assert answerer.reader_text(hit, "- Abroad: £160", at) == (
        "Travel policy — 4. Accommodation — Hotel costs are reimbursed up to these limits per night: - Abroad: £160")
    assert answerer.reader_text(hit, "Hotel costs ...", text.index("Hotel")) == (
        "Travel policy — 4. Accommodation — Hotel costs ...")  # no list item: no lead-in
    text = "CARRIED.\nTom Rees asked that his vote against be recorded."  # a passage cut after "... against."
    hit = replace(_hit(text, 900), title="Minutes — 3. PURCHASE OF A NEW BOAT")
    assert answerer.reader_text(hit, "Tom Rees asked that his vote against be recorded.", text.index("Tom")) == (
        "Minutes — 3. PURCHASE OF A NEW BOAT — Tom Rees asked that his vote against be recorded.")


def test_a_sentence_right_after_the_previous_answer_is_marked_for_a_follow_up():
    sentences = ["Maggie Fenner proposed opening the bar on Sundays.", "Vote: 4 in favour, 6 against.",
                 "DEFEATED.", "Other business was discussed" + " at length" * 40 + ".", "The next meeting is in May."]
    text = " ".join(sentences)
    starts = [text.index(s) for s in sentences]
    hit = Hit("minutes.txt", 0, len(text), text, 1.0, 1,
              sentences=tuple(Sentence(a, a + len(s), 0.5) for a, s in zip(starts, sentences)))
    found = answerer.candidates(questions.analyse("Did it pass?"), [hit],
                                previous_answer=f"{sentences[0]} [1]")
    after = {c.text: c.features[answerer.FEATURES.index("after_answer")] for c in found}
    assert after == {sentences[0]: 0.0, sentences[1]: 1.0, sentences[2]: 1.0, sentences[3]: 1.0, sentences[4]: 0.0}


def test_a_vocabulary_names_exactly_the_words_related_names():
    """Vocabulary.names answers as `related` against every word would, without the loop over them."""
    from assistant.lexical import Vocabulary, related, words

    text = "The U.S. envoy met Ukrainians in Belgium and China; Kyiv's mayor, Dr. Klitschko, spoke at NATO HQ."
    vocabulary = Vocabulary.of([text])
    found = set(words(text)) | {w.replace(".", "") for w in words(text)}
    for word in ("us", "ukraine", "belgian", "chinese", "kyiv", "klitschkos", "nato", "hq", "hqs", "mayors",
                 "kyivan", "bel", "belg", "envoys", "spoke", "spokesman", "chin", "russia", "moscow", "a"):
        expected = (word in found or word.rstrip("s") in {f.rstrip("s") for f in found}
                    or any(related(word, f) for f in found))
        assert vocabulary.names(word) == expected, word


def test_a_candidate_from_a_document_that_never_uses_the_question_s_names_or_words_is_marked():
    from assistant.lexical import Vocabulary

    hut = _hit("Dogs must stay outside.", doc="guide.txt")
    museum = _hit("Only assistance dogs are allowed inside the museum.", 100, doc="museum.html")
    vocabulary = {"guide.txt": Vocabulary.of(["# Brenner Hut", "The Brenner Hut has 42 beds.", "Dogs must stay outside."]),
                  "museum.html": Vocabulary.of(["Tidewater Maritime Museum", museum.text])}
    question = questions.analyse("Are dogs allowed to stay at the Brenner Hut?")
    found = answerer.candidates(question, [museum, hut], vocabulary=vocabulary)
    off = {c.hit.doc: (c.features[answerer.FEATURES.index("names_off_doc")],
                       c.features[answerer.FEATURES.index("terms_off_doc")]) for c in found}
    assert off["guide.txt"][0] == 0.0 and off["museum.html"][0] == 1.0  # the museum never names the hut
    assert off["guide.txt"][1] < off["museum.html"][1]  # "brenner", "hut" are its words, not the museum's
    # no vocabulary given: nothing is known about the documents, nothing is marked
    assert all(c.features[answerer.FEATURES.index("names_off_doc")] == 0.0
               for c in answerer.candidates(question, [museum, hut]))


def test_the_assistant_knows_each_document_s_words_per_index_generation(fake_assistant):
    fake_assistant.build()
    words = fake_assistant.vocabulary(["bakery.md", "solar.txt", "not-there.txt"])
    assert set(words) == {"bakery.md", "solar.txt"}
    assert words["bakery.md"].names("sourdough") and not words["solar.txt"].names("sourdough")
    assert "croissant" in words["bakery.md"].terms  # stemmed search terms, from the last passage too
    (fake_assistant.settings.seeds / "bakery.md").write_text("# The bakery\nNow it sells only rye bread.\n",
                                                             encoding="utf-8")
    fake_assistant.build()
    words = fake_assistant.vocabulary(["bakery.md"])
    assert words["bakery.md"].names("rye") and not words["bakery.md"].names("sourdough")


def test_a_table_row_retrieved_without_its_table_s_top_is_read_under_its_header(fake_assistant):
    """A long table spans several passages; only the first holds the header row. A later row ("| E34 |
    Unbalanced load | ...") was read as a row of labels (a heading, never an answer) when the header
    was not among the hits."""
    rows = "".join(f"| E{n:02d} | Fault number {n} of the drum motor | Call the service line |\n" for n in range(40))
    text = ("# Washer manual\n\n## Error codes\n\n| Code | Meaning | What to do |\n|---|---|---|\n" + rows
            + "| E77 | Unbalanced load | Redistribute the laundry |\n")
    (fake_assistant.settings.seeds / "washer.md").write_text(text, encoding="utf-8")
    fake_assistant.build()
    tables = fake_assistant.tables(["washer.md", "bakery.md"])
    assert tables["washer.md"] == [(text.index("| Code"), ["Code", "Meaning", "What to do"])]
    assert tables["bakery.md"] == []
    snap = fake_assistant.snapshot()
    row = next(p for p in snap.passages if p.doc == "washer.md" and "E77" in p.text)
    assert "| Code" not in row.text  # the row's passage does not hold the header
    at = text.index("| E77")
    hit = Hit("washer.md", row.start, row.end, row.text, 1.0, 1, row.start, row.end, row.text,
              tuple(Sentence(s.start + row.start, s.end + row.start, 1.0) for s in corpus.sentences(row.text)))
    question = questions.analyse("What should I do about an unbalanced load?")
    heading = answerer.FEATURES.index("heading")
    alone = {c.sentence.start: c for c in answerer.candidates(question, [hit])}
    told = {c.sentence.start: c for c in answerer.candidates(question, [hit], tables=tables)}
    assert alone[at].features[heading] == 1.0  # without its header: a row of labels
    assert told[at].features[heading] == 0.0
    assert told[at].reads.endswith("Code: E77; Meaning: Unbalanced load; What to do: Redistribute the laundry")
    answer = answerer.compose(question, [hit], fitted=replace(answerer.model(), abstain_below=-1e9), tables=tables)
    assert answer.answered and "Redistribute the laundry" in answer.text
    # the document changes: its tables are read again with the new index generation
    (fake_assistant.settings.seeds / "washer.md").write_text(text.replace("| Code | Meaning |", "| Code | Fault |"),
                                                             encoding="utf-8")
    fake_assistant.build()
    assert fake_assistant.tables(["washer.md"])["washer.md"][0][1] == ["Code", "Fault", "What to do"]


def test_a_line_that_repeats_the_title_its_passage_sits_under_is_that_title_not_an_answer():
    """An e-mail's subject is its title, and comes again in the body as "Subject: ...", a label and its
    value to look at; it answered "What's the new go-live date?" by itself."""
    text = ("Thanks.\n\nSubject: RE: Customer portal go-live - revised date\n\n"
            "1. Go-live moves from 1 July 2025 to Monday, 15 September 2025.\n")
    hit = replace(_passage(text, "mail.txt"), title="Subject: RE: Customer portal go-live - revised date")
    question = questions.analyse("What's the new go-live date for the customer portal?")
    heading = answerer.FEATURES.index("heading")
    found = {c.text: c.features[heading] for c in answerer.candidates(question, [hit])}
    assert found["Subject: RE: Customer portal go-live - revised date"] == 1.0
    assert found["1. Go-live moves from 1 July 2025 to Monday, 15 September 2025."] == 0.0
    answer = answerer.compose(question, [hit], fitted=replace(answerer.model(), abstain_below=-1e9))
    assert "15 September 2025" in answer.text and "Subject:" not in answer.text
    # as the document's first line it is its title too, and a label with its value only further down
    assert answerer.is_heading("Subject: RE: Customer portal go-live - revised date", document_start=True)
    assert not answerer.is_heading("Subject: RE: Customer portal go-live - revised date")
    assert not answerer.is_heading("Date: Friday 14 March 2025, 7:30 pm.", document_start=True)


def test_a_column_is_named_by_what_sets_it_apart_and_a_row_s_label_says_what_its_cells_count():
    header = ["Feature", "RainSprout 4", "RainSprout 8 Pro", "RainSprout Tap"]
    row = "| Max. programmes | 4 | 12 | 2 |"
    assert answerer.table_cell(row, header, "How many programmes can the 8 Pro store?") == ("RainSprout 8 Pro", "12")
    assert answerer.table_cell(row, header, "And the Tap?") == ("RainSprout Tap", "2")
    assert answerer.table_cell(row, header, "How many programmes for 4 zones?") == ("", "")  # a bare number names none
    assert answerer.table_cell("| Price | £149 | £219 |", ["", "PH-3", "PH-3 Max"],
                               "How much does the PH-3 Max cost?") == ("PH-3 Max", "£219")  # the longest name
    text = ("# Spec sheet\n\n| Feature | RainSprout 4 | RainSprout 8 Pro | RainSprout Tap |\n|---|---|---|---|\n"
            f"{row}\n| Zones | 4 | 8 | 1 |\n")
    found = answerer.candidates(questions.analyse("How many programmes can the 8 Pro store?"), [_passage(text)])
    assert [(c.value, c.text) for c in found if c.value] == [("12", row)]  # not 8 zones


class _RecordingReader:
    """Reads nothing: records what it is asked and scores every sentence 0."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def score(self, question: str, texts: list[str]):
        import numpy as np

        self.asked.append(question)
        return np.zeros(len(texts))


def test_the_reader_reads_a_follow_up_with_the_question_it_follows():
    hit = _hit("Brush the knots with egg and bake for 12 to 14 minutes.")
    weights = {**answerer.HAND_WEIGHTS, "reader": 1.0}
    followup = replace(questions.analyse("for how long"),
                       query="for how long (What oven temperature do the cardamom knots need?)")
    reader = _RecordingReader()
    answerer.candidates(followup, [hit], weights=weights, reader=reader)
    assert reader.asked == ["for how long (What oven temperature do the cardamom knots need?)"]
    reader = _RecordingReader()
    answerer.candidates(questions.analyse("How long do the knots bake?"), [hit], weights=weights, reader=reader)
    assert reader.asked == ["How long do the knots bake?"]


def _value_of(question: str, text: str) -> str:
    return answerer.candidates(questions.analyse(question), [_hit(text)])[0].value


def test_a_number_is_about_a_name_before_it_or_in_its_clause_not_one_after():
    """"MB" after "300" is a unit, not a name the number could be about; "Calloway", named after the
    population's clause, is not what the population is about; "Ukraine's army" before the number is."""
    assert _value_of("Roughly how much mobile data does the Pro use in a month?",
                     "A typical month of 20 photos a day uses about 300 MB.") == "300 MB"
    assert _value_of("What was the population of Port Merrow after the decline?",
                     "A hundred years later the population had fallen to about 4,500, and the nearest "
                     "harbour was at Calloway, 30 km to the north.") == "4,500"
    assert _value_of("How many soldiers does Russia's army have?", "The army of Ukraine has 900,000 soldiers.") == ""


def test_a_heading_answers_only_with_the_date_or_number_it_holds():
    heading = answerer.FEATURES.index("heading")
    dated = "## 4.0.0 — 3 June 2024"
    found = answerer.candidates(questions.analyse("When did Quarry 4.0.0 come out?"), [_hit(dated)])
    assert found[0].value == "3 June 2024" and found[0].features[heading] == 0.0
    found = answerer.candidates(questions.analyse("What changed in Quarry 4.0.0?"), [_hit(dated)])
    assert found[0].features[heading] == 1.0  # nothing asked for in it: a heading, never the answer alone
    found = answerer.candidates(questions.analyse("How much is the hotel limit?"), [_hit("## 4. Hotels")])
    assert found[0].features[heading] == 1.0  # a section's number answers nothing
    found = answerer.candidates(questions.analyse("How long is day 2?"), [_hit("## Day 2: 14 km")])
    assert found[0].value == "14 km" and found[0].features[heading] == 0.0
    found = answerer.candidates(questions.analyse("Who wrote the guide?"), [_hit("# Mara Ellison")])
    assert found[0].features[heading] == 1.0  # a name in a title is its topic, not an answer


@pytest.mark.parametrize("line, heading", [
    ("8. Error codes", True), ("3. PURCHASE OF A NEW BOAT", True), ("2. **Install the server.**", True),
    ("1. Make sure you are running Python 3.10 or later.", False), ("- Camera with strap", False),
    ("3. Replace `len(table)` with `table.count()`.", False),
    ("1. black, tarry stools or vomiting blood", False),  # opens in lower case: goes on from its lead-in
])
def test_a_numbered_line_is_a_heading_by_its_words(line, heading):
    assert answerer.is_heading(line) is heading


def test_a_sentence_under_another_version_s_heading_lacks_the_question_s_number():
    """"When did version 4.3.0 come out?": "## Version 4.0.0 — 1 July 2024" holds a date, but not 4.3.0."""
    asked = answerer.numbers_of("When did version 4.3.0 come out? What does E21 on the FL-260 mean?")
    assert asked == {"4.3.0", "e21", "fl-260"}
    assert answerer.numbers_missing({"4.3.0"}, "## Version 4.0.0 — 1 July 2024") == 1.0
    assert answerer.numbers_missing({"4.3"}, "## Version 4.3.0 — 11 February 2025") == 0.0
    assert answerer.numbers_missing({"e21", "fl-260"}, "| E21 | Drain pump blocked |") == 0.5
    assert answerer.numbers_missing(set(), "anything") == 0.0
    missing = answerer.FEATURES.index("numbers_missing")
    question = questions.analyse("When did version 4.3.0 come out?")
    found = answerer.candidates(question, [_hit("## Version 4.0.0 — 1 July 2024"),
                                           _hit("## Version 4.3.0 — 11 February 2025", 100)])
    assert {c.value: c.features[missing] for c in found} == {"1 July 2024": 1.0, "11 February 2025": 0.0}


def test_a_number_in_a_sentence_about_its_passage_s_subject_is_kept():
    """"He received ... three Emmy Awards": the pronoun speaks of the passage's subject, though the
    sentence names other awards before the value."""
    assert _value_of("How many Emmy Awards did Fred Astaire receive?",
                     "He received an Honorary Academy Award, a BAFTA Award, three Emmy Awards and a Grammy.") == "three"


def _passage(text: str, doc: str = "d.md") -> Hit:
    """One hit over `text`, its sentences as the splitter finds them."""
    spans = corpus.sentences(text)
    return Hit(doc, 0, len(text), text, 1.0, 1, 0, len(text), text,
               tuple(Sentence(s.start, s.end, 1.0) for s in spans))


def test_a_how_to_answer_gives_a_numbered_list_from_its_first_step():
    text = ("# Expenses\n\n"
            "1. Keep an itemised receipt for every expense. Card slips alone are not enough.\n"
            "2. Photograph the receipts and upload them to the Claimly portal.\n"
            "3. Submit your claim within 30 days.\n\n"
            "Claims are paid monthly.\n")
    question = questions.analyse("How do I submit the claim within 30 days?")
    assert answerer.candidates(question, [_passage(text)])[0].text.startswith("3. Submit")  # the best: the last step
    answer = answerer.compose(question, [_passage(text)], fitted=replace(answerer.model(), abstain_below=-1e9))
    said = answer.text
    assert answer.answered
    assert said.index("1. Keep") < said.index("Card slips") < said.index("2. Photograph") < said.index("3. Submit")
    assert "paid monthly" not in said  # after the list: not a step
    for c in answer.citations:  # each step cites its own exact span
        assert text[c.start:c.end] == c.text


def test_a_sentence_made_only_of_the_question_s_words_is_marked_as_saying_nothing_new():
    text = "Proposed: Maggie Fenner. Maggie Fenner proposed that the bar open on Sundays."
    found = {c.text: c for c in answerer.candidates(questions.analyse("What did Maggie Fenner propose?"), [_passage(text)])}
    at = answerer.FEATURES.index("nothing_new")
    assert found["Proposed: Maggie Fenner."].features[at] == 1.0
    assert found["Maggie Fenner proposed that the bar open on Sundays."].features[at] == 0.0


def test_a_block_of_code_comes_with_the_step_that_introduces_it():
    text = ("## Steps\n\n1. **Install the server.**\n\n   ```\n   sudo apt install ledgerd\n   ```\n\n"
            "2. **Create the database.**\n\n   ```\n   sudo -u ledgerd ledgerd init --admin alice\n   ```\n")
    hit = _passage(text)
    question = questions.analyse("Which command creates the database?")
    best = max(answerer.candidates(question, [hit]), key=lambda c: "init" in c.text)  # the code, however scored
    answer = answerer.compose(question, [replace(hit, sentences=tuple(
        replace(s, score=2.0 if text[s.start:s.end] == best.text else 0.1) for s in hit.sentences))],
        fitted=replace(answerer.model(), abstain_below=-1e9))
    assert answer.text.startswith("2. **Create the database.** [1] ```")
    assert "ledgerd init --admin alice" in answer.text and "apt install" not in answer.text


def test_a_how_to_told_in_prose_gives_the_rest_of_the_best_sentence_s_paragraph():
    text = ("**How do I hire a bike?**\n"
            "Download the app and add a payment card. At a docking station, scan the QR code. Wait for the "
            "green light before pulling the bike out.\n\n"
            "**How do I back up the ledger?**\n"
            "Do not copy the file while the server runs. Instead, use the built-in snapshot command, which "
            "produces a consistent copy:\n\n"
            "```\nledgerd snapshot --out /var/backups/\n```\n\n"
            "Snapshots are kept for 30 days.\n")
    hit = _passage(text)

    def ask(question: str, best: str):
        scored = replace(hit, sentences=tuple(replace(s, score=2.0 if text[s.start:s.end].startswith(best) else 0.1)
                                              for s in hit.sentences))
        return answerer.compose(questions.analyse(question), [scored],
                                fitted=replace(answerer.model(), abstain_below=-1e9, extra_margin=0.0))

    said = ask("How do I unlock a bike with the app?", "Download").text
    assert said.index("Download") < said.index("scan the QR code") < said.index("green light")
    assert "back up" not in said and "Do not copy" not in said  # the next paragraph is another answer
    said = ask("How do I back up the ledger while it runs?", "Do not copy").text
    # the paragraph goes on with what to do, and the line ending in ":" brings the code it introduces
    assert "use the built-in snapshot command" in said and "ledgerd snapshot --out" in said
    assert "30 days" not in said
    said = ask("What should I not copy?", "Do not copy").text  # not a how-to: the sentence alone
    assert "snapshot" not in said
    for c in ask("How do I unlock a bike with the app?", "Download").citations:
        assert text[c.start:c.end] == c.text


def test_a_what_question_answered_by_a_list_item_gets_the_whole_list_its_heading_introduces():
    text = "## In the box\n\n- Camera with strap\n- Quick-start guide\n- USB-C cable\n\n## Warranty\n\nTwo years."
    hit = _passage(text)
    hit = replace(hit, sentences=tuple(replace(s, score=2.0 if text[s.start:s.end] == "- Quick-start guide" else 0.1)
                                       for s in hit.sentences))  # the best: the middle item
    answer = answerer.compose(questions.analyse("What's included in the box?"), [hit],
                              fitted=replace(answerer.model(), abstain_below=-1e9, extra_margin=0.0))
    said = answer.text
    assert said.index("Camera") < said.index("Quick-start") < said.index("USB-C") and "Two years" not in said
    answer = answerer.compose(questions.analyse("Which item is a guide?"), [hit],  # one item of the list
                              fitted=replace(answerer.model(), abstain_below=-1e9, extra_margin=0.0))
    assert "Camera" not in answer.text and "Quick-start" in answer.text
    answer = answerer.compose(questions.analyse("How much is the camera?"), [hit],  # a value: the item alone
                              fitted=replace(answerer.model(), abstain_below=-1e9, extra_margin=0.0, value_required=False))
    assert "Camera" not in answer.text


def test_a_line_ending_in_a_colon_comes_with_the_whole_list_it_opens():
    """"Which side effects mean I should stop?" picked the lead-in "... if you notice:" and gave it alone
    (or with the first item only): the list it opens is the answer."""
    text = ("# Velorant 200 mg tablets\n\n**Stop taking Velorant and see a doctor at once if you notice:**\n"
            "1. black, tarry stools or vomiting blood\n2. swelling of the face, lips or throat\n"
            "3. a severe skin rash with blistering\n\nOther side effects are mild.")
    hit = _passage(text)
    hit = replace(hit, sentences=tuple(replace(s, score=2.0 if text[s.start:s.end].startswith("**Stop") else 0.1)
                                       for s in hit.sentences))
    said = answerer.compose(questions.analyse("Which side effects mean I should stop and see a doctor?"), [hit],
                            fitted=replace(answerer.model(), abstain_below=-1e9, extra_margin=0.0)).text
    assert said.index("Stop taking") < said.index("tarry stools") < said.index("swelling") < said.index("blistering")
    assert "mild" not in said


def test_the_next_sentence_of_the_paragraph_comes_along_when_it_takes_up_what_the_answer_spoke_of():
    text = ("If a receipt is lost, you can complete a missing receipt declaration. Declarations are accepted "
            "up to £25 per item.\n\nDeclarations of interest go to the board.")
    hit = _passage(text)
    hit = replace(hit, sentences=tuple(replace(s, score=2.0 if s.start == 0 else 0.1) for s in hit.sentences))
    answer = answerer.compose(questions.analyse("I lost a receipt. What can I do?"), [hit],
                              fitted=replace(answerer.model(), abstain_below=-1e9, extra_margin=0.0))
    assert "£25 per item" in answer.text and "board" not in answer.text  # another paragraph: not taken up


def test_a_holiday_counts_as_named_where_its_month_is_and_another_name_still_refuses():
    closed = _passage("The museum is closed on 24, 25 and 26 December and on 1 January.")
    model = replace(answerer.model(), abstain_below=-1e9)
    answer = answerer.compose(questions.analyse("Which days around Christmas and New Year is the museum closed?"),
                              [closed], fitted=model)
    assert answer.answered and "26 December" in answer.text
    answer = answerer.compose(questions.analyse("Is the museum closed at Easter?"), [closed], fitted=model)
    assert not answer.answered and "Easter" in answer.text  # neither Easter nor March or April: not mentioned
    answer = answerer.compose(questions.analyse("Is the museum in Paris closed in December?"), [closed], fitted=model)
    assert not answer.answered and "Paris" in answer.text


def test_a_what_happens_question_gets_the_next_sentence_of_the_paragraph_where_the_effect_is():
    text = ("5. Install a TLS certificate. Copy your key to the server. Without a certificate, the server refuses "
            "connections from anything except localhost.\n\n6. Open the firewall.")
    hit = _passage(text)
    best = "Copy your key to the server."
    hit = replace(hit, sentences=tuple(replace(s, score=2.0 if text[s.start:s.end] == best else 0.1)
                                       for s in hit.sentences))
    model = replace(answerer.model(), abstain_below=-1e9, extra_margin=0.0)
    answer = answerer.compose(questions.analyse("What happens if I skip the certificate?"), [hit], fitted=model)
    assert "localhost" in answer.text and "firewall" not in answer.text
    answer = answerer.compose(questions.analyse("Where do I copy my key?"), [hit], fitted=model)
    assert "localhost" not in answer.text  # not a question about what follows


def test_an_answer_less_sure_than_the_fitted_even_odds_comes_with_a_note():
    """Above abstain_below but below unsure_below (eval/fit_answer.py fit_unsure: where a given answer
    is as likely wrong as right) the answer is given, saying the documents may not answer the question."""
    question = questions.analyse("When was the Quillon Observatory founded?")
    hits = [_passage("The Quillon Observatory was founded in 1881 by the astronomer Mara Ellison.")]
    sure = answerer.compose(question, hits, fitted=replace(answerer.model(), abstain_below=-1e9))
    unsure = answerer.compose(question, hits, fitted=replace(answerer.model(), abstain_below=-1e9, unsure_below=1e9))
    assert sure.answered and unsure.answered and sure.text == unsure.text and "1881" in sure.text
    assert sure.note == "" and unsure.note == answerer.UNSURE
    assert "(the documents may not answer this" in cli.format_answer(unsure)
    assert answerer.UNSURE not in cli.format_answer(sure)


@pytest.mark.parametrize("name, text, written_out", [
    ("TA", "Your teaching assistant for group 2 is Dr Lee.", True),
    ("ICE", "He joined the Institution of Civil Engineers in 1851.", True),
    ("PMs", "All project managers get the new phone.", True),
    ("IE11", "Support for Internet Explorer 11 was dropped.", True),
    ("GM", "Take a good map with you.", False),  # short words are no name written out
    ("TA", "Take all of it.", False),
    ("Spain", "The policy covers travel in Europe.", False),  # not an initialism
])
def test_an_initialism_counts_as_mentioned_where_it_is_written_out(name, text, written_out):
    """"Who's the TA for group 2?" abstained with "they never mention TA" beside "teaching assistant"."""
    assert answerer.spelled_out(name, [text]) == written_out


def test_a_where_question_reads_the_venue_column_it_does_not_name():
    """"Where are we playing Pellow Vale?" names no column; the row's place is under "Venue" (before, the
    row gave no place, and the question abstained with "no place for it")."""
    text = ("| Date | Opponent | Venue | Start |\n|---|---|---|---|\n"
            "| Sat 7 March | Pellow Vale Panthers | Pellow Vale School, Court 1 | 12:00 |\n"
            "| Sat 14 March | Ferry Lane | TBC | 10:00 |\n")
    hit = Hit("fixtures.md", 0, len(text), text, 1.0, 1, 0, len(text), text,
              tuple(Sentence(s.start, s.end, 1.0) for s in corpus.sentences(text)))
    values_of = {c.text.split(" | ")[1]: c.value
                 for c in answerer.candidates(questions.analyse("Where are we playing Pellow Vale?"), [hit])
                 if c.text.startswith("| Sat")}
    assert values_of == {"Pellow Vale Panthers": "Pellow Vale School, Court 1", "Ferry Lane": ""}  # not "TBC"
    assert answerer.kind_column("| Sat 7 March | Pellow Vale Panthers | Pellow Vale School, Court 1 | 12:00 |",
                                ["Date", "Opponent", "Venue", "Start"], "who") == ""
