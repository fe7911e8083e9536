"""Compose an answer from retrieved hits: verbatim evidence with [n] citations, or an honest abstention.

The default answerer writes nothing of its own: it picks the sentences that answer the question,
leads with the asked-for value (a number, name, date or place) copied from the cited sentence,
and cites each sentence's exact span. Every answer, from any answerer, passes `verify`.

Each candidate sentence is described by a few features (`features`); its score is their weighted
sum, with weights and thresholds fitted on dev data by eval/fit_answer.py (assistant/weights.json).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from .aliases import descriptions_of
from .corpus import BOLD_LABEL, NUMBERED_ITEM, TITLE_JOIN
from .lexical import STOPWORDS, Lexicon, Vocabulary, terms, words
from .question import missing_entities
from .types import UNSURE, Answer, Hit, Question, Sentence
from .values import (
    NAME,
    PLACE_LABELS,
    QUOTE,
    SPEECH,
    TITLES,
    VALUE_KINDS,
    find,
    has_unit,
    is_name,
    says_something,
)

if TYPE_CHECKING:
    from .reader import Reader
    from .search import VectorCache

T = TypeVar("T")

SUPPORT_SIMILARITY = 0.55  # verify(): claim-to-span cosine needed (with enough shared words)
SUPPORT_OVERLAP = 0.5  # verify(): share of the claim's content words found in its span
SOFT_NAME_SIMILARITY = 0.8  # a question's name counts as mentioned by a name this close in meaning ("Moscow" ~ "Russia")
MAX_SENTENCES = 3
MAX_STEPS = 8  # a how-to answer lists at most this many steps
W_INHERIT = 0.5  # a sentence continuing a quote or statement ("It's also from the U.S.") shares its score
AFTER_CHARS = 300  # "right after the previous answer": starts within this many characters of its end (2-3 sentences)

# What describes a candidate sentence. The weights below were set by hand on the seed article and are
# the fallback; assistant/weights.json (eval/fit_answer.py) replaces them with weights fitted on dev data.
FEATURES = ("retrieval", "predicate", "rank", "value", "no_value", "speaker", "quoted_other", "say_none", "cause",
            "according", "coref", "entity_absent", "names_missing", "names_here", "focus", "focus_followup", "no_terms", "repeat",
            "after_answer", "steps", "heading", "length", "names_off_doc", "terms_off_doc", "numbers_missing",
            "nothing_new", "reader", "bias")
HAND_WEIGHTS = {"retrieval": 1.0, "predicate": 0.5, "rank": 0.04, "value": 0.08, "no_value": -0.12,
                "speaker": 0.15, "quoted_other": -0.05, "say_none": -0.15, "cause": 0.05, "according": 0.08,
                "coref": 0.10, "entity_absent": -0.05, "names_missing": 0.0, "names_here": 0.0, "focus": 0.10, "focus_followup": 0.30, "no_terms": -0.05,
                "repeat": -0.15, "after_answer": 0.0, "steps": 0.0, "heading": 0.0, "length": 0.0, "names_off_doc": 0.0,
                "terms_off_doc": 0.0, "numbers_missing": 0.0, "nothing_new": 0.0, "reader": 0.0, "bias": 0.0}
HAND_THRESHOLDS = {"abstain_below": 0.545, "value_margin": 0.2, "extra_margin": 0.08}
# Whether the chosen sentence answers at all: a score over the question-level facts below, compared with
# abstain_below. By hand it is the best sentence's score alone; the fit weighs all of them.
ANSWERABILITY = ("score", "reader", "margin", "names_missing", "names_here", "names_off_doc", "terms_off_doc",
                 "numbers_missing", "value", "bias")
HAND_ANSWERABILITY = {"score": 1.0}
WEIGHTS_FILE = Path(__file__).with_name("weights.json")


@dataclass(frozen=True)
class Model:
    """The answerer's weights and thresholds (score units: the weighted sum of FEATURES)."""

    weights: dict[str, float]
    abstain_below: float  # best score under which the documents are taken not to answer
    value_margin: float  # a sentence holding the asked-for value may score at most this far below the best
    extra_margin: float  # a second or third sentence must score within this of the best
    value_required: bool = True  # abstain when no sentence near the best holds the asked-for value
    answerability: dict[str, float] = field(default_factory=lambda: dict(HAND_ANSWERABILITY))
    source: str = "hand"
    # an answer surer than abstain_below but less than this is more likely wrong than right (fitted on dev
    # data, eval/fit_answer.py): it is given, with UNSURE as its note
    unsure_below: float = float("-inf")

    def answers(self, best: Candidate, runner_up: Candidate | None) -> float:
        """How surely the best candidate answers the question; abstain below `abstain_below`."""
        facts = answerability_facts(best.score, runner_up.score if runner_up else None, best.features, best.value)
        return sum(self.answerability.get(name, 0.0) * x for name, x in facts.items())


def answerability_facts(score: float, runner_up: float | None, features: tuple[float, ...] | np.ndarray,
                        value: str) -> dict[str, float]:
    """What tells an answer from a near miss: the best score, the reader's reading, the lead over the
    next candidate, names of the question missing from the passage or named by the sentence itself,
    names and words of the question its whole document never uses ("Can I claim my broadband bill?" of
    a travel policy), numbers and codes of the question the sentence and its headings lack, and whether a
    value was found."""
    f = dict(zip(FEATURES, features))
    return {"score": float(score), "reader": float(f.get("reader", 0.0)),
            "margin": min(score - runner_up, 5.0) if runner_up is not None else 5.0,
            **{name: float(f.get(name, 0.0))
               for name in ("names_missing", "names_here", "names_off_doc", "terms_off_doc", "numbers_missing")},
            "value": float(bool(value)), "bias": 1.0}


@lru_cache(maxsize=1)
def model() -> Model:
    """The fitted model from weights.json, or the hand-set fallback when the file has none."""
    try:
        fitted = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))["answer"]
        return Model({f: float(fitted["weights"].get(f, 0.0)) for f in FEATURES}, float(fitted["abstain_below"]),
                     float(fitted["value_margin"]), float(fitted["extra_margin"]), bool(fitted["value_required"]),
                     {f: float(x) for f, x in fitted["answerability"].items()}, "fitted",
                     float(fitted.get("unsure", {}).get("below", float("-inf"))))
    except (OSError, KeyError, ValueError, TypeError):
        return Model(dict(HAND_WEIGHTS), **HAND_THRESHOLDS)


@dataclass(frozen=True)
class Candidate:
    hit: Hit
    sentence: Sentence
    text: str
    score: float
    value: str = ""
    features: tuple[float, ...] = ()
    reads: str = ""  # what the reader reads for it (reader_text)


def speaker_matches(speaker: str, text: str, previous: str, also: tuple[str, ...] = ()) -> tuple[bool, bool]:
    """(is a quotation, attributed to `speaker`) for a sentence, looking at the sentence before it for
    the attribution of a quotation that carries none of its own. `also`: patterns (over lower-cased
    words) for descriptions that stand for the speaker, see aliases.descriptions_of."""
    quoted = bool(QUOTE.search(text))
    names = [w for w in words(speaker) if w not in TITLES and w not in STOPWORDS]
    if not names:
        return quoted, False

    name_re = r"(?:" + "|".join([re.escape(n) for n in names] + list(also)) + r")"

    def attributed(s: str) -> bool:
        """The speaker's name right before or after a speech verb ("Merz said", "said Merz",
        "Trump himself said"), or "he said" in a sentence that names the speaker first."""
        low = " ".join(words(s))
        near = (rf"\b{name_re}\b(?:\s\S+){{0,2}}\s(?:{SPEECH})\b|\b(?:{SPEECH})\s(?:\S+\s){{0,1}}{name_re}\b"
                rf"|\b{name_re}\b.*\b(?:he|she|it|they)\s(?:{SPEECH})\b"
                rf"|^(?:in|according to)\s(?:(?:a|an|the|their|his|her|its)\s)?(?:\S+\s){{0,2}}{name_re}\b")
        return re.search(near, low) is not None

    if attributed(text):
        return quoted, True
    own_attribution = re.search(r"\b(?:" + SPEECH + r")\b", text)
    if quoted and not own_attribution and previous and attributed(previous):
        return quoted, True
    return quoted, False


_PRONOUN = re.compile(r"\b(?:he|she|they|his|her|their|him|them)\b", re.IGNORECASE)
_REFERRING_START = re.compile(r"^[“\"‘]?(?:This|That|These|Those|It|Its|They|Their|Such)\b")
_CAUSE = re.compile(r"\b(?:because|to be able to|so that|in order to|since|due to|as a result|owing to|thanks to|"
                    r"the reason|therefore|thus|so as to|which is why|that is why|to avoid|to prevent|to ensure|"
                    r"to keep|to allow|caused|led to|leads to|results? in)\b", re.IGNORECASE)
_ASKS_EFFECT = re.compile(r"\bwhat (?:effects?|impacts?|consequences?|happen(?:s|ed)?|(?:is|was|were) the "
                          r"(?:results?|outcomes?|consequences?|effects?))\b", re.IGNORECASE)
_LIST_ITEM = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•+]|[a-z][.)]|Step\s\d+[:.]?)\s")


def _continues_quote(text: str) -> bool:
    """A quotation that carries no attribution of its own continues the speaker of the sentence before."""
    return text.startswith(("“", '"')) and re.search(r"\b(?:" + SPEECH + r")\b", text) is None


def is_heading(text: str, document_start: bool = False) -> bool:
    """A line that never answers by itself: a title or heading (a markdown heading, a line in capitals,
    one short line without a sentence's closing punctuation; a document's first line may be longer, and
    may be a label with its value),
    a question (an FAQ's), a list item all in bold (a step's heading), or a table row of labels without
    any figure."""
    line = text.strip()
    core = line.strip("*_#` ").strip()
    if line.startswith("#") or core.endswith("?"):
        return True
    if "\n" in line or not core:
        return False
    if _LIST_ITEM.match(line):  # a step; unless all of it is bold: the step's heading ("2. **Install it.**")
        rest = _LIST_ITEM.sub("", line, count=1).strip()
        if re.fullmatch(r"(\*\*|__)[^*_]+\1", rest):
            return True
        # a numbered section's heading ("8. Error codes") or a step ("1. Mix the flour."), by its words;
        # an item that opens in lower case goes on from the line that introduces it ("1. black, tarry stools")
        return bool(re.match(r"\s*\d{1,2}\.\s", line) and rest and not rest[0].islower()
                    and not _LIST_ITEM.match(rest) and is_heading(rest))
    if core.startswith("|"):  # a table row of labels: no cell holds a figure
        return not any(re.match(r"[€$£¥]?\s?[-+]?\d", cell.strip()) for cell in core.split("|"))
    letters = [c for c in core if c.isalpha()]
    if len(letters) > 3 and sum(c.isupper() for c in letters) > 0.8 * len(letters):
        return True
    # "Beds: 42 in dormitories", "**Release manager:** Priya Lind", "Open: mid-June to the end of
    # September": not a heading; but as a document's first line, its title ("Subject: RE: Portal go-live")
    if (_label_and_value(core) or BOLD_LABEL.match(line)) and not document_start:
        return False
    limit = 16 if document_start else 10
    return len(core.split()) <= limit and not re.search(r"[.!;,”\"')]$", core)


_LABEL = re.compile(r"([^:\n]{1,30}):\s+(\S.*)")
_TITLE_SMALL_WORDS = frozenset("a an and as at by for from in of on or the to with".split())


def _label_and_value(line: str) -> bool:
    """"Label: value" where the label is a few words and the value has a figure or reads as a phrase
    ("Open: mid-June to the end of September"), not as a title's second half ("Part 2: The Return")."""
    m = _LABEL.fullmatch(line)
    if not m or len(m.group(1).split()) > 4:
        return False
    value = m.group(2)
    return bool(re.search(r"\d", value)) or any(
        w[0].islower() and w.lower() not in _TITLE_SMALL_WORDS for w in re.findall(r"[^\W\d_][\w'-]*", value))


def _line_start(hit: Hit, s: Sentence) -> str:
    """The text of the sentence's line up to the sentence (list markers live there)."""
    before = hit.text[: s.start - hit.start]
    return before[before.rfind("\n") + 1 :]


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


_TABLE_ROW = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.MULTILINE)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def table_headers(spans: Iterable[tuple[str, int, str]]) -> dict[str, list[tuple[int, list[str]]]]:
    """The header rows of the markdown tables in these (doc, offset, text) spans, per document: (offset,
    cells) of each row that a |---| rule follows, or, when a span ends right after the row, that opens
    its table."""
    found: dict[str, dict[int, list[str]]] = {}
    for doc, start, text in spans:
        for m in _TABLE_ROW.finditer(text or ""):
            after, before = text[m.end() + 1 : m.end() + 40], text[: m.start()].rstrip("\n")
            opens = not after.strip() and not before[before.rfind("\n") + 1 :].lstrip().startswith("|")
            if _TABLE_RULE.match(after) or opens:
                found.setdefault(doc, {})[start + m.start()] = _cells(m.group())
    return {doc: sorted(rows.items()) for doc, rows in found.items()}


def header_of(row: str, doc: str, start: int, headers: dict[str, list[tuple[int, list[str]]]]) -> list[str]:
    """The header row of a table row: the nearest one above it with as many cells; [] for none."""
    cells = _cells(row) if row.strip().startswith("|") else []
    above = [h for offset, h in headers.get(doc, []) if offset < start and len(h) == len(cells)]
    return above[-1] if cells and above else []


def table_cell(row: str, header: list[str], question: str) -> tuple[str, str]:
    """For a table row under `header`, (header, cell) of the column whose header the question names
    ("How much does the TC-8 Pro cost?" -> "TC-8 Pro" and its cell of the price row); ("", "") when
    there is none. A header is named by its words, or by those of its words that set it apart from
    the other columns, when they hold a letter ("the 8 Pro" names "RainSprout 8 Pro" beside
    "RainSprout 4" and "RainSprout Tap"; "4" alone names nothing)."""
    if not header:
        return "", ""
    cells = _cells(row)
    asked = f" {' '.join(words(question))} "
    heads = [words(h) for h in header]
    others = [set(w) for w in heads[1:] if w]
    shared = set.intersection(*others) if len(others) > 1 else set()
    named = []
    for j, head in enumerate(heads):
        own = [w for w in head if w not in shared]
        for phrase in {" ".join(head), " ".join(own) if re.search(r"[^\W\d_]", " ".join(own)) else ""}:
            if j > 0 and phrase and f" {phrase} " in asked and j < len(cells):
                named.append((len(phrase), j))
    return (header[max(named)[1]], cells[max(named)[1]]) if named else ("", "")


# the header words of a column that holds what a question of this kind asks for, whatever it names
_KIND_COLUMNS = {"where": PLACE_LABELS}


def kind_column(row: str, header: list[str], kind: str) -> str:
    """The cell of a row under the one column whose header says it holds what the question's kind asks
    for ("Where are we playing Pellow Vale?": the "Venue" cell), when it holds words; "" otherwise."""
    wanted = _KIND_COLUMNS.get(kind, set())
    columns = [j for j, h in enumerate(header) if j > 0 and set(words(h)) & wanted]
    cells = _cells(row)
    if len(columns) != 1 or columns[0] >= len(cells) or cells == header:
        return ""
    cell = cells[columns[0]]
    return cell if says_something(cell) else ""


def labelled_row(row: str, header: list[str]) -> str:
    """A table row with each cell under its column's header, as a reader can take it in without the
    table: "| Price | £59 | £129 |" under "| | TC-8 | TC-8 Pro |" -> "Price; TC-8: £59; TC-8 Pro: £129"."""
    cells = _cells(row)
    if not header or header == cells:
        return row
    return "; ".join(f"{h}: {c}" if h else c for h, c in zip(header, cells) if c)


def _about(hit: Hit) -> str:
    """What a passage is about, for telling whether it names the question's names: its text and the
    title it sits under (a manual's passage on error codes is about the product its title names)."""
    text = hit.context_text or hit.text
    return f"{hit.title}\n{text}" if hit.title else text


_NUMBER_TOKEN = re.compile(r"(?<![\w.,:\-/])(?:[^\W\d_]+-?)?\d[\w.,:\-/]*(?<![.,:\-/])")


def numbers_of(text: str) -> set[str]:
    """The tokens of a text that hold a digit: versions, codes, numbers ("4.3.0", "E21", "47", "FL-260")."""
    return {t.lower() for t in _NUMBER_TOKEN.findall(text)}


def numbers_missing(asked: set[str], text: str) -> float:
    """The share of the question's numbers and codes (numbers_of) that `text` lacks; "4.3" is found in
    "4.3.0" and the other way round (a version's parts)."""
    if not asked:
        return 0.0
    have = numbers_of(text)
    found = {a for a in asked if any(a == h or h.startswith(a + ".") or a.startswith(h + ".") for h in have)}
    return 1.0 - len(found) / len(asked)


def _holds_fact(question: Question, value: str) -> bool:
    """A heading's value that answers by itself: a date, time or length of time, or a number with its
    unit; not a section's number ("## 4. Hotels")."""
    if question.kind in ("when", "date", "duration"):
        return bool(re.search(r"\d", value))
    return has_unit(value)


_PRONOUN_START = re.compile(r"[\s\-*•]*(?:He|She|It|They|His|Her|Its|Their)\b")


def _about_another(question: Question, text: str, value: str) -> bool:
    """The sentence lacks the question's names and names something else instead, before the value or
    in its clause: the value is about that. A sentence that names nothing ("Students can get the
    membership for £45.") is about the subject of its passage, which retrieval matched to the question;
    a name after the value's clause ("... had fallen to about 4,500, and the nearest harbour was at
    Calloway") is not what the value is about."""
    if not missing_entities(question.entities, [text]) or _PRONOUN_START.match(text):
        return False  # "He received ... three Emmy Awards": a sentence about its passage's subject
    at = text.find(value)
    clause_end = re.search(r"[,;:—–]\s|$", text[at + len(value) :]) if at >= 0 else None
    upto = text[: at + len(value) + clause_end.start()] if clause_end else text
    asked = set(words(question.text))
    return any(is_name(m, upto, "who") and not set(words(m.group())) <= asked for m in NAME.finditer(upto))


def candidates(question: Question, hits: list[Hit], cache: VectorCache | None = None,
               people: dict[str, set[tuple[str, str]]] | None = None, previous_answer: str = "",
               weights: dict[str, float] | None = None, reader: Reader | None = None,
               vocabulary: Mapping[str, Vocabulary] | None = None,
               tables: Mapping[str, list[tuple[int, list[str]]]] | None = None) -> list[Candidate]:
    """Every sentence of the hits with its features and score (how well it answers the question).
    `reader`, when given, reads each sentence together with the question (a cross-encoder);
    `vocabulary`, the words of each hit's whole document (Assistant.vocabulary); `tables`, the header
    rows of its tables (Assistant.tables)."""
    w = model().weights if weights is None else weights
    texts = [hit.text[s.start - hit.start : s.end - hit.start] for hit in hits for s in hit.sentences]
    predicate_similarity = {}
    if cache is not None and question.predicate and texts:
        vectors = cache.encode([question.predicate] + texts)
        predicate_similarity = dict(zip(texts, (vectors[1:] @ vectors[0]).tolist()))
    q_terms = set(terms(question.text)) | set(terms(question.query))
    entity_terms = {t for e in question.entities for t in terms(e)}
    focus_terms = set(terms(question.text))
    asked_numbers = numbers_of(question.text)  # "When did version 4.3.0 come out?": not 4.0.0's heading
    all_text = [_about(h) for h in hits]
    # names of the question that only a few passages have: a passage without them is likely off-topic
    present_entities = [e for e in question.entities
                        if 0 < sum(not missing_entities((e,), [t]) for t in all_text) <= len(all_text) / 3]
    # the sentence before each one in its document, when retrieved (it may sit in another hit)
    ending = {(hit.doc, s.end): hit.text[s.start - hit.start : s.end - hit.start] for hit in hits
              for s in hit.sentences}
    # the header rows of the tables in the hits and, given `tables` (Assistant.tables), in their whole
    # documents: a row retrieved without its table's top is still read under its header
    headers = table_headers([(h.doc, start, text) for h in hits
                             for start, text in ((h.start, h.text), (h.context_start, h.context_text))])
    for doc, rows in (tables or {}).items():
        headers[doc] = sorted(dict([*rows, *headers.get(doc, [])]).items())
    # where the sentences of the previous answer end: a follow-up ("Did it pass?") is often answered right after
    answered_ends = {key for key, said in ending.items() if previous_answer and said in previous_answer}
    out = []
    for hit, about in zip(hits, all_text):
        absent = [e for e in present_entities if missing_entities((e,), [about])]
        names_missing = (len(missing_entities(question.entities, [about]))
                         / len(question.entities) if question.entities else 0.0)
        document = (vocabulary or {}).get(hit.doc)
        names_off_doc = (len(missing_entities(question.entities, document)) / len(question.entities)
                         if document is not None and question.entities else 0.0)
        terms_off_doc = (len(focus_terms - document.terms) / len(focus_terms)
                         if document is not None and focus_terms else 0.0)
        title_lines = {part.strip() for part in hit.title.split(TITLE_JOIN)} if hit.title else set()
        for s in hit.sentences:
            text = hit.text[s.start - hit.start : s.end - hit.start]
            previous = _neighbour(ending, hit.doc, s.start, -1) or ""
            f = dict.fromkeys(FEATURES, 0.0)
            f["bias"] = 1.0
            f["retrieval"] = s.score
            f["predicate"] = predicate_similarity.get(text, 0.0)
            f["rank"] = 1.0 / hit.rank if hit.rank else 0.0
            value = ""
            header = header_of(text, hit.doc, s.start, headers)
            column, cell = table_cell(text, header, question.text)
            if question.kind in VALUE_KINDS:
                kind_cell = "" if cell else kind_column(text, header, question.kind)
                if kind_cell:  # "Where are we playing?": the row's "Venue" cell is the place
                    value = kind_cell
                elif cell:  # the column the question names: its header says what the row's value is about
                    value = find(question.kind, cell, question.text, question.unit)
                    if not value:  # the row's first cell says what the value counts ("How many programmes
                        # ...?": "| Max. programmes | 4 | 12 |"), as a label does ("Beds: 42")
                        labelled = find(question.kind, f"{' '.join(words(_cells(text)[0]))}: {cell}",
                                        question.text, question.unit)
                        value = labelled if labelled in cell else ""
                else:
                    value = find(question.kind, text, question.text, question.unit)
                    if value and question.kind == "quantity" and _about_another(question, text, value):
                        value = ""  # a number about something else ("Ukraine's army" for "Russia's army")
                f["value" if value else "no_value"] = 1.0
            elif cell:  # "What is the detection range of the TC-8 Pro?": the cell leads the row
                value = cell
            if question.kind == "say":
                quoted, theirs = speaker_matches(question.speaker, text, previous, question.speaker_also)
                f["speaker" if theirs else "quoted_other" if quoted else "say_none"] = 1.0
            elif question.kind == "why":
                f["cause"] = 1.0 if _CAUSE.search(text) else 0.0
            elif question.kind == "how":
                f["steps"] = 1.0 if _LIST_ITEM.match(_line_start(hit, s) + text) else 0.0
            if question.speaker and question.kind != "say":
                f["according"] = float(speaker_matches(question.speaker, text, previous, question.speaker_also)[1])
            said = set(terms(text))
            own = said | set(terms(column))  # a table row speaks of the column the question names
            for entity in question.entities:
                if named_otherwise(entity, text, people):
                    own |= set(terms(entity))
            f["names_missing"] = names_missing  # the question's names its passage lacks
            f["names_off_doc"], f["terms_off_doc"] = names_off_doc, terms_off_doc  # ... its document never uses
            if question.entities:  # ... and those the sentence itself names ("E2:" for "What does E2 mean?")
                f["names_here"] = 1.0 - len(missing_entities(question.entities, [f"{column} {text}"])) / len(question.entities)
            if absent:  # a name of the question that other passages have and this one lacks
                f["entity_absent"] = len(absent) / len(present_entities)
            if previous and entity_terms - own and _PRONOUN.search(text):
                f["coref"] = len((entity_terms - own) & set(terms(previous))) / len(entity_terms)
            elif previous and focus_terms - own and (_REFERRING_START.match(text) or _continues_quote(text)):
                f["coref"] = len((focus_terms - own) & set(terms(previous))) / len(focus_terms)
            if focus_terms:  # a follow-up searched with the previous turn as context: its own words decide more
                f["focus_followup" if question.is_followup else "focus"] = len(focus_terms & own) / len(focus_terms)
            f["no_terms"] = float(not (q_terms & own))
            f["nothing_new"] = float(said <= q_terms)  # "Proposed: Maggie Fenner." for "What did she propose?"
            f["repeat"] = float(bool(previous_answer) and question.kind != "why" and text in previous_answer)
            f["after_answer"] = float(text not in previous_answer and any(
                doc == hit.doc and 0 <= s.start - end <= AFTER_CHARS for doc, end in answered_ends))
            # a heading never answers by itself, unless it holds the date or number asked for ("When did
            # 4.0.0 come out?": "## 4.0.0 — 3 June 2024"); the answer then leads with that value
            # a table row under its table's header row is a row of data ("| L2 | Flame lost three times ...
            # |"), however few figures it holds; only a row without a header above can be one of labels
            data_row = bool(header) and _cells(text) != header
            # a line that repeats the title the passage sits under is that title ("Subject: RE: Customer
            # portal go-live - revised date" again in an e-mail's body), though it reads as a label and its value
            titled = text.strip() in title_lines
            f["heading"] = float((is_heading(text, s.start == 0) or titled) and not data_row
                                 and not _holds_fact(question, value))
            f["length"] = min(len(text.split()), 60) / 60
            reads = reader_text(hit, labelled_row(text, header), s.start - hit.start)  # under its title, headings
            f["numbers_missing"] = numbers_missing(asked_numbers, reads)
            out.append(Candidate(hit, s, text, 0.0, value, tuple(f[name] for name in FEATURES), reads))
    return sorted(_inherit(_read(question, out, w, reader)), key=lambda c: -c.score)


READER_TOP = 12  # the reader reads this many candidates, the best by the other features (~100 ms on 1 thread)


def _read(question: Question, found: list[Candidate], w: dict[str, float], reader: Reader | None
          ) -> list[Candidate]:
    """Score every candidate; with a reader, the best READER_TOP by the other features are read with the
    question, and the rest count as read no better than the worst of those."""
    at = FEATURES.index("reader")
    weights = np.array([w[name] for name in FEATURES])
    if reader is not None and found:
        readings = reader_readings(reader, reader_question(question), [c.reads for c in found],
                                   [float(np.dot(weights, c.features)) for c in found],
                                   [bool(c.features[FEATURES.index("heading")]) for c in found])
        found = [replace(c, features=c.features[:at] + (r,) + c.features[at + 1 :]) for c, r in zip(found, readings)]
    return [replace(c, score=float(np.dot(weights, c.features))) for c in found]


def reader_readings(reader: Reader, question: str, reads: Sequence[str], base: Sequence[float],
                    headings: Sequence[bool]) -> list[float]:
    """The reader feature of each candidate (what it reads: `reads`): the best READER_TOP that are no
    heading, by `base` (their score before reading), are read with the question; the rest count as read
    no better than the worst of those. Answering and the answer fit's --reread both read this way."""
    order = sorted(range(len(reads)), key=lambda i: -base[i])
    top = [i for i in order if not headings[i]][:READER_TOP]
    texts = list(dict.fromkeys(reads[i] for i in top))
    read = dict(zip(texts, reader.score(question, texts).tolist())) if texts else {}
    floor = min(read.values(), default=0.0)
    return [read.get(text, floor) for text in reads]


def reader_question(question: Question) -> str:
    """What the reader reads as the question. A follow-up's own words ("And for how long?") say too
    little: it reads them with the previous question they are searched with ("for how long (What oven
    temperature do the knots need?)")."""
    return question.query if question.is_followup else question.text


def reader_text(hit: Hit, text: str, at: int | None = None) -> str:
    """What the reader reads for a sentence of a hit (at offset `at` of hit.text): the sentence under its
    document's title and headings ("Taj Mahal — It was commissioned in 1631 ..."), so that a sentence
    saying "it" is read as about its subject; a list item after the lead-in that introduces its list
    ("... limits per night, room only: - London: £140"); a table row with its cells labelled (see
    labelled_row)."""
    parts = [hit.title] if hit.title else []
    first = hit.text.split("\n", 1)[0].strip()
    if ("\n" in hit.text and not first.startswith("|") and first != text.strip() and is_heading(first, hit.start == 0)
            and not first.endswith((".", "!")) and first.strip("#*_ ") not in hit.title):
        # the heading the passage opens with (not a sentence in capitals ending a line: "... 2 against. CARRIED.")
        parts.append(first.strip("#*_ "))
    lead = _lead_in(hit.text, at) if at is not None else ""
    said = f"{lead} {text}" if lead else text
    return TITLE_JOIN.join([*parts, said]) if parts and not text.startswith(parts[-1]) else said


LEAD_IN_WORDS = 24  # the end of a long lead-in is what names its list ("... the following limits per night:")


def _lead_in(text: str, at: int) -> str:
    """For a list item at offset `at` of `text`: the line before its list when that line ends with a
    colon, as "Hotel costs are reimbursed up to the following limits per night, room only:"; for a block
    of code, the line that introduces it ("2. **Install the server.**", "use the snapshot command:");
    else ""."""
    line_start = text.rfind("\n", 0, at) + 1
    if text[line_start:].lstrip().startswith("```"):
        before = [line.strip() for line in text[:line_start].splitlines() if line.strip()]
        lead = before[-1].replace("**", "").replace("__", "") if before else ""
        return " ".join(lead.split()[-LEAD_IN_WORDS:]) if lead.endswith(":") or _LIST_ITEM.match(lead) else ""
    if not _LIST_ITEM.match(text[line_start:]):
        return ""
    lead = _line_before_list(text, line_start).strip("#*_ ")
    return " ".join(lead.split()[-LEAD_IN_WORDS:]) if lead.endswith(":") else ""


def _line_before_list(text: str, line_start: int) -> str:
    """The line before the list that the line at `line_start` is in (stripped), "" at the text's start."""
    for line in reversed(text[:line_start].splitlines()):
        if not line.strip() or _LIST_ITEM.match(line) or line[:1].isspace():
            continue  # a blank line, another item of the list, an item's continuation
        return line.strip()
    return ""


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


def compose(question: Question, hits: list[Hit], previous_answer: str = "", cache: VectorCache | None = None,
            people: dict[str, set[tuple[str, str]]] | None = None, fitted: Model | None = None,
            reader: Reader | None = None, vocabulary: Mapping[str, Vocabulary] | None = None,
            tables: Mapping[str, list[tuple[int, list[str]]]] | None = None) -> Answer:
    """The extractive answer: up to three cited sentences (or a how-to's steps), or an abstention.

    `question.text` is what the user asked (follow-up references resolved), `question.query` what was
    searched; for "which other ...?" follow-ups, values already given in `previous_answer` are not repeated."""
    m = fitted or model()
    query = question.query
    if not hits:
        return abstain(query, hits, "nothing in the documents matches it")
    about = [_about(h) for h in hits]
    missing = missing_entities(question.entities, about)
    if missing and cache is not None:
        missing = [name for name in missing if not _named_alike(name, hits, cache)]
    opening = question.text.split()[0] if question.text.split() else ""
    missing = [name for name in missing if name != opening]  # may be capitalised only for opening it ("Wann wurde ...?")
    missing = [name for name in missing if not spelled_out(name, about)]
    if missing:  # a name the passages never mention, nor one that means nearly the same
        return abstain(query, hits, f"they never mention {', '.join(missing)}")
    reader = reader if m.weights.get("reader") else None  # hand weights do not use it
    scored = candidates(question, hits, cache, people, previous_answer, m.weights, reader, vocabulary, tables)
    if previous_answer:
        scored = _after(previous_answer, question, scored)
    by_end = {(c.hit.doc, c.sentence.end): c for c in scored}  # every candidate, before any filter below
    by_start = {(c.hit.doc, c.sentence.start): c for c in scored}
    heading = FEATURES.index("heading")
    ranked = [c for c in scored if not c.features[heading]]  # a title never answers alone
    if not ranked:
        return abstain(query, hits, "the passages that match hold only titles")
    if question.kind in VALUE_KINDS:
        with_value = [c for c in ranked if c.value]
        if with_value and with_value[0].score >= ranked[0].score - m.value_margin:
            ranked = with_value
        elif m.value_required:
            return abstain(query, hits, f"the passages that match give no {VALUE_KINDS[question.kind]} for it")
    if question.kind == "say" and question.speaker:
        theirs = [c for c in ranked
                  if speaker_matches(question.speaker, c.text, _previous_sentence(c), question.speaker_also)[1]]
        if not theirs:
            return abstain(query, hits, f"they quote nothing from {question.speaker} on this")
        ranked = theirs + [c for c in ranked if c not in theirs]
    best = ranked[0]
    sureness = m.answers(best, ranked[1] if len(ranked) > 1 else None)
    if sureness < m.abstain_below:
        return abstain(query, hits, "nothing in them answers it closely enough")
    when = _unmatched_time(question.text, best.hit.context_text or best.hit.text)
    if when:
        return abstain(query, hits, f"the passages that match are not about “{when}”")
    chosen = [best]
    if question.kind == "how":
        chosen += _steps(best, by_start, by_end)
    elif question.kind == "what" and not re.search(r"\bwhich\b", question.text, re.IGNORECASE):
        chosen += _list_around(best, by_start, by_end)  # "What's in the box?": all of "## In the box"
        # (not "Which model sends photos over 4G?": one item of the list answers it)
    for c in ranked[1:]:
        if len(chosen) >= MAX_SENTENCES or c.score < best.score - m.extra_margin:
            break
        if any(_overlaps(c, o) for o in chosen):
            continue
        chosen.append(c)
    paragraph: list[Candidate] = []
    if question.kind == "how" and not _is_step(best):
        # a how-to told in prose goes on in the best sentence's paragraph ("Download the app ... At any
        # docking station, scan the QR code ..."): the rest of it comes along, after the close runners-up
        paragraph = [c for c in _rest_of_paragraph(best, by_start, MAX_SENTENCES - 1)
                     if not any(_overlaps(c, o) for o in chosen)]
        chosen += paragraph
    for c in list(chosen):
        # a quotation without attribution comes with the sentence that says who said it; a sentence
        # that goes on about the best one ("This force would ...") comes along when it would answer
        # well enough on its own
        before = _neighbour(by_end, c.hit.doc, c.sentence.start, -1)
        after = _neighbour(by_start, c.hit.doc, c.sentence.end, 1)
        goes_on = (c is best and after is not None and after.score >= m.abstain_below
                   and (_REFERRING_START.match(after.text) is not None
                        or (question.kind != "say" and _takes_up(c, after))))  # not the article's words for Merz's
        # "why ...?" answered by a sentence that only restates the fact: the reason usually follows it
        # in the same paragraph or list item ("X is no longer supported. The minimum is now Y, because ...")
        # "what effect did X have ...?" likewise: the effect usually follows the sentence that tells of X
        explains = ((question.kind == "why" or _ASKS_EFFECT.search(question.text) is not None) and c is best
                    and after is not None and not _CAUSE.search(c.text) and _same_paragraph(c, after)
                    and not is_heading(after.text, False))
        # "... use the snapshot command:" comes with what it introduces, a block of code with its lead-in
        introduces = ((c is best or any(c is p for p in paragraph)) and after is not None
                      and c.text.rstrip(" *_").endswith(":") and not is_heading(after.text))
        introduced = (c is best and before is not None and _is_code(c.text)
                      and (before.text.rstrip().endswith(":") or bool(_LIST_ITEM.match(before.text))))
        for extra, wanted in ((before, _continues_quote(c.text) or introduced), (after, goes_on or explains or introduces)):
            if extra and wanted and len(chosen) < MAX_STEPS and not any(_overlaps(extra, o) for o in chosen):
                chosen.append(replace(extra, value=""))
        if introduces and after is not None and _is_item(after):
            # "Stop taking it and see a doctor at once if you notice:" is answered by the list it opens
            chosen += [i for i in _run(by_start, after, 1, lambda _, x: _is_item(x), MAX_STEPS - len(chosen))
                       if not any(_overlaps(i, o) for o in chosen)]
    chosen.sort(key=lambda c: (c.hit.doc, c.sentence.start))
    citations = [cite(c) for c in chosen]
    parts = []
    lead = best.value if best.value and best.value.strip() != best.text.strip() else ""
    if lead:
        parts.append(f"{lead} [{chosen.index(best) + 1}] —")
    for n, c in enumerate(chosen, start=1):
        parts.append(f"{c.text} [{n}]")
    return Answer(" ".join(parts), citations, True, query, "extractive",
                  note=UNSURE if sureness < m.unsure_below else "")


def _takes_up(c: Candidate, after: Candidate) -> bool:
    """The next sentence of c's paragraph opens with what c spoke of: "If a receipt is lost, you can
    complete a missing receipt declaration." - "Declarations are accepted for amounts up to £25 ..."."""
    opening = terms(" ".join(after.text.split()[:2]))
    return bool(opening) and opening[0] in set(terms(c.text)) and _same_paragraph(c, after)


def _same_paragraph(c: Candidate, after: Candidate) -> bool:
    """The next sentence continues c's paragraph or list item: no blank line or new item between them."""
    if c.hit.doc != after.hit.doc:
        return False
    for h in (c.hit, after.hit):
        for start, text in ((h.start, h.text), (h.context_start, h.context_text)):
            if text and start <= c.sentence.end and after.sentence.start <= start + len(text):
                gap = text[c.sentence.end - start : after.sentence.start - start]
                return "\n\n" not in gap and not ("\n" in gap and _LIST_ITEM.match(after.text))
    return False


def _steps(best: Candidate, by_start: dict[tuple[str, int], Candidate],
           by_end: dict[tuple[str, int], Candidate]) -> list[Candidate]:
    """For "how do I ...": when the best sentence opens or sits in a list, the list items that follow
    it in the document, in order (as far as they were retrieved); in a numbered list, also the items
    before it back to the first, so that the steps are given from the start ("1. Keep an itemised
    receipt" before the best "2. Photograph the receipts")."""
    earlier: list[Candidate] = []
    current, number = best, _item_number(best)
    while number and (number > 1 or not NUMBERED_ITEM.match(current.text)) and len(earlier) < MAX_STEPS - 1:
        before = _neighbour(by_end, current.hit.doc, current.sentence.start, -1)
        if before is not None and _is_code(before.text):  # the block of code of the step before
            earlier.insert(0, replace(before, value=""))
            current = before
            continue
        if before is None or _item_number(before) not in (number, number - 1):
            break  # not retrieved, or another list
        earlier.insert(0, replace(before, value=""))
        current, number = before, _item_number(before)
    return earlier + _run(by_start, best, 1, lambda _, c: _is_step(c), MAX_STEPS - 1 - len(earlier))


def _rest_of_paragraph(best: Candidate, by_start: dict[tuple[str, int], Candidate], room: int) -> list[Candidate]:
    """The retrieved sentences after `best` in its paragraph, in order (at most `room`); a heading or
    a list item ends it."""
    def goes_on(current: Candidate, c: Candidate) -> bool:
        return (_same_paragraph(current, c) and not _is_item(c) and not is_heading(c.text)
                and not c.features[FEATURES.index("heading")])

    return _run(by_start, best, 1, goes_on, room)


def _is_step(c: Candidate) -> bool:
    """A list item, or a block of code (a step's code belongs to it)."""
    return _is_item(c) or _is_code(c.text)


def _is_item(c: Candidate) -> bool:
    """An item of a list, or a sentence that goes on in one."""
    return bool(_LIST_ITEM.match(_line_start(c.hit, c.sentence) + c.text))


def _list_around(best: Candidate, by_start: dict[tuple[str, int], Candidate],
                 by_end: dict[tuple[str, int], Candidate]) -> list[Candidate]:
    """When the best sentence is an item of a list that a heading or a line ending in ":" introduces
    ("### Filling", "You will need:"), the list's other items, in order (as far as they were retrieved;
    MAX_STEPS in all)."""
    if not _is_item(best) or not _introduced(best.hit.text, best.sentence.start - best.hit.start):
        return []
    before = _run(by_end, best, -1, lambda _, c: _is_item(c), MAX_STEPS - 1)
    return before + _run(by_start, best, 1, lambda _, c: _is_item(c), MAX_STEPS - 1 - len(before))


def _run(table: dict[tuple[str, int], Candidate], best: Candidate, step: int,
         belongs: Callable[[Candidate, Candidate], bool], room: int) -> list[Candidate]:
    """The retrieved sentences next to `best` in its document, one after another before it (step -1,
    `table` keyed by end) or after it (step 1, keyed by start), while `belongs(the one before, it)`; at
    most `room`."""
    out: list[Candidate] = []
    current = best
    while len(out) < room:
        at = current.sentence.start if step < 0 else current.sentence.end
        nxt = _neighbour(table, current.hit.doc, at, step)
        if nxt is None or not belongs(current, nxt):
            break
        out.append(replace(nxt, value=""))
        current = nxt
    return out


def _introduced(text: str, at: int) -> bool:
    """The list around offset `at` of `text` follows a heading or a line ending in ":"."""
    line = _line_before_list(text, text.rfind("\n", 0, at) + 1)
    return bool(line) and (line.endswith(":") or is_heading(line))


def _is_code(text: str) -> bool:
    """A fenced block of code (the splitter keeps one whole: corpus._FENCE)."""
    return text.startswith("```")


def _item_number(c: Candidate) -> int | None:
    """The number of the numbered list item a sentence is (or goes on) in: 2 for "2. Photograph ...", and
    for the sentence after it on the same line; None outside a numbered list."""
    m = NUMBERED_ITEM.match(_line_start(c.hit, c.sentence) + c.text)
    return int(m.group(1)) if m else None


def _after(previous_answer: str, question: Question, ranked: list[Candidate]) -> list[Candidate]:
    """A follow-up asking "which other ...?" is not offered again the values already given."""
    if not re.search(r"\b(?:other|else|another|besides)\b", question.text, re.IGNORECASE):
        return ranked
    return [replace(c, value="") if c.value and not missing_entities((c.value,), [previous_answer]) else c
            for c in ranked]


# "the next round", "the current strength": a question about another time than the passages speak of
_TIMES = {"next": r"next|upcoming|following|future|later", "current": r"current|currently|now|present|today"}
_TIME_ASKED = re.compile(r"\b(?:(next|upcoming)|(current|currently))\b(?!\s+(?:year|month|week|day|to|door)\b)",
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


SENTENCE_GAP = 8  # at most this many characters (white space: a blank line and an indent) between two sentences that follow each other


def _neighbour(table: dict[tuple[str, int], T], doc: str, offset: int, step: int) -> T | None:
    """The entry for the retrieved sentence right before `offset` (step -1; `table` keyed by (doc,
    sentence end)) or right after it (step 1; keyed by (doc, sentence start)) in its document."""
    for gap in range(SENTENCE_GAP + 1):
        if (doc, offset + step * gap) in table:
            return table[(doc, offset + step * gap)]
    return None


_CONNECTOR = r"\s+(?:(?:of|and|for|the|&)\s+)*"  # between the words of a name written out


def spelled_out(name: str, texts: list[str]) -> bool:
    """Whether an initialism of the question ("TA", "SLA", "PMs", "IE11") is written out in the texts
    ("teaching assistant", "service level agreement", "project managers", "Internet Explorer 11"): words
    of 4 letters or more, not stopwords, with the initials in order ("of", "and", "the" may come between)."""
    m = re.fullmatch(r"([A-Z]{2,5})s?(\d*)", name)
    if not m:
        return False
    spelled = _CONNECTOR.join(rf"{c}[a-z’'-]{{3,}}" for c in m.group(1).lower())
    pattern = re.compile(rf"\b{spelled}\b", re.IGNORECASE)
    return any(not set(words(found.group())) & STOPWORDS - {"of", "and", "for", "the"}
               for text in texts for found in pattern.finditer(text))


def _named_alike(name: str, hits: list[Hit], cache: VectorCache) -> bool:
    """Whether the passages name something that means nearly the same as `name` ("Moscow" for
    "Russia", "Zelensky" for "Zelenskyy"), by the similarity of the names' embeddings."""
    found = sorted({m.group() for h in hits for m in NAME.finditer(h.context_text or h.text)})
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
