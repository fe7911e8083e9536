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
