"""Load documents from seeds/ and split them into passages with exact character offsets.

Everything here is a pure function of its inputs. The one invariant that matters:
for every passage `p` of document `d`, `d.text[p.start:p.end] == p.text`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from .config import SUPPORTED_SUFFIXES
from .types import Document, Passage

TokenCounter = Callable[[str], int]

# ---------------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class SeedFile:
    """A file found in seeds/: what the cheap staleness check compares."""

    doc: str
    path: Path
    size: int
    mtime_ns: int


def scan(seeds: Path) -> tuple[list[SeedFile], list[tuple[str, str]]]:
    """List the supported files under seeds/ (sorted, hidden files skipped) without reading them.

    Returns (files, skipped) where skipped holds (path, reason) for files that are left out,
    such as symlinks that lead outside seeds/.
    """
    seeds = Path(seeds)
    if not seeds.is_dir():
        return [], []
    root = seeds.resolve()
    files: list[SeedFile] = []
    skipped: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(seeds, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(seeds).as_posix()
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:  # undecodable bytes in the name: it could not be stored or cited
                rel = os.fsencode(rel).decode("utf-8", "backslashreplace")  # shows the bad bytes: caf\xe9.txt
                skipped.append((rel, "file name is not valid UTF-8; rename it"))
                continue
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                skipped.append((rel, f"unsupported file type; use one of {', '.join(SUPPORTED_SUFFIXES)}"))
                continue
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    skipped.append((rel, "symlink that points outside seeds/ (ignored for safety)"))
                    continue
            try:
                st = path.stat()
            except OSError as exc:
                skipped.append((rel, f"cannot be read ({exc.strerror})"))
                continue
            if not stat.S_ISREG(st.st_mode):  # reading a pipe or a device would block or never end
                skipped.append((rel, "not a regular file (a pipe, socket or device); ignored"))
                continue
            files.append(SeedFile(rel, path, st.st_size, st.st_mtime_ns))
    return files, skipped


def load(seed: SeedFile, max_bytes: int) -> Document:
    """Read one file into a Document. Raises ValueError with a user-facing reason when it is unusable."""
    too_big = f"larger than the {max_bytes / 1e6:.0f} MB limit (raise ASSISTANT_MAX_FILE_MB or split the file)"
    if seed.size > max_bytes:
        raise ValueError(too_big)
    try:
        with open(seed.path, "rb") as f:
            data = f.read(min(seed.size, max_bytes) + 1)
            # it may have grown since it was listed: read on, never past the limit
            while len(data) <= max_bytes and (more := f.read(min(1 << 20, max_bytes + 1 - len(data)))):
                data += more
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise ValueError(too_big)
    if not data.strip():
        raise ValueError("empty file")
    suffix = seed.path.suffix.lower()
    if suffix == ".pdf":
        text = pdf_text(data)
    else:
        if b"\x00" in data[:8192]:
            raise ValueError(f"binary data, not text (is it really a {suffix} file?)")
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8 text; re-save it with UTF-8 encoding") from None
        # The same newline handling as Path.read_text(), so offsets match what users read back.
        text = decoded.replace("\r\n", "\n").replace("\r", "\n")
        if suffix in (".html", ".htm"):
            text = html_text(text)
    if not text.strip():
        raise ValueError("no readable text in it")
    return Document(
        doc=seed.doc,
        text=text,
        sha256=hashlib.sha256(data).hexdigest(),
        size=seed.size,
        mtime_ns=seed.mtime_ns,
    )


def load_all(seeds: Path, max_bytes: int) -> tuple[list[Document], list[tuple[str, str]]]:
    """Load every usable document under seeds/; the rest are reported as (path, reason)."""
    files, skipped = scan(seeds)
    docs: list[Document] = []
    for seed in files:
        try:
            docs.append(load(seed, max_bytes))
        except ValueError as exc:
            skipped.append((seed.doc, str(exc)))
    return docs, skipped


_HIDDEN_TAGS = {"script", "style", "head", "title", "template", "noscript", "svg", "iframe", "object"}
_BLOCK_TAGS = {
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section",
    "article", "header", "footer", "blockquote", "pre", "hr", "dd", "dt", "figcaption", "main", "nav",
}


class _VisibleText(HTMLParser):
    """Visible text, one line per block; a table row becomes a markdown row ("| Adult | £14.50 |"), and
    a row of header cells is followed by a |---| rule, so tables read the same in HTML as in markdown."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.row: list[str] | None = None  # the kinds of the cells ("th", "td") of the row being read
        self.in_cell = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden += 1
        elif tag == "tr":
            self.row = []
            self.parts.append("\n|")
        elif tag in ("td", "th") and self.row is not None:
            self.row.append(tag)
            self.in_cell = True
            self.parts.append(" ")
        elif tag in _BLOCK_TAGS and not self.in_cell:
            self.parts.append("\n")
        elif self.in_cell and tag in ("br", "p", "li", "div"):
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" " if self.in_cell else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self.hidden = max(0, self.hidden - 1)
        elif tag in ("td", "th") and self.in_cell:
            self.in_cell = False
            self.parts.append(" |")
        elif tag == "tr" and self.row is not None:
            header = bool(self.row) and all(kind == "th" for kind in self.row)
            self.parts.append("\n" + "|---" * len(self.row) + "|\n" if header else "\n")
            self.row = None
        elif tag in _BLOCK_TAGS and not self.in_cell:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_text(markup: str) -> str:
    """The visible text of an HTML page: one line per block, scripts and styles dropped."""
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    lines = (re.sub(r"\| +\|", "| |", line.strip()) if line.strip().startswith("|") else line.strip()
             for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def pdf_text(data: bytes) -> str:
    """The text of a PDF, pages separated by a blank line."""
    from pypdf import PdfReader  # imported here: only PDF users pay for it

    # pypdf logs its own warnings ("EOF marker not found") for files we then skip with a reason anyway.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except Exception as exc:  # noqa: BLE001 (pypdf raises many types on damaged files)
        raise ValueError(f"unreadable PDF ({type(exc).__name__})") from None
    return "\n\n".join(p for p in pages if p)


def read_document(seeds: Path, doc: str, max_bytes: int = 1 << 62) -> Document:
    """Load one document by its name relative to seeds/ (used to show sources in context)."""
    seeds = Path(seeds)
    path = seeds / doc
    if not path.resolve().is_relative_to(seeds.resolve()):
        raise ValueError(f"{doc} is outside seeds/")
    st = path.stat()
    return load(SeedFile(doc, path, st.st_size, st.st_mtime_ns), max_bytes)


TITLE_JOIN = " — "  # between a passage's title parts, and between them and its text (index.embedded_text)

# ---------------------------------------------------------------------------------------------------
# Sentences

# titles written before a name with a period ("Cllr. Marguerite de Souza-Platt", "Ing. Mirjam ter Horst"):
# never a sentence's end (values.TITLED_NAME reads the name after them)
HONORIFICS = ("Mr", "Mrs", "Ms", "Mx", "Dr", "Prof", "Rev", "Revd", "Hon", "Cllr", "Ing", "Fr", "Mme", "Mlle",
              "Messrs", "Insp", "Supt", "Cmdr", "Cdr", "Maj", "Cpl", "Pte", "Lieut", "Brig", "Adm")
_ABBREVIATIONS = {
    *(h.lower() for h in HONORIFICS),
    "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "no", "fig", "gen",
    "gov", "sen", "rep", "inc", "ltd", "co", "corp", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "approx", "dept", "est", "col", "lt", "sgt", "capt", "cf", "al",
    "u.s", "u.k", "u.n", "e.u", "a.m", "p.m", "ext", "tel", "vol", "pp", "nos", "ca",
}
_TERMINAL = re.compile(r"[.!?…]+[\"”’'\)\]]*")
_OPENERS = "“\"‘'([¿¡"
_CLOSE_QUOTES = "”\"’'"
_ATTRIBUTION = re.compile(
    r"^[\w’'.\- ]{0,60}?\b(said|says|added|adds|told|asked|asks|wrote|writes|stated|noted|explained|"
    r"argued|replied|warned|insisted|continued)\b[^.!?]{0,60}[.!?]?$",
    re.IGNORECASE,
)
_MAX_QUOTE_WORDS = 90  # a quotation longer than this may be split at its inner sentence ends


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _is_boundary(text: str, match: re.Match[str]) -> bool:
    end = match.end()
    nxt = end
    while nxt < len(text) and text[nxt] in " \t":
        nxt += 1
    if nxt == end:  # no space after: "3.5", "U.S.-led", "e.g.x"
        return nxt >= len(text)
    if nxt >= len(text):
        return True
    following = text[nxt]
    if not (following.isupper() or following.isdigit() or following in _OPENERS):
        return False
    if match.group() == ".":  # a bare period may end an abbreviation or an initial
        if re.fullmatch(r"\s*(?:#{1,6}\s*)?(?:(?:Step|Stage|Part)\s)?\d{1,3}", text[: match.start()], re.IGNORECASE):
            return False  # a numbered item's or section's marker ("1. Make sure ...", "## 4. Hotels"): part of it
        if re.search(r"(?:[.!?]\s+\d{1,2}|:\s+1)$", text[: match.start()]):
            return False  # the marker of a list run into one paragraph ("To book: 1. Open the app. 2. Choose ...")
        word = re.search(r"([\w.]+)$", text[: match.start()])
        if word:
            w = word.group(1).lower()
            if w in _ABBREVIATIONS or (len(w) == 1 and w.isalpha()):
                return False
            if re.fullmatch(r"(\w\.)+\w", w):  # U.S, e.g, a.m
                return False
    return True


def _quote_depth_before(text: str, pos: int) -> int:
    """How many quotations are open at `pos` (curly quotes counted; straight quotes toggle)."""
    depth = 0
    straight_open = False
    for ch in text[:pos]:
        if ch == "“":
            depth += 1
        elif ch == "”":
            depth = max(0, depth - 1)
        elif ch == '"':
            straight_open = not straight_open
    return depth + (1 if straight_open else 0)


def sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans of text[start:end], with absolute offsets, leading/trailing space excluded.

    A newline ends a sentence unless it is a soft wrap inside a paragraph. Sentence ends inside a
    quotation do not split it (up to a length bound), and a short attribution such as
    "Merz said." stays with the quotation before it.
    """
    end = len(text) if end is None else end
    spans: list[Span] = []
    for line_start, line_end in _lines(text, start, end):
        spans.extend(_line_sentences(text, line_start, line_end))
    return spans


_FENCE = re.compile(r"[ \t]*```[^\n]*\n(?:.*\n)*?[ \t]*```[ \t]*(?=\n|$)")  # from its opening line to its closing one


_WRAPPED_AFTER = re.compile(r"(?:,|\b(?:a|an|the|of|to|from|than|and|or|but|with|by|at|in|on|for|as|into|"
                            r"including|between|under|over|per|is|are|was|were|be|been|has|have|had|which|that))$",
                            re.IGNORECASE)
_COLUMNS = re.compile(r"\S {3,}\S")  # columns aligned with spaces: a plain-text table's lines
_NEW_LINE_UNIT = re.compile(r"[ \t]*(?:[-*•+#|>]|\d{1,2}[.)]\s|[A-Za-z][\w ]{0,30}:\s)")  # an item, heading, row, label


def _lines(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Paragraph-ish units: a newline is a break unless it is a soft wrap (the line before ends
    mid-sentence and is long, and the next line continues in lower case)."""
    pos = start
    seg_start = start
    while pos < end:
        fence = _FENCE.match(text, seg_start, end) if pos == seg_start else None
        if fence:  # a fenced block of code is one unit, its lines never split apart
            yield seg_start, fence.end()
            pos = seg_start = fence.end() + 1
            continue
        nl = text.find("\n", pos, end)
        if nl == -1:
            break
        before = text[seg_start:nl].rstrip()
        next_end = text.find("\n", nl + 1, end)
        next_line = text[nl + 1 : end if next_end == -1 else next_end]
        after_match = re.match(r"[ \t]*(\S)", next_line)
        soft = (
            before
            and after_match is not None
            and len(text[max(seg_start, text.rfind("\n", seg_start, nl) + 1) : nl].strip()) >= 40  # this line's
            and not re.search(r"[.!?:…\"”’)\]]$", before)  # a ";" ends no sentence: "...20 minutes;\ndo not ..."
            and (after_match.group(1).islower()
                 # a line cut after a comma or a word no sentence ends with goes on, whatever opens the
                 # next one ("... move the first bell from\n7:45 a.m. to 8:30 a.m.", "including\nSusan's board")
                 or (_WRAPPED_AFTER.search(before) is not None
                     and not _NEW_LINE_UNIT.match(text, nl + 1, end)
                     and not _COLUMNS.search(before) and not _COLUMNS.search(next_line)))
        )
        if not soft:
            yield seg_start, nl
            seg_start = nl + 1
        pos = nl + 1
    yield seg_start, end


def _line_sentences(text: str, start: int, end: int) -> list[Span]:
    # trim surrounding white space
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start >= end:
        return []
    line = text[start:end]
    if (line.startswith("|") and line.endswith("|")) or (line.startswith("```") and line.endswith("```")):
        return [Span(start, end)]  # a table row, a block of code: one unit ("| Price (incl. VAT) | £59 |")
    pieces: list[tuple[int, int, bool]] = []  # (start, end, ends_inside_quote)
    cur = 0
    for m in _TERMINAL.finditer(line):
        if m.end() >= len(line) or not _is_boundary(line, m):
            continue
        inside = _quote_depth_before(line, m.end()) > 0
        pieces.append((cur, m.end(), inside))
        cur = m.end()
        while cur < len(line) and line[cur] in " \t":
            cur += 1
    if cur < len(line):
        pieces.append((cur, len(line), False))

    merged: list[list[int]] = []
    glue_next = False
    for p_start, p_end, inside in pieces:
        words = len(line[p_start:p_end].split())
        attribution = _ATTRIBUTION.match(line[p_start:p_end]) is not None and words <= 8
        prev_words = len(line[merged[-1][0] : merged[-1][1]].split()) if merged else 0
        if merged and (glue_next and prev_words + words <= _MAX_QUOTE_WORDS or attribution):
            merged[-1][1] = p_end
        else:
            merged.append([p_start, p_end])
        glue_next = inside
    return [Span(start + s, start + e) for s, e in merged]


# ---------------------------------------------------------------------------------------------------
# Passages


def word_count(text: str) -> int:
    return len(text.split())


BOLD_LABEL = re.compile(r"\s*(\*\*|__)[^*_\n]{1,40}?:?\1:?\s+\S")  # "**Release manager:** Priya Lind"
_LIST_MARK = re.compile(r"\s*(?:\d{1,2}[.)]|[-*•+])\s")
NUMBERED_ITEM = re.compile(r"\s*(\d{1,2})[.)]\s")  # "2. Photograph ...", "3) Submit": its number


def _line_of(text: str, span: Span) -> str:
    """The whole line a span sits on ("## 1. Purpose and scope" for the sentence "## 1.")."""
    line_start = text.rfind("\n", 0, span.start) + 1
    line_end = text.find("\n", span.end)
    return text[line_start : len(text) if line_end == -1 else line_end].strip()


def _is_heading(text: str, span: Span, is_markdown: bool) -> bool:
    """A section heading: a markdown "#" line, or a short line of its own that is no list item, table
    row or label with its value ("Beds: 42"), or a line in capitals (numbered or not: "3. PURCHASE OF A
    NEW BOAT" in minutes)."""
    line = text[span.start : span.end]
    if line.startswith("#") and is_markdown:
        return True
    if "\n" in line:
        return False
    whole_line = _line_of(text, span)
    if whole_line != line.strip():
        return False  # a heading is a line of its own
    words = word_count(line)
    letters = [c for c in line if c.isalpha()]
    if not letters and not any(c.isdigit() for c in line):
        return False  # a rule ("---", "***") ends no section
    capitals = len(letters) > 3 and sum(c.isupper() for c in letters) > 0.8 * len(letters)
    if whole_line.startswith("|") or (_LIST_MARK.match(whole_line) and not (capitals and NUMBERED_ITEM.match(line))):
        return False  # a table's row or rule, a list's item (not "3. PURCHASE OF A NEW BOAT"): in the section
    if capitals:
        return 1 <= words <= 14 and len(line) <= 100  # "DAY 1: TALGRUND (1,120 m) TO BRENNER HUT"
    if re.search(r":\s*\S.*\d|:\s+[a-z]", line) or BOLD_LABEL.match(line):
        return False  # a label and its value ("Beds: 42 in dormitories", "Season: late June", "**Author:** Ann Lee")
    return 1 <= words <= 10 and len(line) <= 80 and not re.search(r"[.,;:]$", line)


def _fit(text: str, span: Span, count_tokens: TokenCounter, max_tokens: int) -> list[Span]:
    """Cut a span that exceeds the token window at clause ends, else at word ends, so nothing is
    silently truncated by the model."""
    if count_tokens(text[span.start : span.end]) <= max_tokens:
        return [span]
    chunk = text[span.start : span.end]
    cut_points = [m.end() for m in re.finditer(r"[,;:—–)]\s+|\s+", chunk)]
    clause_cuts = {m.end() for m in re.finditer(r"[,;:—–)]\s+", chunk)}
    best = None
    lo = 0
    # the longest prefix that fits, preferring a clause end
    for cut in cut_points:
        if count_tokens(chunk[:cut].rstrip()) > max_tokens:
            break
        lo = cut
        if cut in clause_cuts:
            best = cut
    if best is None or best < lo // 2:
        best = lo
    if best == 0:  # a single enormous "word": cut by characters
        best = max(1, len(chunk) // 2)
        while best > 1 and count_tokens(chunk[:best]) > max_tokens:
            best //= 2
    head_end = span.start + len(chunk[:best].rstrip())
    rest_start = span.start + best
    while rest_start < span.end and text[rest_start].isspace():
        rest_start += 1
    out = [Span(span.start, head_end)]
    if rest_start < span.end:
        out.extend(_fit(text, Span(rest_start, span.end), count_tokens, max_tokens))
    return out


def passage_id(doc: str, start: int, end: int, text: str) -> str:
    h = hashlib.sha256(f"{doc}\x00{start}\x00{end}\x00{text}".encode())
    return h.hexdigest()[:24]


def split(
    document: Document,
    count_tokens: TokenCounter,
    *,
    min_words: int = 60,
    max_words: int = 120,
    overlap: int = 1,
    max_tokens: int = 256,
) -> list[Passage]:
    """Split a document into passages of whole sentences.

    About min_words..max_words words, `overlap` whole sentences repeated from the previous passage,
    never across a heading, never more than `max_tokens` model tokens.
    """
    text = document.text
    is_markdown = document.doc.lower().endswith(".md")
    spans: list[Span] = []
    for s in sentences(text):
        spans.extend(_fit(text, s, count_tokens, max_tokens))

    sections: list[tuple[str, list[Span]]] = []
    above: list[tuple[int, str]] = []  # the Markdown headings the section sits under: (level, heading)
    for s in spans:
        if _is_heading(text, s, is_markdown):
            line = _line_of(text, s)
            heading = line.lstrip("#").strip()
            level = len(line) - len(line.lstrip("#"))
            if level:
                above = [(n, h) for n, h in above if n < level] + [(level, heading)]
            # under its parent headings, the document's title (level 1) apart: "3.6.0 — 2026-02-11 — New"
            path = [h for n, h in above if 1 < n < (level or 7)] + [heading]
            sections.append((TITLE_JOIN.join(dict.fromkeys(path)), [s]))
        elif not sections:
            sections.append(("", [s]))
        else:
            sections[-1][1].append(s)

    passages: list[Passage] = []
    for heading, section in sections:
        for first, last in _chunk(text, section, count_tokens, min_words, max_words, overlap, max_tokens):
            first = _line_whole(text, section, first, last, count_tokens, max_tokens)
            start, end = section[first].start, section[last].end
            while passages and passages[-1].start >= start:
                passages.pop()  # wholly inside this one now
            body = text[start:end]
            passages.append(Passage(passage_id(document.doc, start, end, body), document.doc, start, end, body,
                                    heading))
    return passages


def _line_whole(text: str, section: list[Span], first: int, last: int, count_tokens: TokenCounter,
                max_tokens: int) -> int:
    """The first sentence of a passage that splits into the document's own sentences.

    A passage's sentences are found again from its text alone (index.sentence_offsets). A passage that
    opens in the middle of a line may lose what made a line break a soft wrap: "... modes. In Laundry
    mode the fan runs at high\nspeed and ..." would split at "high". Such a passage starts instead at
    the first sentence of that line, when the window has room."""
    def alike(i: int) -> bool:
        start = section[i].start
        again = sentences(text[start : section[last].end])
        return [(start + s.start, start + s.end) for s in again] == [(s.start, s.end) for s in section[i : last + 1]]

    at = first
    while not alike(at):
        if (at == 0 or "\n" in text[section[at - 1].end : section[at].start]
                or count_tokens(text[section[at - 1].start : section[last].end]) > max_tokens):
            return first  # no earlier sentence on the line, or no room for it
        at -= 1
    return at


def _chunk(
    text: str,
    section: list[Span],
    count_tokens: TokenCounter,
    min_words: int,
    max_words: int,
    overlap: int,
    max_tokens: int,
) -> list[tuple[int, int]]:
    """Group a section's sentences into (first, last) index ranges."""
    words = [word_count(text[s.start : s.end]) for s in section]

    def fits(first: int, last: int) -> bool:
        return (
            sum(words[first : last + 1]) <= max_words
            and count_tokens(text[section[first].start : section[last].end]) <= max_tokens
        )

    groups: list[tuple[int, int]] = []
    first = 0
    i = 0
    n = len(section)
    while i < n:
        last = i
        while last + 1 < n and fits(first, last + 1):
            last += 1
        groups.append((first, last))
        if last + 1 >= n:
            break
        i = last + 1
        # carry the last `overlap` sentences over, when they are short enough to leave room
        new_first = i
        for back in range(1, overlap + 1):
            candidate = i - back
            if candidate <= groups[-1][0] or sum(words[candidate:i]) > max_words // 3:
                break
            if not fits(candidate, i):
                break
            new_first = candidate
        first = new_first

    # a short tail is folded into the group before it, when the two still fit the window
    if len(groups) >= 2:
        (p_first, p_last), (_, t_last) = groups[-2], groups[-1]
        tail_new_words = sum(words[p_last + 1 : t_last + 1])
        combined = text[section[p_first].start : section[t_last].end]
        if (
            tail_new_words < min_words // 2
            and sum(words[p_first : t_last + 1]) <= max_words + min_words // 2
            and count_tokens(combined) <= max_tokens
        ):
            groups[-2:] = [(p_first, t_last)]
    return groups

