"""Follow-up questions: turn (history, question) into a standalone query.

No language model: pronouns that stand for a person take the person of the previous turn; an
elliptical question ("And Belgium?", "What about Trump?") swaps the new name into the previous
query; other follow-ups that lean on the previous turn ("Why?", "Where are those funds held?")
carry the previous query along as context.
"""

from __future__ import annotations

import re

from .lexical import STOPWORDS, words
from .question import analyse, question_entities
from .values import NAME, is_name

_PERSON_PRONOUN = re.compile(r"\b(he|she|him|her|his|hers)\b", re.IGNORECASE)
_OTHER_ANAPHORA = re.compile(
    r"\b(it|its|they|them|their|that|this|those|these|there|then|the same|of them|one)\b", re.IGNORECASE
)
_ELLIPSIS = re.compile(r"^\s*(?:and what about|and how about|but what about|what about|how about|and|but|or)\b\s*"
                       r"(.*?)[?.!]*\s*$", re.IGNORECASE)
_ASKS = re.compile(r"\b(?:what|who|whom|whose|when|where|which|why|how)\b", re.IGNORECASE)
_BARE = re.compile(r"^\s*(why|how|when|where|who|what|which|really|how so|how come)\s*[?.!]*\s*$", re.IGNORECASE)

History = list[dict]


_PREPOSITION = r"(?:in|at|on|for|from|outside|inside|within|near|to|by|during|after|before|without|with)"


def previous_turn(history: History | None) -> tuple[str, str]:
    """The last (user question, assistant answer) pair in the chat history."""
    question, answer = "", ""
    for message in reversed(history or []):
        role, content = message.get("role"), message.get("content")
        if not isinstance(content, str):
            continue
        if role == "assistant" and not answer and not question:
            answer = content
        elif role == "user":
            question = content
            break
    return question, answer


def person_of(previous_query: str, previous_answer: str) -> str:
    """The person a he/she in the next question most likely refers to."""
    if analyse(previous_query).kind == "who" and previous_answer:
        lead = re.split(r"\s\[\d+\]", previous_answer, maxsplit=1)[0]
        names = _people(lead)
        if names:
            return names[0]
    names = _people(previous_query)
    if names:
        return names[0]
    names = _people(previous_answer)
    return names[0] if names else ""


_THING = re.compile(r"\b(it|its|that one|this one)\b(?!\s*(?:is|was)\s+(?:true|so|possible)\b)", re.IGNORECASE)


def thing_of(previous_query: str, previous_answer: str) -> str:
    """The thing an "it" in the next question stands for, when the previous question asked which thing
    or place ("Which model sends photos over 4G?" -> "TC-8 Pro"): the answer's leading value, else the
    first name in its first claim that the question did not already give. "" otherwise."""
    asked = analyse(previous_query)
    if not previous_answer or not (asked.kind in ("where", "entity", "name")
                                   or re.match(r"\s*(?:and\s+)?which\b", previous_query, re.IGNORECASE)):
        return ""
    first, _, rest = previous_answer.partition(" [")
    if rest and re.match(r"\d+\]\s+—\s", rest) and 0 < len(first.split()) <= 6:
        return first.strip()
    given = set(words(previous_query))
    names = [m.group().strip() for m in NAME.finditer(first)
             if is_name(m, first, "entity") and not set(words(m.group())) <= given]
    return names[0] if names else ""


def _people(text: str) -> list[str]:
    """Names that look like people: the surname of a multi-word capitalised name."""
    out = []
    for m in NAME.finditer(text):
        parts = [p for p in m.group().split() if p[0].isupper()]
        if len(parts) >= 2 and not m.group().isupper():
            out.append(parts[-1])
    single = [e for e in question_entities(text) if " " not in e and not e.isupper()]
    return out or single


def _possessive(m: re.Match[str], text: str) -> bool:
    """"his", "hers", and "her" before a noun ("her father"), not "her" as an object ("married her")."""
    word = m.group(1).lower()
    if word != "her":
        return word in ("his", "hers")
    following = re.match(r"\s+([a-z]+)", text[m.end() :])
    return bool(following) and following.group(1) not in STOPWORDS


def condense(question: str, history: History | None, previous_query: str = "") -> str:
    """The standalone form of `question` given the chat so far (the question itself when it stands
    alone). `previous_query` is the resolved query of the previous turn, when known."""
    return resolve(question, history, previous_query)[1]


def resolve(question: str, history: History | None, previous_query: str = "") -> tuple[str, str]:
    """(focus, query): the follow-up with its references resolved, and the query to search, which
    may carry the previous turn along as context in parentheses. The focus decides what kind of
    answer is wanted; the query decides what to look for."""
    q = question.strip()
    prev_question, prev_answer = previous_turn(history)
    prev = previous_query or prev_question
    if not prev:
        return q, q

    m = _ELLIPSIS.match(q)
    if m and m.group(1):
        rest = m.group(1).strip()
        new = question_entities(rest) or [rest]
        old = question_entities(prev)
        if old and len(rest.split()) <= 4 and question_entities(rest):
            # "And in London?" after "... for trips outside the UK?": the phrase, preposition and all
            phrases = [re.search(rf"\b{_PREPOSITION}\s+(?:the\s+)?{re.escape(name)}", prev) for name in old]
            phrase = next((p for p in phrases if p), None)
            if phrase and re.match(rf"{_PREPOSITION}\s", rest):
                swapped = prev[: phrase.start()] + rest + prev[phrase.end() :]
            else:
                swapped = prev.replace(old[0], new[0], 1)
            return swapped, swapped
        if len(rest.split()) <= 4 and not _ASKS.search(rest):
            # "And for students?" narrows the previous question rather than replacing its subject
            narrowed = f"{prev.rstrip(' ?.!')} {rest}?"
            return narrowed, narrowed
        return rest, f"{rest} ({prev})"

    resolved = q
    if _PERSON_PRONOUN.search(q):
        person = person_of(prev, prev_answer)
        if person:
            resolved = _PERSON_PRONOUN.sub(lambda mm: person + ("’s" if _possessive(mm, q) else ""), q, count=1)
    elif _THING.search(q):
        thing = thing_of(prev, prev_answer)
        if thing:  # "How many beds does it have?" after "Where do walkers stay?" -> "Brenner Hut"
            named = _THING.sub(lambda mm: thing + ("’s" if mm.group(1).lower() == "its" else ""), q, count=1)
            return named, named
    if _BARE.match(q) or _OTHER_ANAPHORA.search(resolved) or len(resolved.split()) <= 3:
        return resolved, f"{resolved} ({prev})"
    return resolved, resolved
