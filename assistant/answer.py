"""Compose an answer from retrieved hits: verbatim evidence with [n] citations, or an honest abstention.

The default answerer writes nothing of its own: it picks the sentences that answer the question,
leads with the asked-for value (a number, name, date or place) copied from the cited sentence,
and cites each sentence's exact span. Every answer, from any answerer, passes `verify`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from typing import TYPE_CHECKING, TypeVar

from .aliases import descriptions_of
from .lexical import Lexicon, STOPWORDS, related, terms, words
from .types import Answer, Hit, Sentence

if TYPE_CHECKING:
    from .search import VectorCache

T = TypeVar("T")

# Calibrated on eval/seed.jsonl (answerable vs unanswerable questions); see `assistant eval`.
ABSTAIN_BELOW = 0.545  # best adjusted sentence score under which the documents are taken not to answer
SUPPORT_SIMILARITY = 0.55  # verify(): claim-to-span cosine needed (with enough shared words)
SUPPORT_OVERLAP = 0.5  # verify(): share of the claim's content words found in its span
VALUE_MARGIN = 0.2  # a sentence holding the asked-for value may score at most this far below the best
EXTRA_SENTENCE_MARGIN = 0.08  # a second or third sentence must score within this of the best
SOFT_NAME_SIMILARITY = 0.8  # a question's name counts as mentioned by a name this close in meaning ("Moscow" ~ "Russia")
MAX_SENTENCES = 3

_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    r"hundred|thousand|dozen"
)
_QUANTITY = re.compile(
    r"(?:[€$£]\s?)?\b\d[\d,.]*\b(?:\s?(?:%|percent|billion|million|thousand|trillion|euros?|dollars?))?"
    r"|\b(?:nearly |about |more than |some )?(?:" + _NUMBER_WORDS + r")\b(?:\s(?:full-scale\s)?"
    r"(?:years?|days?|months?|weeks?|hours?|billion|million))?",
    re.IGNORECASE,
)
_DAYS = r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"
_MONTHS = r"January|February|March|April|May|June|July|August|September|October|November|December"
_DATE = re.compile(
    r"\b(?:(?:this|next|last|on|by|until|since)\s)?(?:" + _DAYS + r"|" + _MONTHS + r")(?:\s\d{1,2})?(?:,?\s\d{4})?\b"
    r"|\b(?:since|in|by|until)\s(?:19|20)\d{2}\b|\b(?:19|20)\d{2}\b"
    r"|\b(?:by\s)?Christmas\b|\b(?:earlier|later)\s(?:this|next|last)\s(?:year|month|week)\b"
    r"|\b(?:this|next|last)\s(?:year|month|week)\b|\b(?:first|second)\shalf\sof\s(?:next|this)\syear\b"
    r"|\b(?:at\s)?(?:\d{1,2}(?::\d\d)?\s?(?:a\.m\.|p\.m\.|am|pm)|\d{1,2}:\d\d|(?:" + _NUMBER_WORDS + r"|\d{1,2})"
    r"\so[’']clock)\b"
)
_CALENDAR_DATE = re.compile(r"\b(?:" + _MONTHS + r")\s\d{1,2}\b|\b\d{1,2}\s(?:" + _MONTHS + r")\b|\b\d{4}-\d\d-\d\d\b")
_NAME_WORD = r"(?:[A-Z][\w’'\-]*[a-z][\w’'\-]*|[A-Z]\.(?:[A-Z]\.)+|[A-Z]{2,})"
_NAME = re.compile(_NAME_WORD + r"(?:\s(?:(?:von|der|de|van|la|al|bin)\s)*" + _NAME_WORD + r")*")
_TITLES = {"president", "chancellor", "minister", "prime", "secretary", "senator", "king", "queen", "official",
           "leader", "dictator"}
_QUOTE = re.compile(r"[“”\"]")
_SPEECH = (r"said|says|states|stated|added|adds|told|asked|wrote|noted|explained|argued|called|described|"
           r"welcomed|cautioned|warned|labeled|labelled|dubbed|branded|insisted|declared|claimed")
_QUESTION_WORDS = {"what", "who", "whom", "whose", "when", "where", "which", "why", "how", "did", "does", "do",
                   "is", "are", "was", "were", "will", "would", "can", "could", "should", "and", "in", "on",
                   "the", "a", "an", "according", "besides", "for", "to", "of", "by", "with", "if"}


@dataclass(frozen=True)
class Intent:
    """What kind of answer the question asks for."""

    kind: str  # who | when | date | where | quantity | name | say | why | what
    speaker: str = ""  # for "what did X say/call ..." questions
    entities: tuple[str, ...] = ()  # names in the question
    unit: str = ""  # for quantity questions: the noun counted ("troops"), when given
    speaker_also: tuple[str, ...] = ()  # patterns for descriptions of the speaker ("the Ukraine president")


_MONEY_WORDS = {"money", "cash", "funding", "funds", "aid", "capital", "assets"}


def intent(question: str) -> Intent:
    """Classify the question by the kind of answer it wants (a rule list, first match wins)."""
    q = question.strip()
    low = q.lower()
    entities = tuple(question_entities(q))
    # "What did X say ...", "How did X rate ...", "Did X regard ... as final?": X's own words answer it
    m = re.search(r"\b(?:what|how)\s+(?:did|does|do|has|have)\s+(.+?)\s+(?:say|said|call|describe|think|mean|rate|"
                  r"respond|react|reply|warn|view|regard|assess|predict)\b"
                  r"|^(?:did|does|do)\s+(.+?)\s+(?:regard|consider|think|believe|expect|view)\b", q, re.IGNORECASE)
    if m:
        return Intent("say", (m.group(1) or m.group(2)).strip(), entities)
    m = re.search(r"\baccording to\s+(?:the\s+)?([\w.’'\- ]+?)\s*[,?]", q)
    speaker = m.group(1).strip() if m else ""
    for kind, rule in _KIND_RULES:
        if rule.search(low):
            if kind == "percent":
                return Intent("quantity", speaker, entities, "percent")
            return Intent(kind, speaker, entities, _unit(low, kind))
    return Intent("what", speaker, entities)


# First match wins: the order matters ("how many years" is a duration, not a count).
_KIND_RULES = [(kind, re.compile(pattern)) for kind, pattern in [
    ("date", r"\bwhat (?:date|day)\b|\bon which date\b"),
    ("duration", r"\bhow long\b|\bfor how long\b|\bhow many (?:years|months|weeks|days|hours)\b"),
    ("when", r"\bwhen\b|\bby when\b|\bwhich (?:day|weekday|month|year)\b|\bwhat (?:year|month|time)\b"),
    ("percent", r"\bwhat (?:percentage|percent|share|proportion|fraction)\b|\bwhat (?:\w+ )?rate\b"),
    ("quantity", r"\bhow (?:many|much|large|big|far|old|strong)\b"
                 r"|\bwhat(?: is| was| are| were)?(?: the)? (?:number|amount|size|total)\b"),
    ("name", r"\bwhat is the name\b|\bwhat was the name\b|\bname the\b"),
    ("who", r"\bwho\b|\bwhose\b|\bwhich (?:person|leader|official|president|negotiators?)\b"),
    ("where", r"\bwhere\b|\bin which (?:\w+ )?(?:city|country|place|town)\b"),
    ("entity", r"\bwhich (?:other )?(?:\w+ )?(?:city|country|countries|nation|place|region|town)\b"),
    ("why", r"^\s*why\b"),
]]


def _unit(low: str, kind: str) -> str:
    """What a "how many X" question counts, or the money word of "how much money"; "town" for
    "which city / town / capital"; "elapsed" for "how long has ..."; "" otherwise."""
    if kind == "entity":
        return "town" if re.search(r"\b(?:city|town|capital)\b", low) else ""
    if kind == "duration":
        return "elapsed" if re.search(r"\bhow long (?:has|have|had)\b", low) else ""
    if kind != "quantity":
        return ""
    m = re.search(r"\bhow (many|much)\s+([a-z]+)", low)
    if not m or m.group(2) in STOPWORDS:
        return ""
    return m.group(2) if m.group(1) == "many" or m.group(2) in _MONEY_WORDS else ""


def question_entities(question: str) -> list[str]:
    """Capitalised names in the question, an opening question word excluded."""
    out = []
    for m in _NAME.finditer(question):
        name = m.group().strip()
        parts = name.split()
        if m.start() == 0 or question[: m.start()].strip() == "":
            parts = parts[1:] if parts and parts[0].lower() in _QUESTION_WORDS else parts
        parts = [p for p in parts if p.lower() not in _QUESTION_WORDS]
        if parts:
            out.append(" ".join(parts))
    return out


def missing_entities(entities: tuple[str, ...], texts: list[str]) -> list[str]:
    """Question names none of whose distinctive words occur in the retrieved text."""
    found = set(words(" ".join(texts)))
    found |= {w.replace(".", "") for w in found}  # "U.S." answers "US"
    missing = []
    for entity in entities:
        entity_words = [w.replace(".", "") for w in words(entity) if w not in _TITLES and w not in STOPWORDS]
        stems = {w.rstrip("s") for w in found}
        if entity_words and not any(w in found or w.rstrip("s") in stems or any(related(w, f) for f in found)
                                    for w in entity_words):
            missing.append(entity)
    return missing


@dataclass(frozen=True)
class Candidate:
    hit: Hit
    sentence: Sentence
    text: str
    score: float
    value: str = ""


_DURATION = re.compile(
    r"\b(?:nearly |about |almost |more than |some |over )?(?:\d+|" + _NUMBER_WORDS + r")\s(?:full-scale\s)?"
    r"(?:years?|months?|weeks?|days?|hours?|minutes?)\b"
    r"|\b(?:not\s(?:\w+\s){0,4})?forever\b|\bright now\b|\bfor now\b|\bindefinitely\b"
    r"|\b(?:until|by)\s(?:Christmas|the end of \w+|next \w+|" + _MONTHS + r"|" + _DAYS + r")\b",
    re.IGNORECASE,
)
_CURRENCY = re.compile(r"[€$£]|\b(?:euros?|dollars?|pounds?)\b", re.IGNORECASE)
_VALUE_KINDS = {"quantity": "number", "duration": "length of time", "when": "time", "date": "date",
                "who": "name", "name": "name", "entity": "name", "where": "place"}


def _value(kind: str, text: str, question: str, unit: str = "") -> str:
    """The asked-for value, verbatim from the sentence, or "" when the sentence has none."""
    q_words = set(words(question))

    def new(candidate: str) -> bool:  # not a name the question already gives ("Russians" for "Russia")
        return not all(any(related(w, q) for q in q_words) for w in words(candidate))

    if kind == "quantity":
        found = [m for m in _QUANTITY.finditer(text)
                 if new(m.group()) and not re.search(r"Article[\s-]$", text[: m.start()])]
        if unit == "percent":
            found = [m for m in found if re.search(r"%|\bper ?cent", m.group() + text[m.end() : m.end() + 9])]
        elif unit in _MONEY_WORDS:
            found = [m for m in found if _CURRENCY.search(m.group()) or _CURRENCY.search(text[m.end() : m.end() + 12])]
        elif unit:
            unit_terms = set(terms(unit))
            found = [m for m in found if unit_terms & set(terms(" ".join(text[m.end() :].split()[:3])))]
        return found[0].group().strip() if found else ""
    if kind == "duration":
        found = [m.group().strip() for m in _DURATION.finditer(text) if new(m.group())]
        if unit == "elapsed":  # "how long has it been ...": a length of time, not a deadline ("by Christmas")
            found = [f for f in found if re.search(r"\d|" + _NUMBER_WORDS, f, re.IGNORECASE)]
        return found[0] if found else ""
    if kind == "date":
        found = [m.group() for m in _CALENDAR_DATE.finditer(text)]
        return found[0] if found else ""
    if kind == "when":
        found = [m for m in _DATE.finditer(text) if new(m.group())]
        return _nearest(found, text, question).group().strip() if found else ""
    if kind == "where" or (kind == "entity" and unit == "town"):  # a town is named after in/at/from or in a dateline
        places = [m for m in _NAME.finditer(text) if new(m.group())
                  and ((_is_name(m, text, "where") and re.search(r"\b(?:in|at|from)\s(?:an?\s|the\s)?$",
                                                                 text[: m.start()][-10:]))
                       or (m.group().isupper() and re.match(r"\s*—", text[m.end() :]) and not text[: m.start()].strip()))]
        if kind == "entity":
            return _nearest(places, text, question).group().strip() if places else ""
        venues = [m for m in re.finditer(r"\b(?:at|in) (?:a|an|the) (?:[\w-]+ ){0,2}?(?:conference|meeting|summit|"
                                         r"dinner|hall|office|headquarters|embassy|session|house|building|room)\b",
                                         text) if new(m.group())]
        found = places + venues
        return _nearest(found, text, question).group().strip() if found else ""
    if kind in ("who", "name", "entity"):
        names = [m for m in _NAME.finditer(text) if _is_name(m, text, kind) and new(m.group())]
        # "Who is the president of the European Council?": not "European Commission President Ursula
        # von der Leyen", which repeats words of the question, but "António Costa"
        fresh = [m for m in names if not set(words(m.group())) & q_words]
        return _nearest(fresh or names, text, question).group() if names else ""
    return ""


def wants_value(question: str) -> Callable[[str], bool] | None:
    """For a question that asks for a number, time, date, name or place: a test of whether a
    sentence holds such a value. None for other questions."""
    kind = intent(question)
    if kind.kind not in _VALUE_KINDS:
        return None
    return lambda text: bool(_value(kind.kind, text, question, kind.unit))


def _nearest(found: list[re.Match[str]], text: str, question: str) -> re.Match[str]:
    """The candidate closest to where the question's terms occur in the sentence."""
    wanted = set(terms(question))
    anchors = [m.start() for m in re.finditer(r"\S+", text) if wanted & set(terms(m.group()))]
    if not anchors:
        return found[0]
    return min(found, key=lambda m: min(abs(m.start() - a) for a in anchors))


_NOT_NAMES = re.compile(r"^(?:" + _DAYS + "|" + _MONTHS + r"|There’s|There|This|That|Those|These|It|Its|It’s|"
                        r"The|A|An|In|On|But|And|For|If|When|Where|Meanwhile|However|Separately|Further|"
                        r"Privately|Others|Their|They|He|She|We|Our|Article)$")


def _is_name(m: re.Match[str], text: str, kind: str) -> bool:
    """A capitalised run that can be the name asked for: not a sentence's first ordinary word, not a
    weekday or a pronoun, not a bare acronym; for "what is the name" questions, at least two words."""
    parts = m.group().split()
    if _NOT_NAMES.match(parts[0]) and len(parts) == 1:
        return False
    if len(parts) == 1 and (parts[0].isupper() or "." in parts[0]) and kind not in ("who", "entity"):
        return False  # "EU", "U.S." answer "who" (an actor) but are no person's or place's name
    if kind == "name" and (len(parts) < 2 or any(p.isupper() or "." in p or p[0].isdigit() for p in parts)
                           or _NOT_NAMES.match(parts[0])):
        return False  # "what is the name of ..." wants a proper name: two or more words, no acronyms
    if len(parts) == 1 and re.search(r"(?:an|ese|ish|ch)$", parts[0]) and re.match(r"\s+[a-z]", text[m.end() :]):
        return False  # a nationality used as an adjective ("European diplomats"), not a name
    at_start = text[: m.start()].strip(" “\"‘(") == ""
    return not (at_start and len(parts) == 1)


def speaker_matches(speaker: str, text: str, previous: str, also: tuple[str, ...] = ()) -> tuple[bool, bool]:
    """(is a quotation, attributed to `speaker`) for a sentence, looking at the sentence before it for
    the attribution of a quotation that carries none of its own. `also`: patterns (over lower-cased
    words) for descriptions that stand for the speaker, see aliases.descriptions_of."""
    quoted = bool(_QUOTE.search(text))
    names = [w for w in words(speaker) if w not in _TITLES and w not in STOPWORDS]
    if not names:
        return quoted, False

    name_re = r"(?:" + "|".join([re.escape(n) for n in names] + list(also)) + r")"

    def attributed(s: str) -> bool:
        """The speaker's name right before or after a speech verb ("Merz said", "said Merz",
        "Trump himself said"), or "he said" in a sentence that names the speaker first."""
        low = " ".join(words(s))
        near = (rf"\b{name_re}\b(?:\s\S+){{0,2}}\s(?:{_SPEECH})\b|\b(?:{_SPEECH})\s(?:\S+\s){{0,1}}{name_re}\b"
                rf"|\b{name_re}\b.*\b(?:he|she|it|they)\s(?:{_SPEECH})\b"
                rf"|^(?:in|according to)\s(?:(?:a|an|the|their|his|her|its)\s)?(?:\S+\s){{0,2}}{name_re}\b")
        return re.search(near, low) is not None

    if attributed(text):
        return quoted, True
    own_attribution = re.search(r"\b(?:" + _SPEECH + r")\b", text)
    if quoted and not own_attribution and previous and attributed(previous):
        return quoted, True
    return quoted, False


_PRONOUN = re.compile(r"\b(?:he|she|they|his|her|their|him|them)\b", re.IGNORECASE)
W_VALUE = 0.08  # the sentence holds the kind of value asked for (its absence costs W_NO_VALUE)
W_NO_VALUE = 0.12
W_SPEAKER = 0.15  # "what did X say": a quotation attributed to X
W_ACCORDING = 0.08  # "..., according to X?": a sentence attributed to X
W_COREF = 0.10  # the sentence refers by pronoun to a name of the question named just before it
W_ENTITY_ABSENT = 0.05  # the passage lacks a name of the question that other retrieved passages have
W_REPEAT = 0.15  # a follow-up's candidate that the previous answer already quoted
W_FOCUS_FOLLOWUP = 0.30
W_FOCUS = 0.10  # share of the user's own question terms (not the carried-over context) in the sentence
W_INHERIT = 0.5  # a sentence continuing a quote or statement ("It's also from the U.S.") shares its score
W_PREDICATE = 0.5  # similarity of the sentence to what the question asks about its names (see predicate())
_REFERRING_START = re.compile(r"^[“\"‘]?(?:This|That|These|Those|It|Its|They|Their|Such)\b")


def _continues_quote(text: str) -> bool:
    """A quotation that carries no attribution of its own continues the speaker of the sentence before."""
    return text.startswith(("“", '"')) and re.search(r"\b(?:" + _SPEECH + r")\b", text) is None


def predicate(question: str, kind: Intent) -> str:
    """What the question asks about the names in it: the question without its names and question
    words ("Did Zelenskyy regard the plans as final?" -> "regard plans as final"). Sentences that
    merely mention a rare name score high on the whole question; this keeps the rest in view."""
    names = {w for e in kind.entities for w in words(e)}
    kept = [t for t in re.findall(r"[\w’'\-]+", question)
            if t.lower() not in _QUESTION_WORDS and t.lower() not in names]
    return " ".join(kept)


def named_otherwise(entity: str, text: str, people: dict[str, set[tuple[str, str]]] | None) -> bool:
    """Whether `text` names the question's `entity` by its initials ("U.S." for "United States") or
    by a description the documents use for that person ("the Ukraine president" for Zelenskyy)."""
    parts = entity.split()
    initials = r"(?<![\w.])" + r"\.?".join(p[0] for p in parts) + r"\.?(?![\w.])"
    if len(parts) > 1 and all(p[0].isupper() for p in parts) and re.search(initials, text):
        return True
    patterns = descriptions_of(entity, people) if people else ()
    low = " ".join(words(text))
    return any(re.search(rf"\b{p}\b", low) for p in patterns)


def candidates(question: str, query: str, hits: list[Hit], kind: Intent,
               cache: VectorCache | None = None, people: dict[str, set[tuple[str, str]]] | None = None
               ) -> list[Candidate]:
    """Every sentence of the hits, scored for how well it answers this question."""
    out = []
    texts = [hit.text[s.start - hit.start : s.end - hit.start] for hit in hits for s in hit.sentences]
    about = predicate(question, kind)
    predicate_similarity = {}
    if cache is not None and about and texts:
        vectors = cache.encode([about] + texts)
        predicate_similarity = dict(zip(texts, (vectors[1:] @ vectors[0]).tolist()))
    q_terms = set(terms(question)) | set(terms(query))
    entity_terms = {t for e in kind.entities for t in terms(e)}
    focus_terms = set(terms(question))
    # a follow-up searched with the previous turn as context: its own words decide more
    focus_weight = W_FOCUS if question.strip() == query.strip() else W_FOCUS_FOLLOWUP
    all_text = [h.context_text or h.text for h in hits]
    # names of the question that only a few passages have: a passage without them is likely off-topic
    present_entities = [e for e in kind.entities
                        if 0 < sum(not missing_entities((e,), [t]) for t in all_text) <= len(all_text) / 3]
    # the sentence before each one in its document, when retrieved (it may sit in another hit)
    ending = {(hit.doc, s.end): hit.text[s.start - hit.start : s.end - hit.start] for hit in hits
              for s in hit.sentences}
    for hit in hits:
        rank_bonus = 0.04 / hit.rank if hit.rank else 0.0
        for s in hit.sentences:
            text = hit.text[s.start - hit.start : s.end - hit.start]
            previous = _neighbour(ending, hit.doc, s.start, -1) or ""
            score = s.score + rank_bonus + W_PREDICATE * predicate_similarity.get(text, 0.0)
            value = ""
            if kind.kind in _VALUE_KINDS:
                value = _value(kind.kind, text, question, kind.unit)
                if value and kind.kind == "quantity" and missing_entities(kind.entities, [text]):
                    value = ""  # a number about something else ("Ukraine's army" for "Russia's army")
                score += W_VALUE if value else -W_NO_VALUE
            elif kind.kind == "say":
                quoted, theirs = speaker_matches(kind.speaker, text, previous, kind.speaker_also)
                score += W_SPEAKER if theirs else (-0.05 if quoted else -W_SPEAKER)
            elif kind.kind == "why":
                if re.search(r"\b(?:because|to be able to|so that|in order to|since|due to|as)\b", text):
                    score += 0.05
            if kind.speaker and kind.kind != "say" and speaker_matches(kind.speaker, text, previous, kind.speaker_also)[1]:
                score += W_ACCORDING
            own = set(terms(text))
            for entity in kind.entities:
                if named_otherwise(entity, text, people):
                    own |= set(terms(entity))
            absent = [e for e in present_entities if missing_entities((e,), [hit.context_text or hit.text])]
            if absent:  # a name of the question that other passages have and this one lacks
                score -= W_ENTITY_ABSENT * len(absent) / len(present_entities)
            if previous and entity_terms - own and _PRONOUN.search(text):
                carried = (entity_terms - own) & set(terms(previous))
                score += W_COREF * len(carried) / len(entity_terms)
            elif previous and focus_terms - own and (_REFERRING_START.match(text) or _continues_quote(text)):
                carried = (focus_terms - own) & set(terms(previous))
                score += W_COREF * len(carried) / len(focus_terms)
            if focus_terms:
                score += focus_weight * len(focus_terms & own) / len(focus_terms)
            if not (q_terms & own):
                score -= 0.05
            out.append(Candidate(hit, s, text, score, value))
    return sorted(_inherit(out), key=lambda c: -c.score)


def _inherit(scored: list[Candidate]) -> list[Candidate]:
    """A sentence that continues a quote or statement ("It's also from the U.S." after "..., one EU
    diplomat said.") shares the score of the sentence it continues, when that one scores higher."""
    ending = {(c.hit.doc, c.sentence.end): c.score for c in scored}
    out = []
    for c in scored:
        before = _neighbour(ending, c.hit.doc, c.sentence.start, -1)
        if before is not None and before > c.score and (_REFERRING_START.match(c.text) or _continues_quote(c.text)):
            c = replace(c, score=c.score + W_INHERIT * (before - c.score))
        out.append(c)
    return out


def compose(question: str, query: str, hits: list[Hit], previous_answer: str = "",
            cache: VectorCache | None = None, people: dict[str, set[tuple[str, str]]] | None = None) -> Answer:
    """The extractive answer: up to three cited sentences, or an abstention.

    `question` is what the user asked (follow-up references resolved), `query` what was searched;
    for "which other ...?" follow-ups, values already given in `previous_answer` are not repeated."""
    kind = intent(question)
    if kind.speaker and people:
        kind = replace(kind, speaker_also=descriptions_of(kind.speaker, people))
    if not hits:
        return abstain(query, hits, "nothing in the documents matches it")
    missing = missing_entities(kind.entities, [h.context_text or h.text for h in hits])
    if missing and cache is not None:
        missing = [m for m in missing if not _named_alike(m, hits, cache)]
    opening = question.split()[0] if question.split() else ""
    missing = [m for m in missing if m != opening]  # may be capitalised only for opening it ("Wann wurde ...?")
    if missing:  # a name the passages never mention, nor one that means nearly the same
        return abstain(query, hits, f"they never mention {', '.join(missing)}")
    ranked = candidates(question, query, hits, kind, cache, people)
    if previous_answer:
        ranked = _after(previous_answer, question, kind, ranked)
    by_end = {(c.hit.doc, c.sentence.end): c for c in ranked}  # every candidate, before any filter below
    by_start = {(c.hit.doc, c.sentence.start): c for c in ranked}
    if kind.kind in _VALUE_KINDS:
        with_value = [c for c in ranked if c.value]
        if not with_value or with_value[0].score < ranked[0].score - VALUE_MARGIN:
            return abstain(query, hits, f"the passages that match give no {_VALUE_KINDS[kind.kind]} for it")
        ranked = with_value
    if kind.kind == "say" and kind.speaker:
        theirs = [c for c in ranked if speaker_matches(kind.speaker, c.text, _previous_sentence(c), kind.speaker_also)[1]]
        if not theirs:
            return abstain(query, hits, f"they quote nothing from {kind.speaker} on this")
        ranked = theirs + [c for c in ranked if c not in theirs]
    best = ranked[0]
    bar = ABSTAIN_BELOW
    if best.score < bar:
        return abstain(query, hits, "nothing in them answers it closely enough")
    when = _unmatched_time(question, best.hit.context_text or best.hit.text)
    if when:
        return abstain(query, hits, f"the passages that match are not about “{when}”")
    chosen = [best]
    for c in ranked[1:]:
        if len(chosen) >= MAX_SENTENCES or c.score < best.score - EXTRA_SENTENCE_MARGIN:
            break
        if any(_overlaps(c, o) for o in chosen):
            continue
        chosen.append(c)
    for c in list(chosen):
        # a quotation without attribution comes with the sentence that says who said it; a sentence
        # that goes on about the best one ("This force would ...") comes along when it would answer
        # well enough on its own
        before = _neighbour(by_end, c.hit.doc, c.sentence.start, -1)
        after = _neighbour(by_start, c.hit.doc, c.sentence.end, 1)
        goes_on = (c is best and after is not None and _REFERRING_START.match(after.text) is not None
                   and after.score >= bar)
        for extra, wanted in ((before, _continues_quote(c.text)), (after, goes_on)):
            if extra and wanted and len(chosen) < MAX_SENTENCES and not any(_overlaps(extra, o) for o in chosen):
                chosen.append(replace(extra, value=""))
    chosen.sort(key=lambda c: (c.hit.doc, c.sentence.start))
    citations = [cite(c) for c in chosen]
    parts = []
    lead = best.value if best.value and best.value.strip() != best.text.strip() else ""
    if lead:
        parts.append(f"{lead} [{chosen.index(best) + 1}] —")
    for n, c in enumerate(chosen, start=1):
        parts.append(f"{c.text} [{n}]")
    return Answer(" ".join(parts), citations, True, query, "extractive")


def _after(previous_answer: str, question: str, kind: Intent, ranked: list[Candidate]) -> list[Candidate]:
    """A follow-up asks for something new: sentences the previous answer already quoted count less
    (except for "why?", whose reason often sits in the same sentence), and for "which other ...?"
    the values already given are not offered again."""
    other = re.search(r"\b(?:other|else|another|besides)\b", question, re.IGNORECASE) is not None
    out = []
    for c in ranked:
        if kind.kind != "why" and c.text in previous_answer:
            c = replace(c, score=c.score - W_REPEAT)
        if other and c.value and not missing_entities((c.value,), [previous_answer]):
            c = replace(c, value="")
        out.append(c)
    out.sort(key=lambda c: -c.score)
    return out


# "the next round", "the current strength": a question about another time than the passages speak of
_TIMES = {"next": r"next|upcoming|following|future|later", "current": r"current|currently|now|present|today"}
_TIME_ASKED = re.compile(r"\b(?:(next|upcoming)|(current|currently))\b(?!\s+(?:year|month|week|day)\b)",
                         re.IGNORECASE)


def _unmatched_time(question: str, passage: str) -> str:
    """The question's words ("next round", "current troop") when it asks about the next or the current
    one and the passage never speaks of such a time; "" otherwise."""
    m = _TIME_ASKED.search(question)
    if not m:
        return ""
    times = _TIMES["next" if m.group(1) else "current"]
    if re.search(rf"\b(?:{times})\b", passage, re.IGNORECASE):
        return ""
    following = question[m.end() :].split()
    what = [w for w in itertools.takewhile(lambda w: w.lower() not in STOPWORDS, following[:2])]
    return " ".join([m.group()] + what).strip("?.,;:!")


SENTENCE_GAP = 2  # at most this many characters (white space) between two sentences that follow each other


def _neighbour(table: dict[tuple[str, int], T], doc: str, offset: int, step: int) -> T | None:
    """The entry for the retrieved sentence right before `offset` (step -1; `table` keyed by (doc,
    sentence end)) or right after it (step 1; keyed by (doc, sentence start)) in its document."""
    for gap in range(SENTENCE_GAP + 1):
        if (doc, offset + step * gap) in table:
            return table[(doc, offset + step * gap)]
    return None


def _named_alike(name: str, hits: list[Hit], cache: VectorCache) -> bool:
    """Whether the passages name something that means nearly the same as `name` ("Moscow" for
    "Russia", "Zelensky" for "Zelenskyy"), by the similarity of the names' embeddings."""
    found = sorted({m.group() for h in hits for m in _NAME.finditer(h.context_text or h.text)})
    if not found:
        return False
    vectors = cache.encode([name] + found)
    return float(np.max(vectors[1:] @ vectors[0])) >= SOFT_NAME_SIMILARITY


def _previous_sentence(c: Candidate) -> str:
    before = [s for s in c.hit.sentences if s.end <= c.sentence.start]
    if not before:
        return ""
    s = before[-1]
    return c.hit.text[s.start - c.hit.start : s.end - c.hit.start]


def _overlaps(a: Candidate, b: Candidate) -> bool:
    return a.hit.doc == b.hit.doc and a.sentence.start < b.sentence.end and b.sentence.start < a.sentence.end


def cite(c: Candidate) -> Hit:
    """A citation: the exact sentence span, with its passage as context."""
    return replace(c.hit, start=c.sentence.start, end=c.sentence.end, text=c.text, score=c.score,
                   sentences=(c.sentence,))


def abstain(query: str, hits: list[Hit], why: str) -> Answer:
    text = f"The documents don't say: {why}."
    if hits:
        text += " The closest passages are listed below; they are not an answer."
    return Answer(text, [], False, query, "extractive", closest=list(hits[:3]), note=why)


# ---------------------------------------------------------------------------------------------------
# Verification: shared by every answerer

_MARKER = re.compile(r"\[(\d+)\]")


def claims(text: str) -> list[tuple[str, list[int]]]:
    """Split answer text into (claim, [marker numbers]) pieces: a claim ends at its markers."""
    out: list[tuple[str, list[int]]] = []
    pos = 0
    for m in re.finditer(r"(?:\s*\[\d+\])+", text):
        claim = text[pos : m.start()].strip()
        numbers = [int(n) for n in _MARKER.findall(m.group())]
        out.append((claim, numbers))
        pos = m.end()
    tail = text[pos:].strip()
    if tail:
        out.append((tail, []))
    return out


def supported(claim: str, span: str, cache: VectorCache | None, lexicon: Lexicon | None = None) -> bool:
    """A claim is supported by a span when most of its content words are in it and it means the same.
    A claim copied verbatim from its span is supported by definition."""
    core = claim.strip(" —–-:;,.")
    if not core:
        return False
    if core in span:
        return True
    claim_terms = set(terms(core))
    if not claim_terms:
        return False
    overlap = len(claim_terms & set(terms(span))) / len(claim_terms)
    if overlap < SUPPORT_OVERLAP:
        return False
    if cache is None:
        return overlap >= 0.9
    vectors = cache.encode([core, span])
    return float(np.dot(vectors[0], vectors[1])) >= SUPPORT_SIMILARITY


def verify(answer: Answer, cache: VectorCache | None) -> Answer:
    """Keep only claims supported by the spans their markers cite; drop markers that point at
    nothing; renumber citations in order of first use. An answer left with no claim abstains."""
    if not answer.answered:
        return answer
    kept_parts: list[str] = []
    new_numbers: dict[int, int] = {}
    citations: list[Hit] = []
    for claim, numbers in claims(answer.text):
        valid = [n for n in numbers if 1 <= n <= len(answer.citations)]
        good = [n for n in valid if supported(claim, answer.citations[n - 1].text, cache)]
        if not good:
            continue
        for n in good:
            if n not in new_numbers:
                new_numbers[n] = len(citations) + 1
                citations.append(answer.citations[n - 1])
        markers = " ".join(f"[{new_numbers[n]}]" for n in dict.fromkeys(good))
        kept_parts.append(f"{claim} {markers}")
    if not kept_parts:
        return abstain(answer.query, answer.closest or answer.citations, "no statement could be tied to a "
                       "passage that supports it")
    return replace(answer, text=" ".join(kept_parts), citations=citations)
