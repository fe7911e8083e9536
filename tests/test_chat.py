"""Follow-up resolution: (history, question) -> standalone query."""

from assistant.chat import condense, previous_turn

HOSTED = [{"role": "user", "content": "Who hosted the talks?"},
          {"role": "assistant", "content": "German Chancellor Friedrich Merz [1] — German Chancellor Friedrich "
                                           "Merz, who hosted the talks, welcomed ... [1]"}]


def test_no_history_keeps_the_question():
    assert condense("Who hosted the talks?", None) == "Who hosted the talks?"


def test_he_becomes_the_person_answered_before():
    assert condense("What did he call the security guarantees?", HOSTED) == \
        "What did Merz call the security guarantees?"


def test_his_becomes_possessive():
    assert condense("What was his main point?", HOSTED).startswith("What was Merz’s main point")


def test_what_about_swaps_the_name():
    history = [{"role": "user", "content": "How did Zelenskyy describe the proposals?"},
               {"role": "assistant", "content": "“pretty good” [1]"}]
    assert condense("What about Trump?", history) == "How did Trump describe the proposals?"


def test_bare_why_carries_the_previous_question():
    history = [{"role": "user", "content": "How large a peacetime army would Ukraine maintain?"},
               {"role": "assistant", "content": "800,000 [1]"}]
    q = condense("Why?", history)
    assert q.startswith("Why?") and "peacetime army" in q


def test_previous_query_from_history_is_preferred_when_given():
    q = condense("Where are those funds held?", HOSTED, previous_query="frozen Russian assets loan")
    assert "frozen Russian assets" in q


def test_previous_turn_skips_non_text_content():
    history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": {"file": "x"}},
               {"role": "assistant", "content": "answer"}]
    assert previous_turn(history) == ("first", "answer")


def _turn(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def test_it_becomes_the_place_or_thing_answered_before():
    hut = _turn("Where do most people spend the night on the ridge walk?",
                "Brenner Hut [1] — Most walkers spend the night at the Brenner Hut. [1]")
    assert condense("How many beds does it have?", hut) == "How many beds does Brenner Hut have?"
    camera = _turn("Which Fernwatch model can send photos over 4G?",
                   "- TC-8 Pro: sends photos over 4G to the app or by email. [1]")
    assert condense("How much does that one cost?", camera) == "How much does TC-8 Pro cost?"


def test_it_after_a_question_about_an_action_keeps_the_context():
    # "it" is the proposal, not a name in the answer: the previous question goes along as context
    vote = _turn("What did Maggie Fenner propose at the meeting?", "A bar in the clubhouse [1]")
    q = condense("Did it pass?", vote)
    assert q.startswith("Did it pass?") and "Maggie Fenner" in q


def test_a_bare_qualifier_narrows_the_previous_question():
    fees = _turn("How much is an annual membership for Varnmouth City Bikes?", "£90 [1] — ... [1]")
    assert condense("And what about for students?", fees) == \
        "How much is an annual membership for Varnmouth City Bikes for students?"
    # a new question word asks something new: the previous question is context, not the frame
    oven = _turn("What oven temperature do the knots need?", "200°C [1] — ... [1]")
    assert condense("And for how long?", oven).startswith("for how long")


def test_a_follow_up_place_replaces_the_phrase_it_stands_for():
    # "in London" takes the place of "outside the UK", preposition and all, not of the bare name
    limit = _turn("What's the hotel limit per night for trips outside the UK?", "Outside the UK: £160 [1]")
    assert condense("And in London?", limit) == "What's the hotel limit per night for trips in London?"
    elected = _turn("When was Merz elected in Germany?", "In 2025 [1]")
    assert condense("And in France?", elected) == "When was Merz elected in France?"
    beds = _turn("How many beds does the Brenner Hut have?", "42 [1]")
    assert condense("And the Seewinkel Hut?", beds) == "How many beds does the Seewinkel Hut have?"
