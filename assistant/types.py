"""The data that flows between stages. Frozen dataclasses, no logic."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """A loaded document. `text` is what offsets point into (for .txt/.md: the file's own text)."""

    doc: str  # path relative to seeds/, with forward slashes
    text: str
    sha256: str  # of the file's bytes
    size: int = 0
    mtime_ns: int = 0


@dataclass(frozen=True)
class Passage:
    """A slice of a document: `document.text[start:end] == text`, always."""

    id: str
    doc: str
    start: int
    end: int
    text: str
    heading: str = ""


@dataclass(frozen=True)
class Question:
    """A question understood once (question.analyse) and handed to retrieval and the answerer."""

    text: str  # what the user asked, follow-up references resolved
    query: str  # what is searched: the text, or it with the previous turn as context
    kind: str  # who | when | date | where | quantity | duration | name | entity | say | why | how | yesno | what
    speaker: str = ""  # for "what did X say/call ..." and "..., according to X?" questions
    entities: tuple[str, ...] = ()  # names in the question
    unit: str = ""  # what a "how many X" counts, "percent", a money word, "town", "elapsed"
    speaker_also: tuple[str, ...] = ()  # patterns for descriptions of the speaker ("the Ukraine president")
    predicate: str = ""  # what the question asks about its names: the question without names and question words

    @property
    def is_followup(self) -> bool:
        return self.text.strip() != self.query.strip()


@dataclass(frozen=True)
class Sentence:
    """A sentence inside a hit, with its similarity to the question."""

    start: int
    end: int
    score: float


@dataclass(frozen=True)
class Hit:
    """A retrieved span. For retrieval results the span is a passage (or merged overlapping passages);
    for answer citations it is the exact sentence-level span used, and `context_*` is its passage."""

    doc: str
    start: int
    end: int
    text: str
    score: float
    rank: int = 0
    context_start: int = 0
    context_end: int = 0
    context_text: str = ""
    sentences: tuple[Sentence, ...] = ()
    passage_ids: tuple[str, ...] = ()
    title: str = ""  # the document title and heading the passage was embedded under (index.titles_of)


# the note of an answer given though more likely wrong than right (answer.Model.unsure_below)
UNSURE = "the documents may not answer this: it is the closest they come, so read the source before relying on it"


@dataclass(frozen=True)
class Answer:
    text: str  # with [n] markers; marker n refers to citations[n-1]
    citations: list[Hit]
    answered: bool
    query: str  # the standalone query actually searched
    answerer: str = "extractive"
    closest: list[Hit] = field(default_factory=list)  # shown when abstaining, never as the answer
    note: str = ""


@dataclass(frozen=True)
class BuildReport:
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()  # (old, new) with identical content
    skipped: tuple[tuple[str, str], ...] = ()  # (path, reason): files that could not be used
    passages_total: int = 0
    passages_embedded: int = 0
    full_rebuild: bool = False
    seconds: float = 0.0
    generation: str = ""

    @property
    def changed_anything(self) -> bool:
        return bool(self.added or self.changed or self.removed or self.renamed or self.full_rebuild)

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.changed)} changed",
            f"{len(self.removed)} removed",
            f"{len(self.renamed)} renamed",
            f"{len(self.unchanged)} unchanged",
        ]
        line = (
            f"documents: {', '.join(parts)}; passages: {self.passages_total} "
            f"({self.passages_embedded} embedded){' [full rebuild]' if self.full_rebuild else ''}; "
            f"{self.seconds:.2f}s"
        )
        return line
