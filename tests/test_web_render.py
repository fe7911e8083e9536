"""The web chat's pure parts: rendering answers and sources to HTML, escaping, upload names. No Gradio
server, no model: hand-made Answers and Hits."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from assistant import web
from assistant.errors import ConfigError
from assistant.types import Answer, Hit

DOC = ("Berlin talks. “This is a truly far-reaching and substantial agreement,” Merz said. "
       "Article 5 is the cornerstone of the alliance.")
SPAN = "“This is a truly far-reaching and substantial agreement,” Merz said."
HOSTILE = ('Intro <script>window.__pwned=1</script> and <img src=x onerror="window.__pwned=1"> '
           "[click](javascript:alert(1)) $x^2$ `code` **bold** &amp; done.")


def cited(text: str, doc_text: str = DOC, doc: str = "article.txt", ctx: tuple[int, int] | None = None) -> Hit:
    start = doc_text.index(text)
    c0, c1 = ctx or (0, len(doc_text))
    return Hit(doc, start, start + len(text), text, 0.9, 1, c0, c1, doc_text[c0:c1])


class Tags(HTMLParser):
    """Every element and attribute in a piece of HTML, to check what a browser would build from it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(markup: str) -> list[tuple[str, dict]]:
    p = Tags()
    p.feed(markup)
    return p.tags


def text_of(markup: str) -> str:
    import html

    return html.unescape(re.sub(r"<br>", "\n", re.sub(r"<(?!br>)[^>]+>", "", markup)))


# -- answers with markers ---------------------------------------------------------------------------


def test_markers_become_links_to_their_sources():
    answer = Answer(f"{SPAN} [1]", [cited(SPAN)], True, "What did Merz say about Article 5?")
    out = web.render_answer(answer, "m1")
    links = [a for t, a in tags(out) if t == "a"]
    assert links == [{"class": "cite", "href": "#src-m1-1", "title": "article.txt, characters 14–82"}]
    sources = [a["id"] for t, a in tags(out) if t == "div" and "source" in a.get("class", "").split()]
    assert sources == ["src-m1-1"]  # the link target exists in the same message
    assert ">[1]</a>" in out


def test_two_citations_each_get_a_source_and_unknown_markers_are_dropped():
    first, second = SPAN, "Article 5 is the cornerstone of the alliance."
    answer = Answer(f"{first} [1] {second} [2] Invented. [7]", [cited(first), cited(second)], True, "q")
    out = web.render_answer(answer, "m2")
    hrefs = [a["href"] for t, a in tags(out) if t == "a"]
    assert hrefs == ["#src-m2-1", "#src-m2-2"]
    assert "[7]" not in out
    assert out.count('class="source"') == 2


def test_source_panel_highlights_exactly_the_cited_span_inside_its_passage():
    hit = cited(SPAN)
    out = web.render_source(hit, 1, "m3")
    marked = re.findall(r"<mark>(.*?)</mark>", out)
    assert len(marked) == 1 and text_of(marked[0]) == SPAN
    shown = text_of(re.search(r'<div class="source-text">(.*?)</div>', out).group(1))
    assert shown == DOC  # the whole passage, span included, nothing lost
    assert "article.txt" in out and "characters 14–82" in out


def test_highlight_uses_offsets_relative_to_the_passage():
    long_doc = "Zero. " * 20 + DOC
    hit = cited(SPAN, long_doc, ctx=(len("Zero. ") * 20, len(long_doc)))
    marked = re.findall(r"<mark>(.*?)</mark>", web.highlight(hit))
    assert [text_of(m) for m in marked] == [SPAN]


def test_highlight_falls_back_when_offsets_disagree_with_the_passage():
    hit = Hit("a.txt", 5, 10, "far-reaching", 0.5, 1, 0, len(DOC), DOC)  # wrong offsets
    assert [text_of(m) for m in re.findall(r"<mark>(.*?)</mark>", web.highlight(hit))] == ["far-reaching"]
    bare = Hit("a.txt", 0, 4, "Text", 0.5)  # no context at all
    assert web.highlight(bare) == "<mark>Text</mark>"


def test_searched_for_shows_the_standalone_query():
    answer = Answer(f"{SPAN} [1]", [cited(SPAN)], True, "What did Merz call the security guarantees?")
    out = web.render_answer(answer, "m4")
    assert "Searched for: <q>What did Merz call the security guarantees?</q>" in out


# -- abstentions ---------------------------------------------------------------------------------------


def test_abstention_is_shown_as_such_with_closest_matches_labelled_not_the_answer():
    near = Hit("article.txt", 0, len(DOC), DOC, 0.3, 1, 0, len(DOC), DOC)
    answer = Answer("The documents don't say: they never mention Peru. The closest passages are listed "
                    "below; they are not an answer.", [], False, "What is the capital of Peru?",
                    closest=[near])
    out = web.render_answer(answer, "m5")
    assert "abstained" in out and "<mark>" not in out and "<a " not in out
    assert text_of(out).startswith("The documents don't say")
    assert "not the answer" in out.lower()
    assert "Searched for: <q>What is the capital of Peru?</q>" in out


def test_abstention_without_the_phrase_still_reads_as_one():
    out = web.render_answer(Answer("", [], False, "q"), "m6")
    assert "The documents don&#39;t say." in out


# -- escaping ------------------------------------------------------------------------------------------


def test_hostile_document_text_is_inert_everywhere_it_is_shown():
    hostile_doc = HOSTILE
    span = 'and <img src=x onerror="window.__pwned=1">'
    hit = cited(span, hostile_doc, doc='<img src=x onerror="alert(1)">.html')
    pieces = [
        web.render_answer(Answer(f"{span} [1]", [hit], True, "<script>q</script>"), "m7"),
        web.render_answer(Answer("The documents don't say.", [], False, "<b>q</b>", closest=[hit]), "m8"),
        web.render_streaming(f"{hostile_doc} [1]"),
        web.render_user(hostile_doc),
        web.render_error(hostile_doc),
        web.render_documents([{"doc": hit.doc, "passages": 1, "chars": 9, "status": "<b>indexed</b>"}], "fresh"),
    ]
    allowed = {"div", "span", "a", "mark", "details", "summary", "q", "br", "b", "table", "thead", "tbody",
               "tr", "th", "td"}
    for out in pieces:
        found = tags(out)
        assert {t for t, _ in found} <= allowed, out
        assert not any(k.startswith("on") for _, a in found for k in a), out
        assert all(a.get("href", "#").startswith("#") for _, a in found), out
        assert "<script" not in out and "<img" not in out
        for ch in "`*$[":  # nothing left for a Markdown or LaTeX renderer to act on, outside our markers
            assert ch not in re.sub(r'<a class="cite"[^>]*>\[\d+\]</a>|<span class="cite pending">\[\d+\]</span>'
                                    r'|\[\d+\]</span>', "", out), (ch, out)
    # ...and the text itself survives, readable
    assert 'onerror="window.__pwned=1"' in text_of(pieces[0])
    assert "<script>window.__pwned=1</script>" in text_of(pieces[3])


def test_escape_keeps_text_and_turns_newlines_into_breaks():
    assert web.escape("a < b & 'c'\nd") == "a &lt; b &amp; &#39;c&#39;<br>d"
    assert "\n" not in web.escape("one\r\ntwo\rthree\n")
    assert web.escape("&#39;") == "&amp;&#35;39;"  # an entity in a document stays literal text


def test_streaming_shows_markers_without_links():
    out = web.render_streaming("Merz spoke. [1] More")
    assert '<span class="cite pending">[1]</span>' in out and "<a " not in out


def test_documents_panel_lists_documents_and_index_state():
    docs = [{"doc": "a.txt", "passages": 14, "chars": 7294, "status": "indexed"},
            {"doc": "b.pdf", "passages": 0, "chars": 0, "status": "skipped: empty file"}]
    out = web.render_documents(docs, "building")
    assert "being rebuilt" in out and "a.txt" in out and ">14<" in out and "7,294" in out
    assert "skipped: empty file" in out
    assert "fresh" in web.render_documents(docs, "fresh") and "stale" in web.render_documents(docs, "stale")


# -- uploads -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("given, expected", [
    ("notes.txt", "notes.txt"),
    ("Report 2024 (final).PDF", "Report_2024_final.pdf"),
    ("../../etc/passwd.txt", "passwd.txt"),
    ("..\\..\\windows\\evil.md", "evil.md"),
    ("/abs/path/page.html", "page.html"),
    (".hidden.txt", "hidden.txt"),
    ("...txt", "document.txt"),
    ("a..b.md", "a.b.md"),
    ('<img src=x onerror="alert(1)">.html', "img_src_x_onerror_alert_1.html"),
    ("Zürich – Überblick.md", "Zürich_Überblick.md"),
    ("x" * 300 + ".txt", "x" * web.MAX_NAME_CHARS + ".txt"),
    ("tab\there\u202e.txt", "tabhere.txt"),
    ("page.htm", "page.htm"),
])
def test_safe_name(given: str, expected: str):
    assert web.safe_name(given) == expected


@pytest.mark.parametrize("bad", ["evil.exe", "script.js", "noext", "archive.txt.gz", "a.txt\x00.exe", "", "..",
                                 "../"])
def test_safe_name_refuses(bad: str):
    with pytest.raises(web.UploadError):
        web.safe_name(bad)


def test_uploads_never_overwrite_and_stay_inside_seeds(tmp_path: Path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    (seeds / "notes.txt").write_text("original", encoding="utf-8")
    src = tmp_path / "upload.bin"
    src.write_text("new text", encoding="utf-8")
    first = web.save_upload(src, "notes.txt", seeds, 1000)
    second = web.save_upload(src, "../notes.txt", seeds, 1000)
    assert (first.name, second.name) == ("notes-2.txt", "notes-3.txt")
    assert (seeds / "notes.txt").read_text(encoding="utf-8") == "original"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seeds", "upload.bin"]  # nothing written outside


def test_upload_checks_size_and_content(tmp_path: Path):
    seeds = tmp_path / "seeds"
    src = tmp_path / "u"
    src.write_bytes(b"x" * 2000)
    with pytest.raises(web.UploadError, match="limit"):
        web.save_upload(src, "big.txt", seeds, 1000)
    for data, name, why in [(b"  \n", "e.txt", "empty"), (b"\xff\xfe\x00a", "b.txt", "binary"),
                            (b"caf\xe9", "l.txt", "UTF-8"), (b"hello", "fake.pdf", "not a PDF")]:
        src.write_bytes(data)
        with pytest.raises(web.UploadError, match=why):
            web.save_upload(src, name, seeds, 1000)
    assert not seeds.exists() or not any(seeds.iterdir())


def test_password_check_and_loopback():
    check = web.password_check("s3cret")
    assert check("anyone", "s3cret") and not check("anyone", "wrong") and not check("x", "")
    assert web.is_loopback("127.0.0.1") and web.is_loopback("localhost") and web.is_loopback("::1")
    assert web.is_loopback("127.0.0.2") and not web.is_loopback("0.0.0.0") and not web.is_loopback("192.168.1.5")


def test_importing_the_web_module_loads_nothing_heavy():
    import subprocess
    import sys

    code = "import sys, assistant.web; print('gradio' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_launch_warns_off_loopback_and_puts_a_password_in_front(monkeypatch, capsys):
    import types

    from assistant import Settings

    calls: list[dict] = []

    class FakeDemo:
        assistant_app = types.SimpleNamespace(assistant=types.SimpleNamespace(settings=Settings()))

        def launch(self, **kwargs):
            calls.append(kwargs)

    monkeypatch.setattr(web, "build_app", lambda assistant=None: FakeDemo())
    monkeypatch.setattr(web, "theme", lambda: None)
    monkeypatch.delenv("ASSISTANT_PASSWORD", raising=False)
    web.launch()
    assert "warning" not in capsys.readouterr().out
    assert calls[-1]["server_name"] == "127.0.0.1" and calls[-1]["server_port"] == 7860
    assert calls[-1]["share"] is False and calls[-1]["auth"] is None and calls[-1]["ssr_mode"] is False

    with pytest.raises(ConfigError, match="Refusing to serve on 0.0.0.0 without a password.*--no-auth"):
        web.launch("0.0.0.0", 8000)
    served = len(calls)
    web.launch("0.0.0.0", 8000, no_auth=True)  # said explicitly: served, with the warning
    assert len(calls) == served + 1
    assert "warning" in capsys.readouterr().out and calls[-1]["auth"] is None

    monkeypatch.setenv("ASSISTANT_PASSWORD", "from-env")
    web.launch("0.0.0.0", 8000)
    assert calls[-1]["auth"]("anyone", "from-env") and not calls[-1]["auth"]("anyone", "nope")
    web.launch("0.0.0.0", 8000, password="flag")
    assert calls[-1]["auth"]("anyone", "flag") and not calls[-1]["auth"]("anyone", "from-env")
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


def test_an_unsure_answer_says_so_before_the_answer():
    from assistant.types import UNSURE

    answer = Answer(f"{SPAN} [1]", [cited(SPAN)], True, "What did Merz say?", note=UNSURE)
    out = web.render_answer(answer, "m9")
    assert out.index('class="answer-unsure"') < out.index('class="answer-text"')
    assert text_of(out).count("The documents may not answer this") == 1  # not again under "Answered by"
    assert "answer-unsure" not in web.render_answer(Answer(f"{SPAN} [1]", [cited(SPAN)], True, "q"), "m10")
