"""The web chat: `build_app()` returns the Gradio app, `launch()` serves it. Nothing runs at import.

Every answer is rendered once, on the server, into one self-contained HTML message: the text with
its [n] markers as links, and below it the sources panel (document, character range, the passage
with the cited span in <mark>, the query searched). The rendered message is what the chat keeps,
so earlier answers keep their sources when scrolled back to or restored after a reload.

All text that comes from a document, a question or a file name goes through `escape()`; the chat
renders our HTML as HTML (not Markdown), and Gradio's sanitiser runs on top of that as a second net.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import SUPPORTED_SUFFIXES
from .errors import AssistantError, ConfigError
from .types import UNSURE, Answer, Hit

if TYPE_CHECKING:  # importing gradio or the engine costs seconds: only when the app is built
    import gradio as gr

    from .engine import Assistant

log = logging.getLogger(__name__)

EXAMPLES = (
    "What did Merz say about Article 5?",
    "Who hosted the talks?",
    "What strength would Ukraine's army keep in peacetime?",
    "What are EU countries negotiating over in Brussels?",
)
UPLOAD_SUFFIXES = tuple(s for s in SUPPORTED_SUFFIXES)  # .txt .md .html .htm .pdf
MAX_NAME_CHARS = 80
HISTORY_MESSAGES = 12  # raw messages passed to the engine for follow-up resolution
CHAT_CONCURRENCY = 2  # questions answered at once (2-core target machine)
QUEUE_SIZE = 64
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class UploadError(AssistantError):
    """An uploaded file was refused; the message says why and what to do."""


# ---------------------------------------------------------------------------------------------------
# Rendering: pure functions from data to HTML strings


_MARKER = re.compile(r"\[(\d+)\]")
# Characters Markdown or LaTeX could give a meaning to, written as entities so that text stays text
# even if some renderer on the way treats it as Markdown.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
             "`": "&#96;", "*": "&#42;", "_": "&#95;", "[": "&#91;", "]": "&#93;", "$": "&#36;", "\\": "&#92;",
          "~": "&#126;", "|": "&#124;", "#": "&#35;", "!": "&#33;", "{": "&#123;", "}": "&#125;"}
_ENTITIES_RE = re.compile("[" + re.escape("".join(_ENTITIES)) + "]")


def escape(text: str) -> str:
    """Text as inert HTML: markup escaped, Markdown/LaTeX punctuation as entities, newlines as <br>.
    The result has no raw newline, so a Markdown renderer sees one HTML block and leaves it alone."""
    out = _ENTITIES_RE.sub(lambda m: _ENTITIES[m.group()], str(text))
    return out.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br>")


def _attr(value: str) -> str:
    """A safe HTML id or class fragment."""
    return re.sub(r"[^A-Za-z0-9_-]", "", value)


def new_message_id() -> str:
    return "m" + uuid.uuid4().hex[:10]


def source_id(message_id: str, n: int) -> str:
    return f"src-{_attr(message_id)}-{int(n)}"


def render_text(text: str, citations: list[Hit], message_id: str) -> str:
    """Answer text with each valid [n] as a link to source n of this message; markers that point at
    no citation are dropped (never shown)."""
    parts: list[str] = []
    pos = 0
    for m in _MARKER.finditer(text):
        parts.append(escape(text[pos : m.start()]))
        n = int(m.group(1))
        if 1 <= n <= len(citations):
            hit = citations[n - 1]
            title = escape(f"{hit.doc}, characters {hit.start}–{hit.end}")
            parts.append(f'<a class="cite" href="#{source_id(message_id, n)}" title="{title}">[{n}]</a>')
        pos = m.end()
    parts.append(escape(text[pos:]))
    return re.sub(r"\s+(?=<a class=\"cite\")", " ", "".join(parts)).strip()


def highlight(hit: Hit) -> str:
    """The hit's passage with its own span in <mark>; all of it escaped."""
    context, c_start = hit.context_text, hit.context_start
    if not context:
        return f"<mark>{escape(hit.text)}</mark>"
    s, e = hit.start - c_start, hit.end - c_start
    if not (0 <= s <= e <= len(context)) or context[s:e] != hit.text:
        found = context.find(hit.text) if hit.text else -1
        if found < 0:  # offsets that don't agree with the passage: show the span alone, marked
            return f"<mark>{escape(hit.text)}</mark>"
        s, e = found, found + len(hit.text)
    return f"{escape(context[:s])}<mark>{escape(context[s:e])}</mark>{escape(context[e:])}"


def render_source(hit: Hit, n: int, message_id: str) -> str:
    """One citation in the sources panel: number, document, character range, highlighted passage."""
    return (
        f'<div class="source" id="{source_id(message_id, n)}">'
        f'<div class="source-head"><span class="source-n">[{n}]</span> '
        f'<span class="source-doc">{escape(hit.doc)}</span> '
        f'<span class="source-range">characters {hit.start}–{hit.end}</span></div>'
        f'<div class="source-text">{highlight(hit)}</div></div>'
    )


def render_closest(hit: Hit, n: int) -> str:
    """A near miss shown with an abstention: clearly labelled as not being the answer."""
    start, end = (hit.context_start, hit.context_end) if hit.context_text else (hit.start, hit.end)
    text = hit.context_text or hit.text
    return (
        f'<div class="source closest"><div class="source-head"><span class="not-answer">'
        f"closest match {n} · not the answer</span> "
        f'<span class="source-doc">{escape(hit.doc)}</span> '
        f'<span class="source-range">characters {start}–{end}</span></div>'
        f'<div class="source-text">{escape(text)}</div></div>'
    )


def _searched(query: str) -> str:
    return f'<div class="searched">Searched for: <q>{escape(query)}</q></div>'


def _answered_by(answer: Answer) -> str:
    """Which answerer wrote this, and why the extractive answer stands in for a generator's, if it does."""
    who = ("sentences quoted from the documents (extractive)" if answer.answerer == "extractive"
           else answer.answerer.removeprefix("generative: ") + ", each sentence checked against its source")
    note = answer.note if answer.note and answer.note not in answer.text and answer.note != UNSURE else ""
    return (f'<div class="answerer">Answered by {escape(who)}</div>'
            + (f'<div class="answer-note">{escape(note[:1].upper() + note[1:])}.</div>' if note else ""))


def render_answer(answer: Answer, message_id: str | None = None) -> str:
    """The whole assistant message: answer (or abstention) plus its sources panel, as one HTML block."""
    mid = message_id or new_message_id()
    if answer.answered and answer.citations:
        body = f'<div class="answer-text">{render_text(answer.text, answer.citations, mid)}</div>'
        if answer.note == UNSURE:  # given, but more likely wrong than right: said before the answer
            body = f'<div class="answer-unsure">{escape(UNSURE[:1].upper() + UNSURE[1:])}.</div>{body}'
        sources = "".join(render_source(h, n, mid) for n, h in enumerate(answer.citations, start=1))
        panel = (f'<details class="sources" open><summary>Sources ({len(answer.citations)})</summary>'
                 f"{_answered_by(answer)}{_searched(answer.query)}{sources}</details>")
        return f'<div class="answer done" id="{_attr(mid)}">{body}{panel}</div>'
    text = _MARKER.sub("", answer.text).strip() if answer.text else ""
    if not text.startswith("The documents don't say"):
        text = "The documents don't say." + (f" {text}" if text else "")
    body = f'<div class="answer-text abstention">{escape(text)}</div>'
    closest = "".join(render_closest(h, n) for n, h in enumerate(answer.closest, start=1))
    label = ('<div class="closest-label">Closest matches in the documents. They are <b>not</b> the answer.'
             "</div>" if closest else "")
    panel = (f'<details class="sources abstained" open><summary>Searched, no answer</summary>'
             f"{_answered_by(answer)}{_searched(answer.query)}{label}{closest}</details>")
    return f'<div class="answer done abstained" id="{_attr(mid)}">{body}{panel}</div>'


def render_streaming(text: str) -> str:
    """The partial answer while it streams in: markers shown, sources still to come."""
    body = _MARKER.sub(lambda m: f"\0{m.group(1)}\1", text)
    body = escape(body)
    body = re.sub("\0(\\d+)\1", r'<span class="cite pending">[\1]</span>', body)
    return f'<div class="answer streaming"><div class="answer-text">{body}<span class="cursor">▍</span></div></div>'


def render_waiting(message: str) -> str:
    return f'<div class="answer waiting"><span class="spinner"></span> {escape(message)}</div>'


def render_error(message: str) -> str:
    """A short error message in the chat (never a traceback)."""
    return f'<div class="answer done error">⚠ {escape(message)}</div>'


def render_user(question: str) -> str:
    return f'<div class="question">{escape(question)}</div>'


def render_documents(docs: list[dict], state: str, detail: str = "") -> str:
    """The documents panel: index state, then one row per document with its passage count."""
    labels = {"fresh": "fresh", "building": "being rebuilt", "stale": "stale", "loading": "loading…",
              "error": "error"}
    badge = f'<span class="state state-{_attr(state)}">{escape(labels.get(state, state))}</span>'
    rows = []
    for d in docs:
        status = str(d.get("status", ""))
        cls = "doc-skipped" if status.startswith("skipped") else "doc-ok"
        rows.append(
            f'<tr class="{cls}"><td class="doc-name">{escape(str(d.get("doc", "")))}</td>'
            f'<td class="num">{int(d.get("passages", 0) or 0)}</td>'
            f'<td class="num">{int(d.get("chars", 0) or 0):,}</td><td>{escape(status)}</td></tr>'
        )
    table = (
        '<table class="docs"><thead><tr><th>document</th><th>passages</th><th>characters</th><th>status</th>'
        f'</tr></thead><tbody>{"".join(rows)}</tbody></table>'
        if rows else '<div class="docs-empty">No documents indexed yet.</div>'
    )
    extra = f'<div class="state-detail">{escape(detail)}</div>' if detail else ""
    return f'<div class="documents"><div class="index-state">Index: {badge}</div>{extra}{table}</div>'


def render_status(text: str, busy: bool = False) -> str:
    spin = '<span class="spinner"></span> ' if busy else ""
    return f'<div class="app-status{" busy" if busy else ""}">{spin}{escape(text)}</div>'


# ---------------------------------------------------------------------------------------------------
# Uploads: safe names, no overwrite, size and content checks


def safe_name(name: str) -> str:
    """A file name that is safe to create inside seeds/: last path component only, no NUL or control
    characters, no leading dot, only word characters, dots, dashes; an allowed extension.
    Raises UploadError when the name cannot be made safe."""
    if not isinstance(name, str) or not name:
        raise UploadError("The file has no name.")
    if "\x00" in name:
        raise UploadError("The file name contains a NUL character; rename the file and upload it again.")
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        stem, suffix = base, ""
    suffix = "." + suffix.lower() if suffix else ""
    if suffix not in UPLOAD_SUFFIXES:
        allowed = ", ".join(UPLOAD_SUFFIXES)
        raise UploadError(f"{base or name!r} is not a supported file type; upload one of {allowed}.")
    stem = re.sub(r"[^\w.-]+", "_", stem, flags=re.UNICODE)
    stem = re.sub(r"\.{2,}", ".", stem).strip("._- ")
    stem = stem[:MAX_NAME_CHARS].rstrip("._- ") or "document"
    return stem + suffix


def unique_path(folder: Path, name: str) -> Path:
    """folder/name, or folder/name-2, -3, ... when that exists: an upload never replaces a file."""
    stem, suffix = os.path.splitext(name)
    for i in range(1, 1000):
        candidate = folder / (name if i == 1 else f"{stem}-{i}{suffix}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
    raise UploadError(f"Too many files named like {name!r} in the documents folder; rename the file.")


def check_content(data: bytes, suffix: str) -> None:
    """Refuse files that would only be skipped by the indexer, before they land in seeds/."""
    if not data.strip():
        raise UploadError("The file is empty.")
    if suffix == ".pdf":
        if not data.lstrip()[:5] == b"%PDF-":
            raise UploadError("The file is not a PDF (it does not start with %PDF-).")
        return
    if b"\x00" in data[:8192]:
        raise UploadError(f"The file holds binary data, not {suffix} text.")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadError("The file is not UTF-8 text; re-save it with UTF-8 encoding.") from None


def save_upload(source: str | Path, original_name: str, seeds: Path, max_bytes: int) -> Path:
    """Copy an uploaded file into seeds/ under a safe, new name. Returns the path written."""
    name = safe_name(original_name)
    source = Path(source)
    size = source.stat().st_size
    if size > max_bytes:
        raise UploadError(f"{name} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB.")
    with source.open("rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadError(f"{name} is larger than the {max_bytes / 1e6:.0f} MB limit.")
    check_content(data, os.path.splitext(name)[1].lower())
    seeds = Path(seeds)
    seeds.mkdir(parents=True, exist_ok=True)
    root = seeds.resolve()
    for _ in range(5):  # another upload may take the same name between the check and the create
        target = unique_path(seeds, name)
        if target.resolve().parent != root:
            raise UploadError("Refused: that file name would leave the documents folder.")
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        return target
    raise UploadError(f"Could not find a free name for {name}; try again.")


def _original_name(item: Any) -> tuple[str, str]:
    """(temporary path, the name the user's file had) for one value of a gr.File."""
    path = getattr(item, "path", None) or getattr(item, "name", None) or item
    original = getattr(item, "orig_name", None) or os.path.basename(str(path))
    if isinstance(item, dict):
        path = item.get("path") or item.get("name")
        original = item.get("orig_name") or os.path.basename(str(path))
    return str(path), str(original)


# ---------------------------------------------------------------------------------------------------
# The app


CSS = """
.app-status { padding: 6px 10px; border-radius: 6px; background: var(--background-fill-secondary); }
.app-status.busy { background: #fff7d6; color: #5b4500; }
.spinner { display: inline-block; width: 0.8em; height: 0.8em; border: 2px solid currentColor;
  border-right-color: transparent; border-radius: 50%; animation: asst-spin 0.8s linear infinite;
  vertical-align: -0.1em; }
@keyframes asst-spin { to { transform: rotate(360deg); } }
.answer-text { line-height: 1.5; }
.answer-text.abstention { font-style: italic; }
a.cite, span.cite { font-weight: 600; text-decoration: none; padding: 0 2px; border-radius: 3px;
  background: rgba(37, 99, 235, 0.12); cursor: pointer; }
span.cite.pending { opacity: 0.6; cursor: default; }
.cursor { animation: asst-blink 1s step-end infinite; }
@keyframes asst-blink { 50% { opacity: 0; } }
details.sources { margin-top: 10px; border-top: 1px solid var(--border-color-primary); padding-top: 6px; }
details.sources summary { cursor: pointer; font-weight: 600; font-size: 0.9em; }
.searched { font-size: 0.85em; opacity: 0.8; margin: 4px 0; }
.answerer, .answer-note { font-size: 0.85em; opacity: 0.8; margin: 4px 0; }
.answer-note { font-style: italic; }
.answer-unsure { font-size: 0.9em; font-style: italic; margin: 0 0 4px 0; }
.source { margin: 6px 0; padding: 6px 8px; border-left: 3px solid #2563eb; border-radius: 4px;
  background: var(--background-fill-secondary); font-size: 0.9em; scroll-margin: 60px; }
.source.closest { border-left-color: #9ca3af; }
.source-head { font-size: 0.85em; opacity: 0.85; margin-bottom: 3px; }
.source-doc { font-family: var(--font-mono); }
.not-answer { text-transform: uppercase; font-weight: 700; color: #b45309; letter-spacing: 0.02em; }
.closest-label { font-size: 0.85em; color: #b45309; margin: 4px 0; }
mark { background: #fde68a; color: #111; padding: 0 1px; border-radius: 2px; }
.source.flash { animation: asst-flash 1.6s ease-out; }
@keyframes asst-flash { 0% { box-shadow: 0 0 0 3px #f59e0b; } 100% { box-shadow: 0 0 0 0 transparent; } }
.answer.error { color: #b91c1c; }
.documents table.docs { width: 100%; font-size: 0.85em; border-collapse: collapse; }
.documents th, .documents td { text-align: left; padding: 2px 6px; border-bottom: 1px solid var(--border-color-primary);
  word-break: break-all; }
.documents td.num { text-align: right; white-space: nowrap; }
.documents tr.doc-skipped { opacity: 0.7; }
.state { font-weight: 700; padding: 1px 8px; border-radius: 10px; }
.state-fresh { background: #dcfce7; color: #166534; }
.state-building, .state-loading { background: #fef3c7; color: #92400e; }
.state-stale { background: #ffedd5; color: #9a3412; }
.state-error { background: #fee2e2; color: #991b1b; }
.state-detail { font-size: 0.85em; margin: 4px 0; }
.upload-result { font-size: 0.9em; }
.upload-result .bad { color: #b91c1c; }
"""

# A click on [n] opens the sources panel it points into, scrolls the source into view and flashes it.
# Without this script the link still jumps to the source (a plain #fragment).
HEAD = """
<script>
(function () {
  function reveal(id) {
    var el = document.getElementById(id);
    if (!el) return false;
    for (var p = el.parentElement; p; p = p.parentElement) { if (p.tagName === "DETAILS") p.open = true; }
    el.scrollIntoView({behavior: "smooth", block: "center"});
    el.classList.remove("flash"); void el.offsetWidth; el.classList.add("flash");
    return true;
  }
  document.addEventListener("click", function (e) {
    var a = e.target && e.target.closest ? e.target.closest("a.cite") : null;
    if (!a) return;
    var href = a.getAttribute("href") || "";
    if (href.charAt(0) !== "#") return;
    if (reveal(href.slice(1))) { e.preventDefault(); e.stopPropagation(); }
  }, true);
})();
</script>
"""


class WebApp:
    """The state the handlers share: one Assistant, loaded once, and the index panel's view of it."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.ready = threading.Event()
        self.load_error = ""
        self.load_seconds = 0.0
        self._docs: list[dict] = []
        self._docs_generation: object = None
        self._lock = threading.Lock()
        self._warm_thread: threading.Thread | None = None
        self._turns: dict[str, threading.Event] = {}  # per browser session: set to stop its answer

    # -- start-up ----------------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the index (building it when needed) and the model once, in the background."""
        if self._warm_thread is None:
            self._warm_thread = threading.Thread(target=self._warm, name="assistant-warm-up", daemon=True)
            self._warm_thread.start()

    def _warm(self) -> None:
        started = time.perf_counter()
        try:
            self.assistant.snapshot()
            skip = threading.Event()
            skip.set()  # a cancelled turn: the generator (if any) is not asked
            self.assistant.ask("warm up", cancel=skip)  # loads the embedding model and the reader
            self._refresh_documents(force=True)
        except AssistantError as exc:
            self.load_error = str(exc)
        except Exception as exc:
            log.exception("loading failed")
            self.load_error = f"Loading failed: {exc.__class__.__name__}. See the server log."
        finally:
            self.load_seconds = time.perf_counter() - started
            self.ready.set()
            log.info("ready in %.1fs", self.load_seconds)

    # -- documents panel ---------------------------------------------------------------------------

    def index_state(self) -> str:
        if not self.ready.is_set():
            return "loading"
        if self.assistant.building:
            return "building"
        try:
            return "stale" if self.assistant.is_stale() else "fresh"
        except (OSError, AssistantError):
            return "error"

    def _refresh_documents(self, force: bool = False) -> None:
        report = self.assistant.last_report
        generation = getattr(report, "generation", None) or id(report)
        if force or generation != self._docs_generation:
            self._docs = self.assistant.documents()
            self._docs_generation = generation

    def documents_html(self) -> str:
        state = self.index_state()
        detail = ""
        if state == "fresh":
            try:
                self._refresh_documents()
            except AssistantError as exc:
                state, detail = "error", str(exc)
        elif state == "stale":
            detail = "seeds/ changed since the last build; it is brought up to date before the next answer."
        elif state == "loading":
            detail = "Loading the model and the index…"
        if self.load_error and not self._docs:
            state, detail = "error", self.load_error
        return render_documents(self._docs, state, detail)

    def status_html(self) -> str:
        if not self.ready.is_set():
            return render_status("Loading the model and the index… questions are answered as soon as it is ready.",
                                 busy=True)
        if self.load_error:
            return render_status(self.load_error)
        if self.assistant.building:
            return render_status("Rebuilding the index… questions are answered from the previous index meanwhile.",
                                 busy=True)
        docs = [d for d in self._docs if d.get("status") == "indexed"]
        passages = sum(int(d.get("passages", 0)) for d in docs)
        return render_status(f"Ready: {len(docs)} document{'s' if len(docs) != 1 else ''}, {passages} passages. "
                             "Answers come only from these documents, with their sources.")

    def poll(self) -> tuple[str, str]:
        return self.status_html(), self.documents_html()

    # -- chat ----------------------------------------------------------------------------------------

    def stop_turn(self, session: str) -> None:
        """The user asked a new question: the generator still writing this session's answer stops."""
        with self._lock:
            running = self._turns.get(session)
        if running is not None:
            running.set()

    def _start_turn(self, session: str) -> threading.Event:
        cancel = threading.Event()
        with self._lock:
            previous = self._turns.get(session)
            self._turns[session] = cancel
        if previous is not None:
            previous.set()
        return cancel

    def _end_turn(self, session: str, cancel: threading.Event) -> None:
        with self._lock:
            if self._turns.get(session) is cancel:
                del self._turns[session]

    def add_question(self, question: str, conv: dict, session: str = "") -> tuple:
        """Show the user's question at once; the answer follows in `respond`."""
        import gradio as gr

        question = (question or "").strip()
        if not question:
            return gr.skip(), "", gr.skip(), gr.skip()
        self.stop_turn(session)
        conv = _checked(conv)
        messages = conv["messages"] + [{"role": "user", "content": render_user(question)}]
        conv = {"messages": messages, "history": conv["history"]}
        return "", question, conv, messages

    def respond(self, question: str, conv: dict, session: str = "") -> Iterator[tuple]:
        """Stream the answer into the last message, then store the rendered answer with its sources."""
        import gradio as gr

        conv = _checked(conv)
        if not question:
            yield gr.skip(), gr.skip(), gr.skip()
            return
        shown = conv["messages"]
        history = conv["history"]
        mid = new_message_id()

        def with_last(content: str) -> list[dict]:
            return shown + [{"role": "assistant", "content": content}]

        if not self.ready.is_set():
            yield with_last(render_waiting("Loading the model and the index…")), gr.skip(), gr.skip()
            self.ready.wait()
        yield with_last(render_waiting("Searching the documents…")), gr.skip(), gr.skip()

        turn: list[dict] = []
        cancel = self._start_turn(session)
        try:
            text, final, last_push = "", None, 0.0
            for part in self.assistant.ask_stream(question, history[-HISTORY_MESSAGES:] or None, cancel=cancel):
                if isinstance(part, Answer):
                    final = part
                    break
                text += str(part)
                now = time.monotonic()
                if now - last_push > 0.05:
                    last_push = now
                    yield with_last(render_streaming(text)), gr.skip(), gr.skip()
            if final is None:
                raise RuntimeError("the answer stream ended without an Answer")
            content = render_answer(final, mid)
            turn = [{"role": "user", "content": question},
                    {"role": "assistant", "content": final.text, "query": final.query}]
        except AssistantError as exc:
            content = render_error(str(exc))
        except Exception as exc:
            log.exception("answering failed")
            content = render_error(f"Something went wrong while answering ({exc.__class__.__name__}). "
                                   "The details are in the server log.")
        finally:
            self._end_turn(session, cancel)
        messages = with_last(content)
        conv = {"messages": messages, "history": history + turn}
        yield messages, conv, conv

    # -- the API for other programs (gradio_client) -------------------------------------------------

    def api_ask(self, question: str, history: list | None = None) -> dict:
        """Answer `question` (after the turns in `history`: {"role", "content"[, "query"]} messages);
        the answer as JSON-able data. Errors reach the caller as their one-line message."""
        import gradio as gr

        if not self.ready.wait(timeout=600) or self.load_error:
            raise gr.Error(self.load_error or "The assistant is still loading; try again in a minute.")
        turns = _checked({"history": history if isinstance(history, list) else []})["history"]
        try:
            answer = self.assistant.ask(question, turns[-HISTORY_MESSAGES:] or None)
        except AssistantError as exc:
            raise gr.Error(str(exc)) from None
        return answer_data(answer)

    def api_search(self, question: str, k: int = 5) -> list[dict]:
        """The k passages that best match `question`, best first, with exact document offsets."""
        import gradio as gr

        if not self.ready.wait(timeout=600) or self.load_error:
            raise gr.Error(self.load_error or "The assistant is still loading; try again in a minute.")
        try:
            hits = self.assistant.retrieve(question, k=max(1, min(int(k), 50)))
        except AssistantError as exc:
            raise gr.Error(str(exc)) from None
        return [hit_data(h) for h in hits]

    # -- documents -----------------------------------------------------------------------------------

    def upload(self, files: Any, progress: Any = None) -> tuple:
        """Save uploaded files into seeds/ (safely), then update the index incrementally."""
        items = files if isinstance(files, list) else ([files] if files else [])
        settings = self.assistant.settings
        max_bytes = int(settings.max_file_mb * 1e6)
        saved, refused = [], []
        for item in items:
            path, original = _original_name(item)
            try:
                target = save_upload(path, original, Path(settings.seeds), max_bytes)
                saved.append((original, target.name))
            except UploadError as exc:
                refused.append((original, str(exc)))
            except OSError as exc:
                refused.append((original, f"could not be saved ({exc.strerror or exc})"))
        lines = []
        for original, name in saved:
            renamed = f" (saved as {name})" if name != original else ""
            lines.append(f'<div class="ok">Added {escape(original)}{escape(renamed)}.</div>')
        for original, why in refused:
            lines.append(f'<div class="bad">Refused {escape(original)}: {escape(why)}</div>')
        if saved:
            lines.append(self._rebuild(progress, expect={name for _, name in saved}))
        import gradio as gr

        return f'<div class="upload-result">{"".join(lines)}</div>', self.documents_html(), gr.update(value=None)

    def rebuild(self, progress: Any = None) -> tuple[str, str]:
        return f'<div class="upload-result">{self._rebuild(progress)}</div>', self.documents_html()

    def _rebuild(self, progress: Any = None, expect: set[str] | None = None) -> str:
        self.ready.wait()

        def report_progress(done: int, total: int) -> None:
            if progress is not None and total:
                progress(done / total, desc=f"Embedding passages {done}/{total}")

        try:
            if progress is not None:
                progress(0, desc="Reading the documents")
            report = self.assistant.build(progress=report_progress)
            self._refresh_documents(force=True)
            self.load_error = ""
        except AssistantError as exc:
            return f'<div class="bad">Index not updated: {escape(str(exc))}</div>'
        except Exception as exc:
            log.exception("rebuild failed")
            return f'<div class="bad">Index not updated ({escape(exc.__class__.__name__)}); see the server log.</div>'
        out = [f"<div>Index updated: {escape(report.summary())}</div>"]
        for path, why in report.skipped:
            if expect is None or Path(path).name in expect:
                out.append(f'<div class="bad">Skipped {escape(path)}: {escape(why)}</div>')
        return "".join(out)


def hit_data(hit: Hit) -> dict:
    """A passage or citation as the API returns it: `text` is exactly the document's [start:end]."""
    return {"doc": hit.doc, "start": hit.start, "end": hit.end, "text": hit.text, "score": round(hit.score, 4)}


def answer_data(answer: Answer) -> dict:
    """An Answer as the API returns it: marker [n] in `text` is citations[n-1]."""
    return {"text": answer.text, "answered": answer.answered, "query": answer.query,
            "answerer": answer.answerer, "note": answer.note,
            "citations": [hit_data(h) for h in answer.citations],
            "closest": [hit_data(h) for h in answer.closest]}


def _checked(conv: Any) -> dict:
    """The conversation state as stored (it may come back from the browser): well-formed or empty."""
    if not isinstance(conv, dict):
        return {"messages": [], "history": []}
    messages = [m for m in conv.get("messages") or [] if isinstance(m, dict)
                and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)]
    history = [m for m in conv.get("history") or [] if isinstance(m, dict)
               and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), str)]
    return {"messages": messages, "history": history}


def build_app(assistant: Assistant | None = None) -> gr.Blocks:
    """The Gradio app over `assistant` (default: ./seeds and ./index). Starts loading the model and
    the index in the background; serve it with `launch()`, or `.launch(css=CSS, head=HEAD)`."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    if assistant is None:
        from .engine import Assistant

        assistant = Assistant()
    app = WebApp(assistant)
    app.warm_up()  # in the background: the page is served (showing "loading") while the model loads
    empty = {"messages": [], "history": []}
    suffixes = list(UPLOAD_SUFFIXES)

    with gr.Blocks(title="assistant: answers with sources", analytics_enabled=False) as demo:
        conv = gr.State(empty)
        pending = gr.State("")
        saved = gr.BrowserState(empty)
        gr.HTML("<h2 style='margin:0'>Ask your documents</h2>")
        status = gr.HTML(app.status_html(), elem_id="app-status")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    value=[],
                    label="Chat",
                    elem_id="chat",
                    height=640,
                    render_markdown=False,
                    sanitize_html=True,
                    latex_delimiters=[],
                    feedback_options=None,
                    allow_tags=False,
                    autoscroll=True,
                    buttons=["copy", "copy_all"],
                    placeholder="Ask a question about the documents. Every answer cites its sources; "
                                "when the documents don't say, the assistant says so.",
                )
                with gr.Row():
                    box = gr.Textbox(show_label=False, placeholder="Ask a question…", scale=6, lines=1,
                                     max_lines=4, elem_id="question", autofocus=True)
                    ask = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
                gr.HTML("<div style='font-size:0.9em;opacity:0.8'>Examples:</div>")
                with gr.Row():
                    examples = [gr.Button(q, size="sm", elem_classes=["example"]) for q in EXAMPLES]
                new_chat = gr.Button("New chat", size="sm", elem_id="new-chat")
            with gr.Column(scale=2):
                docs = gr.HTML(app.documents_html(), elem_id="documents")
                files = gr.File(label="Add documents (.txt, .md, .html, .pdf)", file_count="multiple",
                                file_types=suffixes, elem_id="upload")
                upload_result = gr.HTML("", elem_id="upload-result")
                rebuild = gr.Button("Rebuild index", elem_id="rebuild")

        # The UI's own events are undocumented: out of the API page and of gradio_client's view_api, so
        # the public API is the two named endpoints below (README: "The web app as an API"). They stay
        # callable (by the page itself, and by tests/test_load.py driving the chat as a browser would),
        # behind the same password as everything else.
        ui = {"api_visibility": "undocumented"}

        def add_question(question: str, conv: dict, request: gr.Request) -> tuple:
            return app.add_question(question, conv, request.session_hash or "")

        def respond(question: str, conv: dict, request: gr.Request) -> Iterator[tuple]:
            yield from app.respond(question, conv, request.session_hash or "")

        for fn in (add_question, respond):  # resolvable here (gradio is imported lazily in this module)
            fn.__annotations__["request"] = gr.Request

        chat_out = [chatbot, conv, saved]
        triggers = [(box.submit, box), (ask.click, box)] + [(b.click, b) for b in examples]
        for event, source in triggers:
            event(add_question, [source, conv], [box, pending, conv, chatbot], queue=False, **ui).then(
                respond, [pending, conv], chat_out, concurrency_limit=CHAT_CONCURRENCY,
                concurrency_id="chat", show_progress="hidden", **ui,
            )

        def clear() -> tuple:
            return [], empty, empty

        new_chat.click(clear, None, [chatbot, conv, saved], queue=False, **ui)
        chatbot.clear(clear, None, [chatbot, conv, saved], queue=False, **ui)

        def restore(stored: Any) -> tuple:
            c = _checked(stored)
            return c["messages"], c

        demo.load(restore, [saved], [chatbot, conv], queue=False, **ui)
        demo.load(app.poll, None, [status, docs], queue=False, **ui)

        def on_upload(items: Any, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008 - how Gradio injects it
            return app.upload(items, progress)

        def on_rebuild(progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008 - how Gradio injects it
            return app.rebuild(progress)

        files.upload(on_upload, [files], [upload_result, docs, files], concurrency_limit=1,
                     concurrency_id="index", show_progress="full", **ui)
        rebuild.click(on_rebuild, None, [upload_result, docs], concurrency_limit=1, concurrency_id="index",
                      show_progress="full", **ui)

        timer = gr.Timer(2.0)
        timer.tick(app.poll, None, [status, docs], queue=False, show_progress="hidden", **ui)

        gr.api(app.api_ask, api_name="ask", concurrency_limit=CHAT_CONCURRENCY, concurrency_id="chat",
               api_description="Answer a question from the documents. history: the previous turns as "
               '[{"role": "user"|"assistant", "content": text, "query": searched query}]. Returns text with '
               "[n] markers, citations (doc, start, end, text: marker n is citations[n-1]), answered, "
               "query, answerer, note.")
        gr.api(app.api_search, api_name="search", concurrency_limit=CHAT_CONCURRENCY, concurrency_id="chat",
               api_description="The k passages that best match a question, best first: doc, start, end, "
                               "text, score.")

    demo.queue(default_concurrency_limit=CHAT_CONCURRENCY, max_size=QUEUE_SIZE)
    demo.assistant_app = app  # type: ignore[attr-defined]  # for tests and launch()
    return demo


def theme() -> Any:
    """The default theme with system fonts only: no web font fetched from a CDN."""
    import gradio as gr

    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def password_check(password: str) -> Callable[[str, str], bool]:
    """Gradio auth: any user name, this password (compared in constant time)."""
    expected = password.encode("utf-8")

    def check(_user: str, given: str) -> bool:
        return hmac.compare_digest((given or "").encode("utf-8"), expected)

    return check


def launch(host: str = "127.0.0.1", port: int = 7860, *, password: str | None = None,
           assistant: Assistant | None = None, block: bool = True, quiet: bool = False,
           no_auth: bool = False) -> gr.Blocks:
    """Serve the chat (and its API) on host:port. Loopback by default. On any other address a password
    (ASSISTANT_PASSWORD or `password`) puts a login in front of the app and its API; without one it
    refuses to start (ConfigError) unless `no_auth` says to serve the documents to anyone who can reach it."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    password = password or os.environ.get("ASSISTANT_PASSWORD") or None
    if not is_loopback(host) and not password and not no_auth:
        raise ConfigError(f"Refusing to serve on {host} without a password: anyone who can reach it could read "
                          "your documents, in the chat or through its API. Set ASSISTANT_PASSWORD or pass "
                          "--password, or pass --no-auth to serve without one.")
    if not is_loopback(host):
        print(f"warning: serving on {host}, reachable from other machines: anyone who can reach it can read "
              "your documents" + (" after logging in with the password." if password else
                                   ". Set ASSISTANT_PASSWORD or pass --password to require a password."),
              flush=True)
    demo = build_app(assistant)
    app: WebApp = demo.assistant_app  # type: ignore[attr-defined]
    settings = app.assistant.settings
    print(f"assistant: serving {settings.seeds}/ on http://{host}:{port} (loading the model and index…)",
          flush=True)
    demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        show_error=False,
        auth=password_check(password) if password else None,
        auth_message="Enter any user name and the assistant's password." if password else None,
        max_file_size=int(settings.max_file_mb * 1e6),
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        enable_monitoring=False,
        footer_links=["settings"],
        theme=theme(),
        css=CSS,
        head=HEAD,
        quiet=quiet,
        prevent_thread_lock=not block,
    )
    return demo
