"""Compose an answer from retrieved hits: verbatim evidence with [n] citations, or an honest abstention.

The default answerer writes nothing of its own: it picks the sentences that answer the question,
leads with the asked-for value (a number, name, date or place) copied from the cited sentence,
and cites each sentence's exact span. Every answer, from any answerer, passes `verify`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from .lexical import Lexicon, STOPWORDS, terms, words
from .search import VectorCache
from .types import Answer, Hit, Sentence

# Calibrated on eval/seed.jsonl (answerable vs unanswerable questions); see `assistant eval`.
ABSTAIN_BELOW = 0.52  # best adjusted sentence score under which the documents are taken not to answer
SUPPORT_SIMILARITY = 0.55  # verify(): claim-to-span cosine needed (with enough shared words)
SUPPORT_OVERLAP = 0.5  # verify(): share of the claim's content words found in its span
MISSING_ENTITY_PENALTY = 0.15  # a one-word name in the question that the passages never mention
EXTRA_SENTENCE_MARGIN = 0.08  # a second or third sentence must score within this of the best
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
)
_CALENDAR_DATE = re.compile(r"\b(?:" + _MONTHS + r")\s\d{1,2}\b|\b\d{1,2}\s(?:" + _MONTHS + r")\b|\b\d{4}-\d\d-\d\d\b")
_NAME_WORD = r"(?:[A-Z][\w’'\-]*[a-z][\w’'\-]*|[A-Z]\.(?:[A-Z]\.)+|[A-Z]{2,})"
_NAME = re.compile(_NAME_WORD + r"(?:\s(?:(?:von|der|de|van|la|al|bin)\s)*" + _NAME_WORD + r")*")
_TITLES = {"president", "chancellor", "minister", "prime", "secretary", "senator", "king", "queen", "official"}
_QUOTE = re.compile(r"[“”\"]")
_SPEECH = r"said|says|states|stated|added|adds|told|asked|wrote|stated|noted|explained|argued|called|described|welcomed|cautioned"
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


def intent(question: str) -> Intent:
    q = question.strip()
    low = q.lower()
    entities = tuple(question_entities(q))
    speaker = ""
    m = re.search(r"\b(?:what|how)\s+(?:did|does|do|has|have)\s+(.+?)\s+(?:say|said|call|describe|think|mean)\b", q,
                  re.IGNORECASE)
    if m:
        speaker = m.group(1).strip()
        return Intent("say", speaker, entities)
    m = re.search(r"\baccording to\s+([A-Z][\w’'\-]+(?:\s[A-Z][\w’'\-]+)*)", q)
    if m and re.search(r"\bwhat\b", low) and re.search(r"\b(?:say|said|call)\b", low):
        return Intent("say", m.group(1), entities)
    if re.search(r"\bwhat (?:date|day)\b|\bon which date\b", low):
        return Intent("date", entities=entities)
    if re.search(r"\bwhen\b|\bby when\b|\bwhich (?:day|weekday|month|year)\b|\bwhat (?:year|month|time)\b", low):
        return Intent("when", entities=entities)
    m = re.search(r"\bhow (?:many|much)\s+([a-z]+)?", low)
    if m or re.search(r"\bhow (?:large|big|long|far|old|strong)\b|\bwhat (?:number|amount|size)\b", low):
        unit = m.group(1) if m and m.group(1) and m.group(1) not in STOPWORDS else ""
        return Intent("quantity", entities=entities, unit=unit)
    if re.search(r"\bwho\b|\bwhose\b|\bwhich (?:person|leader|official|president|negotiators?)\b", low):
        return Intent("who", entities=entities)
    if re.search(r"\bwhat is the name\b|\bwhat was the name\b|\bname the\b", low):
        return Intent("name", entities=entities)
    if re.search(r"\bwhere\b|\bwhich (?:city|country|place|region|town)\b|\bin which (?:city|country)\b", low):
        return Intent("where", entities=entities)
    if re.search(r"^\s*why\b", low):
        return Intent("why", entities=entities)
    return Intent("what", entities=entities)


def question_entities(question: str) -> list[str]:
    """Capitalised names in the question, its first word excluded unless it continues a name."""
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
    missing = []
    for entity in entities:
        entity_words = [w for w in words(entity) if w not in _TITLES and w not in STOPWORDS]
        stems = {w.rstrip("s") for w in found}
        if entity_words and not any(w in found or w.rstrip("s") in stems or _demonym(w, found)
                                    for w in entity_words):
            missing.append(entity)
    return missing


def _demonym(word: str, found: set[str]) -> bool:
    """'belgium' ~ 'belgian', 'ukraine' ~ 'ukrainian', 'russia' ~ 'russian'."""
    root = word[:-1] if word.endswith(("a", "e", "y")) else word
    return len(root) >= 4 and any(f.startswith(root[:5]) for f in found)


@dataclass(frozen=True)
class Candidate:
    hit: Hit
    sentence: Sentence
    text: str
    score: float
    value: str = ""


def _value(kind: str, text: str, question: str, unit: str = "") -> str:
    """The asked-for value, verbatim from the sentence, or "" when the sentence has none."""
    q_words = set(words(question))

    def new(candidate: str) -> bool:
        return not set(words(candidate)) <= q_words

    if kind == "quantity":
        found = [m.group().strip() for m in _QUANTITY.finditer(text)
                 if new(m.group()) and not re.search(r"Article[\s-]$", text[: m.start()])]
        if unit and found and not any(t in terms(text) for t in terms(unit)):
            return ""
        return found[0] if found else ""
    if kind == "date":
        found = [m.group() for m in _CALENDAR_DATE.finditer(text)]
        return found[0] if found else ""
    if kind == "when":
        found = [m.group().strip() for m in _DATE.finditer(text) if new(m.group())]
        return found[0] if found else ""
    if kind in ("who", "name", "where"):
        names = [m for m in _NAME.finditer(text) if _is_name(m, text, kind) and new(m.group())]
        if kind == "where":
            names = [m for m in names if re.search(r"\b(?:in|at|from|to)\s$", text[: m.start()][-6:])]
        if not names:
            return ""
        anchors = [i for i, w in enumerate(_token_positions(text)) if w in set(terms(question))]
        if not anchors:
            return names[0].group()
        positions = _token_offsets(text)
        anchor_chars = [positions[i] for i in anchors]
        return min(names, key=lambda m: min(abs(m.start() - a) for a in anchor_chars)).group()
    return ""


_NOT_NAMES = re.compile(r"^(?:" + _DAYS + "|" + _MONTHS + r"|There’s|There|This|That|Those|These|It|Its|It’s|"
                        r"The|A|An|In|On|But|And|For|If|When|Where|Meanwhile|However|Separately|Further|"
                        r"Privately|Others|Their|They|He|She|We|Our|Article)$")


def _is_name(m: re.Match[str], text: str, kind: str) -> bool:
    """A capitalised run that can be the name asked for: not a sentence's first ordinary word, not a
    weekday or a pronoun, not a bare acronym; for "what is the name" questions, at least two words."""
    parts = m.group().split()
    if _NOT_NAMES.match(parts[0]) and len(parts) == 1:
        return False
    if len(parts) == 1 and (parts[0].isupper() or "." in parts[0]):
        return False
    if kind == "name" and len(parts) < 2:
        return False
    at_start = text[: m.start()].strip(" “\"‘(") == ""
    return not (at_start and len(parts) == 1)


def _token_positions(text: str) -> list[str]:
    return [terms(m.group())[0] if terms(m.group()) else "" for m in re.finditer(r"\S+", text)]


def _token_offsets(text: str) -> list[int]:
    return [m.start() for m in re.finditer(r"\S+", text)]


def speaker_matches(speaker: str, text: str, previous: str) -> tuple[bool, bool]:
    """(is a quotation, attributed to `speaker`) for a sentence, looking at the sentence before it for
    the attribution of a quotation that carries none of its own."""
    quoted = bool(_QUOTE.search(text))
    names = [w for w in words(speaker) if w not in _TITLES]
    if not names:
        return quoted, False

    name_re = r"(?:" + "|".join(re.escape(n) for n in names) + r")"

    def attributed(s: str) -> bool:
        """The speaker's name right before or after a speech verb ("Merz said", "said Merz",
        "Trump himself said"), or "he said" in a sentence that names the speaker first."""
        low = " ".join(words(s))
        near = (rf"\b{name_re}\b(?:\s\S+){{0,2}}\s(?:{_SPEECH})\b|\b(?:{_SPEECH})\s(?:\S+\s){{0,1}}{name_re}\b"
                rf"|\b{name_re}\b.*\b(?:he|she)\s(?:{_SPEECH})\b")
        return re.search(near, low) is not None

    if attributed(text):
        return quoted, True
    own_attribution = re.search(r"\b(?:" + _SPEECH + r")\b", text)
    if quoted and not own_attribution and previous and attributed(previous):
        return quoted, True
    return quoted, False


def candidates(question: str, query: str, hits: list[Hit], kind: Intent) -> list[Candidate]:
    """Every sentence of the hits, scored for how well it answers this question."""
    out = []
    q_terms = set(terms(question)) | set(terms(query))
    for hit in hits:
        rank_bonus = 0.04 / hit.rank if hit.rank else 0.0
        previous = ""
        for s in hit.sentences:
            text = hit.text[s.start - hit.start : s.end - hit.start]
            score = s.score + rank_bonus
            value = ""
            if kind.kind in ("quantity", "when", "date", "who", "name", "where"):
                value = _value(kind.kind, text, f"{question} {query}", kind.unit)
                score += 0.08 if value else -0.12
            elif kind.kind == "say":
                quoted, theirs = speaker_matches(kind.speaker, text, previous)
                score += 0.15 if theirs else (-0.05 if quoted else -0.15)
            elif kind.kind == "why":
                if re.search(r"\b(?:because|to be able to|so that|in order to|since|due to|as)\b", text):
                    score += 0.05
            if not (q_terms & set(terms(text))):
                score -= 0.05
            out.append(Candidate(hit, s, text, score, value))
            previous = text
    out.sort(key=lambda c: -c.score)
    return out


_VALUE_KINDS = {"quantity": "number", "when": "time", "date": "date", "who": "name", "name": "name",
                "where": "place"}


def compose(question: str, query: str, hits: list[Hit]) -> Answer:
    """The extractive answer: up to three cited sentences, or an abstention."""
    kind = intent(query)
    if not hits:
        return abstain(query, hits, "nothing in the documents matches it")
    missing = missing_entities(kind.entities, [h.context_text or h.text for h in hits])
    if any(len(m.split()) > 1 for m in missing):  # a full name that appears nowhere
        return abstain(query, hits, f"they never mention {', '.join(missing)}")
    ranked = candidates(question, query, hits, kind)
    if kind.kind in _VALUE_KINDS:
        with_value = [c for c in ranked if c.value]
        if not with_value:
            return abstain(query, hits, f"the passages that match give no {_VALUE_KINDS[kind.kind]} for it")
        ranked = with_value
    if kind.kind == "say" and kind.speaker:
        theirs = [c for c in ranked if speaker_matches(kind.speaker, c.text, _previous_sentence(c))[1]]
        if not theirs:
            return abstain(query, hits, f"they quote nothing from {kind.speaker} on this")
        ranked = theirs + [c for c in ranked if c not in theirs]
    best = ranked[0]
    bar = ABSTAIN_BELOW + (MISSING_ENTITY_PENALTY if missing else 0.0)
    if best.score < bar:
        why = f"they never mention {', '.join(missing)}" if missing else "nothing in them answers it closely enough"
        return abstain(query, hits, why)
    chosen = [best]
    for c in ranked[1:]:
        if len(chosen) >= MAX_SENTENCES or c.score < best.score - EXTRA_SENTENCE_MARGIN:
            break
        if any(_overlaps(c, o) for o in chosen):
            continue
        chosen.append(c)
    chosen.sort(key=lambda c: (c.hit.doc, c.sentence.start))
    citations = [cite(c) for c in chosen]
    parts = []
    lead = best.value if best.value and best.value.strip() != best.text.strip() else ""
    if lead:
        parts.append(f"{lead} [{chosen.index(best) + 1}] —")
    for n, c in enumerate(chosen, start=1):
        parts.append(f"{c.text} [{n}]")
    return Answer(" ".join(parts), citations, True, query, "extractive")


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
