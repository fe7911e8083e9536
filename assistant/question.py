"""Understand a question once: what kind of answer it wants, the names in it, what it asks about
them. The resulting `Question` is handed to retrieval and to the answerer; no later stage re-parses
the text."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from .lexical import STOPWORDS, Vocabulary, words
from .types import Question
from .values import DAYS, MONEY_WORDS, MONTHS, NAME, TITLES, VALUE_KINDS, find

QUESTION_WORDS = {"what", "who", "whom", "whose", "when", "where", "which", "why", "how", "did", "does", "do",
                  "is", "are", "was", "were", "will", "would", "can", "could", "should", "and", "in", "on",
                  "the", "a", "an", "according", "besides", "for", "to", "of", "by", "with", "if", "has", "have",
                  "had", "i", "we", "you", "my", "me", "what's", "what’s", "who's", "who’s", "where's", "where’s",
                  "how's", "how’s", "when's", "when’s", "there's", "there’s"}

# First match wins: the order matters ("how many years" is a duration, not a count).
_KIND_RULES = [(kind, re.compile(pattern)) for kind, pattern in [
    ("date", r"\bwhat (?:date|day)\b|\bon which date\b|\bon what date\b"),
    ("duration", (r"\bhow long\b|\bfor how long\b|\bhow many (?:years|months|weeks|days|hours|minutes|seconds)\b"
                  r"|\bhow (?:far|much) (?:ahead|in advance)\b|\bhow much (?:notice|time)\b")),
    ("what", r"^when (?:can|should|must|may|do|does|am|are|is) (?:i|you|we|one|they|staff|members?|employees?)\b"),
    ("when", (r"\bwhen\b|\bby when\b|\bhow far back\b|\bwhich (?:day|weekday|month|year|century|decade)\b"
              r"|\bwhat (?:year|month|time|century|decade)\b|\bin what year\b|\bwhat time of\b")),
    ("percent", r"\bwhat (?:percentage|percent|share|proportion|fraction)\b|\bwhat (?:\w+ )?rate\b"),
    ("quantity", (r"\bhow (?:many|much|large|big|far|old|strong|heavy|tall|high|wide|deep|hot|cold|fast|often)\b"
                  r"|\bwhat(?: is| was| are| were)?(?: the)?(?: \w+)? (?:number|amount|size|total|temperature|price|cost|"
                  r"weight|capacity|population|length|height|distance|fee|salary|budget|limit|speed|altitude|"
                  r"elevation|depth|width)\b|\bat what (?:altitude|height|temperature|speed|age)\b")),
    ("name", r"\bwhat is the name\b|\bwhat was the name\b|\bname the\b|\bwhat was \w+ called\b"),
    ("who", r"\bwho\b|\bwhose\b|\bwhich (?:person|leader|official|president|negotiators?|author|artist|company)\b"),
    ("where", (r"\bwhere\b|\bin which (?:\w+ )?(?:city|country|place|town|room|folder|directory|file)\b"
               r"|\bwhat (?:city|country|town|address|room|folder|directory|path)\b")),
    ("entity", r"\bwhich (?:other )?(?:\w+ )?(?:city|country|countries|nation|place|region|town)\b"),
    ("why", r"^\s*(?:why|for what reason|what (?:is|was) the reason)\b|\bwhy\b"),
    ("how", (r"^\s*how (?:do|can|should|would|could|does) (?:i|you|we|one|users?)\b|^\s*how to\b"
             r"|\bwhat (?:are )?the steps\b|\bwhat should (?:i|you|we) do\b")),
    ("yesno", r"^\s*(?:is|are|was|were|do|does|did|can|could|will|would|should|has|have|had|must|may)\b"),
]]


def analyse(text: str, query: str | None = None, speaker_also: Callable[[str], tuple[str, ...]] | None = None
            ) -> Question:
    """The question's kind, names, unit and predicate. `query` is what will be searched (the text by
    default); `speaker_also` maps a speaker's name to patterns of descriptions that stand for them."""
    q = text.strip()
    low = q.lower()
    entities = tuple(question_entities(q))
    kind, speaker, unit = _classify(q, low)
    also = speaker_also(speaker) if speaker and speaker_also else ()
    return Question(q, (query or q).strip(), kind, speaker, entities, unit, also, _predicate(q, entities))


_WH = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how)\b", re.IGNORECASE)
_AUXILIARY = re.compile(r"^\s*(?:is|are|was|were|do|does|did|can|could|will|would|should|has|have|had|must|may|"
                        r"shall|might|isn't|aren't|wasn't|don't|doesn't|didn't|can't|won't)\b", re.IGNORECASE)


# a clause that sets the scene before the question proper: "When the light blinks, ...", "If I move, ..."
_LEADING_CLAUSE = re.compile(r"\s*(?:when|where|while|if|once|after|before)\s+(?!(?:is|are|was|were|do|does|did|can|"
                             r"could|will|would|should|has|have|had|must|may)\b)[^,?]{3,80},\s*", re.IGNORECASE)


def _clause(q: str) -> str:
    """The part of the question that asks: from its question word, when that word opens the question
    (after at most three words, or after a comma: "For roughly how long ...", "Besides Russia, who ...").
    A question word later on belongs to a subordinate clause ("How much is it when I stay overnight?",
    "Is it open when it rains?"); a question with none asks as a whole ("Merz warned what?")."""
    lead = _LEADING_CLAUSE.match(q)
    if lead and (_WH.match(q, lead.end()) or _AUXILIARY.match(q[lead.end() :])):
        return _clause(q[lead.end() :])  # "When dedupe finds two copies, which does it keep?" asks "which"
    found = list(_WH.finditer(q))
    for i, m in enumerate(found[:1]):
        before = q[: m.start()]
        if len(before.split()) <= 3 or before.rstrip().endswith(","):
            later = [n for n in found[i + 1 :] if n.start() > m.end() + 1 and q[m.end() : n.start()].strip()]
            return q[m.start() : later[0].start() if later else len(q)]
    return "" if _AUXILIARY.match(q) else q


def _classify(q: str, low: str) -> tuple[str, str, str]:
    """(kind, speaker, unit) by a rule list over the asking clause, first match wins."""
    # "What did X say ...", "How did X rate ...", "Did X regard ... as final?": X's own words answer it
    m = re.search(r"\b(?:what|how)\s+(?:did|does|do|has|have)\s+(.+?)\s+(?:say|said|call|describe|think|rate|"
                  r"respond|react|reply|warn|view|regard|assess|predict)\b|\bwhat\s+did\s+(.+?)\s+mean\b"
                  r"|^(?:did|does|do)\s+(.+?)\s+(?:regard|consider|think|believe|expect|view)\b", q, re.IGNORECASE)
    if m and _speaks((m.group(1) or m.group(2) or m.group(3)).strip()):
        return "say", (m.group(1) or m.group(2) or m.group(3)).strip(), ""
    m = re.search(r"\baccording to\s+(?:the\s+)?([\w.’'\- ]+?)\s*[,?]", q)
    speaker = m.group(1).strip() if m else ""
    clause = re.sub(r"\b(what|who|where|when|how)['’]s\b", r"\1 is", _clause(q).lower())  # "what's the limit"
    if not clause:
        return "yesno", speaker, ""
    for kind, rule in _KIND_RULES:
        if rule.search(clause):
            if kind == "percent":
                return "quantity", speaker, "percent"
            return kind, speaker, _unit(clause, kind)
    return "what", speaker, ""


_SPEAKERS = {"leader", "leaders", "diplomat", "diplomats", "official", "officials", "spokesperson", "spokesman",
             "spokeswoman", "negotiator", "negotiators", "statement", "he", "she", "they", "author", "authors"} | TITLES


def _speaks(who: str) -> bool:
    """Whether "what did X say" names someone who can say things (a name, a role, a pronoun), rather than
    a thing ("what does the manual say" asks what the manual holds, not for a quotation)."""
    return any(w[:1].isupper() and w != "I" for w in who.split()) or bool(set(words(who)) & _SPEAKERS)


def _unit(low: str, kind: str) -> str:
    """What a "how many X" question counts, or the money word of "how much money" ("amount" for another
    "how much": a measure or a sum, not a count); "town" for "which city / town / capital"; "elapsed" for
    "how long has ..."; "clock" for "what time"; "" otherwise."""
    if kind == "entity":
        return "town" if re.search(r"\b(?:city|town|capital)\b", low) else ""
    if kind == "duration" and re.search(r"\bhow long (?:has|have|had)\b", low):
        return "elapsed"
    if kind == "when" and re.search(r"\b(?:what|which) times?\b", low):
        return "clock"  # "what time does it start?": a time of day, not a date
    if kind != "quantity" and not (kind == "duration" and re.search(r"\bhow long is\b", low)):
        return ""
    if re.search(r"\bhow much (?:does|do|did|will|would|is|are|was|were)\b.*\b(?:cost|pay|charge|spend|earn)\b"
                 r"|\bwhat (?:is |was )?(?:the )?(?:price|cost|fee|salary|budget)\b", low):
        return "cost"
    for unit, pattern in _MEASURES:
        if re.search(pattern, low):
            return unit
    m = re.search(r"\bhow (many|much)\s+([a-z]+)", low)
    if m and m.group(2) not in STOPWORDS and m.group(1) == "many":
        return _head_noun(low[m.start(2) :])
    if m and m.group(2) in MONEY_WORDS:
        return m.group(2)
    return "amount" if m and m.group(1) == "much" else ""  # "how much cardamom / were the quotes": not a count


def _head_noun(phrase: str) -> str:
    """What "how many X" counts: the last plural of the words before the verb ("council seats does ..." ->
    "seats", "disabled parking bays are ..." -> "bays"), else the first word ("people live there")."""
    run = list(itertools.takewhile(lambda w: w not in STOPWORDS and w not in QUESTION_WORDS,
                                   re.findall(r"[a-z][a-z-]*", phrase)[:4]))
    plurals = [w for w in run[:3] if w.endswith("s") and not w.endswith("ss")]
    return plurals[-1] if plurals else run[0] if run else ""


# "how far", "how heavy", "what temperature": the kind of unit that answers them (values.UNIT_CLASSES)
_MEASURES = [
    ("distance", r"\bhow (?:far|long a (?:walk|drive|ride))\b|\bwhat (?:is the )?distance\b|\bhow many (?:km|miles|kilomet)"),
    ("size", (r"\bhow (?:tall|high|wide|deep|long is)\b|\bwhat (?:is the )?(?:height|length|width|depth|"
              r"altitude|elevation|size)\b|\bat what (?:altitude|height)\b")),
    ("weight", r"\bhow heavy\b|\bwhat (?:does it|do they|does \w+) weigh\b|\bwhat (?:is the )?weight\b"),
    ("temperature", r"\bhow (?:hot|cold|warm)\b|\bwhat temperature\b|\bat what temperature\b"),
    ("speed", r"\bhow fast\b|\bwhat (?:is the )?speed\b"),
    ("age", r"\bhow old\b|\bat what age\b"),
]


_I_CONTRACTIONS = {f"i{a}{end}" for a in "'’" for end in ("m", "ve", "d", "ll")}  # "I'm", "I’ve"
# words capitalised only because they open the question: prepositions, pronouns, discourse words
_OPENING_WORDS = {"since", "within", "along", "alongside", "without", "once", "someone", "anyone", "anything",
                  "something", "everyone", "everything", "am", "apart", "aside", "besides", "except", "other", "please",
                  "so", "also", *_I_CONTRACTIONS}
# never a name by itself: a weekday or month (values.DAYS, MONTHS' full names; not "May", also a name) is a
# date; "I'm" anywhere
_NOT_ENTITIES = (({w.lower() for w in f"{DAYS}|{MONTHS}".split("|") if w.isalpha()} - {"may"}) | _I_CONTRACTIONS
                 | {"ok", "okay"})  # "Is it OK to ...": a word, not a name


def _opens_only(word: str) -> bool:
    """A question's first word that is capitalised for opening it, not for being a name ("Roughly",
    "During", "I'm")."""
    low = word.lower()
    return (low in QUESTION_WORDS or low in STOPWORDS or low in _OPENING_WORDS
            or (len(low) >= 7 and low.endswith("ly") and low.isalpha()))  # not "Italy"


def question_entities(question: str) -> list[str]:
    """Capitalised names in the question, an opening question word excluded."""
    out = []
    for m in NAME.finditer(question):
        name = m.group().strip()
        parts = name.split()
        if m.start() == 0 or question[: m.start()].strip() == "":
            parts = parts[1:] if parts and _opens_only(parts[0]) else parts
        parts = [p for p in parts if p.lower() not in QUESTION_WORDS]
        if len(parts) == 1 and parts[0].lower() in _NOT_ENTITIES:
            continue  # a month or weekday alone is a date (a passage may write "7 Feb", "weekends"); "I'm"
        if parts:
            out.append(" ".join(parts))
    return out


def _predicate(question: str, entities: tuple[str, ...]) -> str:
    """What the question asks about the names in it: the question without its names and question
    words ("Did Zelenskyy regard the plans as final?" -> "regard plans as final"). Sentences that
    merely mention a rare name score high on the whole question; this keeps the rest in view."""
    names = {w for e in entities for w in words(e)}
    kept = [t for t in re.findall(r"[\w’'\-]+", question)
            if t.lower() not in QUESTION_WORDS and t.lower() not in names]
    return " ".join(kept)


# a holiday is named by its date as often as by its name ("closed on 24, 25 and 26 December")
HOLIDAY_MONTHS = {"christmas": ("december",), "xmas": ("december",), "boxing": ("december",),
                  "hogmanay": ("december",), "halloween": ("october",), "valentine": ("february",),
                  "thanksgiving": ("november", "october"), "easter": ("march", "april"),
                  "new year": ("january", "december")}


def missing_entities(entities: tuple[str, ...], texts: list[str] | Vocabulary) -> list[str]:
    """Question names none of whose distinctive words occur in the texts (or the vocabulary); a holiday
    counts as named where its month is."""
    found = texts if isinstance(texts, Vocabulary) else Vocabulary.of(texts)
    missing = []
    for entity in entities:
        entity_words = [w.replace(".", "") for w in words(entity) if w not in TITLES and w not in STOPWORDS]
        holiday = HOLIDAY_MONTHS.get(re.sub(r"['’]s\b.*", "", entity.lower()).strip(), ())  # "New Year's Day"
        if entity_words and not any(found.names(w) or any(found.names(m) for m in HOLIDAY_MONTHS.get(
                re.sub(r"['’]s$", "", w), holiday)) for w in entity_words):
            missing.append(entity)
    return missing


def value_test(question: Question) -> Callable[[str], bool] | None:
    """For a question that asks for a number, time, date, name or place: a test of whether a
    sentence holds such a value. None for other questions."""
    if question.kind not in VALUE_KINDS:
        return None
    return lambda text: bool(find(question.kind, text, question.text, question.unit))
