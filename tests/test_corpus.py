"""corpus: loading documents from seeds/ and splitting them into passages with exact offsets."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant import corpus, index
from assistant.embed import HashingEmbedder, SentenceTransformerEmbedder, packaged_model_path
from assistant.types import Document, Passage

from .conftest import DOCS, SEED_ARTICLE, write_docs

HASHING = HashingEmbedder()
MERZ_QUOTE = (
    "“This is a truly far-reaching and substantial agreement, which we have not had before, namely that "
    "both Europe and the U.S. are jointly prepared — and President Zelenskyy has referred to Article 5 of "
    "the NATO Treaty — to give similar security guarantees to Ukraine,” Merz said."
)
SEED_HEADINGS = ["Critical step", "‘Significant progress’", "Can Trump be trusted?"]


@pytest.fixture(scope="module")
def model_tokens():
    """The real model's token counter (only the tokenizer file is read; the model does not load)."""
    return SentenceTransformerEmbedder(packaged_model_path()).count_tokens


@pytest.fixture(scope="module")
def seed_doc() -> Document:
    files, skipped = corpus.scan(SEED_ARTICLE.parent)
    [seed] = [f for f in files if f.path.name == SEED_ARTICLE.name]
    return corpus.load(seed, 10**8)


def doc_of(name: str, text: str) -> Document:
    return Document(name, text, "0" * 64)


def assert_rebuilds(document: Document, passages: list[Passage]) -> None:
    """Every passage is an exact slice; together they cover every non-space character; consecutive
    passages overlap or touch (only white space between them)."""
    text = document.text
    covered = bytearray(len(text))
    for p in passages:
        assert p.doc == document.doc
        assert 0 <= p.start < p.end <= len(text)
        assert text[p.start : p.end] == p.text, p
        covered[p.start : p.end] = b"\x01" * (p.end - p.start)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, f"characters not in any passage at {missing[:10]}: {[text[i] for i in missing[:10]]}"
    for a, b in zip(passages, passages[1:]):
        assert b.start > a.start, (a, b)
        assert b.start <= a.end or text[a.end : b.start].strip() == "", (a, b)


def heading_offsets(text: str, headings: list[str]) -> list[int]:
    offsets = []
    for h in headings:
        pos = text.find("\n" + h + "\n")
        assert pos >= 0, h
        offsets.append(pos + 1)
    return offsets


def assert_no_passage_crosses(passages: list[Passage], offsets: list[int]) -> None:
    for h in offsets:
        for p in passages:
            assert p.end <= h or p.start >= h, f"passage {p.start}-{p.end} crosses the heading at {h}"


# ---------------------------------------------------------------------------------------------------
# Rebuilding documents from passages


@pytest.mark.parametrize("counter", ["hashing", "model"])
def test_seed_article_is_rebuilt_exactly_from_its_passages(seed_doc, counter, model_tokens):
    count = HASHING.count_tokens if counter == "hashing" else model_tokens
    assert "“" in seed_doc.text and "—" in seed_doc.text  # the awkward characters are really there
    passages = corpus.split(seed_doc, count)
    assert len(passages) > 5
    assert_rebuilds(seed_doc, passages)
    assert all(count(p.text) <= 256 for p in passages)


def test_seed_text_is_the_file_text(seed_doc):
    assert seed_doc.text == SEED_ARTICLE.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(DOCS))
def test_synthetic_documents_are_rebuilt_exactly(tmp_seeds, name):
    path = tmp_seeds / name
    document = corpus.read_document(tmp_seeds, name)
    assert document.text == path.read_text(encoding="utf-8")
    for kwargs in ({}, {"min_words": 5, "max_words": 10}, {"min_words": 1, "max_words": 3, "overlap": 2}):
        passages = corpus.split(document, HASHING.count_tokens, **kwargs)
        assert passages
        assert_rebuilds(document, passages)


@pytest.mark.parametrize(
    "text",
    [
        "One sentence without an end",
        "  \n\n  Leading and trailing space.  \n\n",
        "Emoji 🙂🚀 and accents: café, naïve, Zürich. 👍🏽 Family: 👨‍👩‍👧.",
        "Tabs\tand\u00a0non-breaking\u2009spaces. Line\u2028separator and paragraph\u2029separator.",
        "“Quoted.” ‘Single.’ «Guillemets» — em dash – en dash … ellipsis…",
        "\n".join(f"Line {i} ends here." for i in range(200)),
        "a" * 3000,
    ],
)
def test_edge_texts_are_rebuilt_exactly(text):
    document = doc_of("edge.txt", text)
    assert_rebuilds(document, corpus.split(document, HASHING.count_tokens, min_words=3, max_words=8))


def test_split_is_deterministic_and_ids_depend_on_the_document(seed_doc):
    first = corpus.split(seed_doc, HASHING.count_tokens)
    assert first == corpus.split(seed_doc, HASHING.count_tokens)
    assert len({p.id for p in first}) == len(first)
    renamed = corpus.split(doc_of("other.txt", seed_doc.text), HASHING.count_tokens)
    assert [p.text for p in renamed] == [p.text for p in first]
    assert not {p.id for p in renamed} & {p.id for p in first}


# ---------------------------------------------------------------------------------------------------
# Sentences


def sentence_texts(text: str) -> list[str]:
    return [text[s.start : s.end] for s in corpus.sentences(text)]


def test_quotation_stays_with_its_attribution_in_the_seed(seed_doc, model_tokens):
    text = seed_doc.text
    start = text.index(MERZ_QUOTE)
    spans = [(s.start, s.end) for s in corpus.sentences(text)]
    assert (start, start + len(MERZ_QUOTE)) in spans
    for count in (HASHING.count_tokens, model_tokens):
        passages = corpus.split(seed_doc, count)
        assert any(p.start <= start and start + len(MERZ_QUOTE) <= p.end for p in passages)


def test_seed_quotes_with_attribution_are_single_sentences(seed_doc):
    texts = sentence_texts(seed_doc.text)
    for sentence in [
        "“For the first time since 2022, a ceasefire is conceivable,” Merz said at a press conference with "
        "Zelenskyy.",
        "“Where’s the credibility?” one European diplomat asked.",
        "“There’s a disinformation war here,” one EU diplomat said.",
    ]:
        assert sentence in texts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "“We will rebuild. Nobody should doubt it,” the mayor said. The work starts in May.",
            ["“We will rebuild. Nobody should doubt it,” the mayor said.", "The work starts in May."],
        ),
        (
            "\"It works,\" she added. Then she left.",
            ["\"It works,\" she added.", "Then she left."],
        ),
        (
            "Is it ready? “Not yet!” he replied. We waited.",
            ["Is it ready?", "“Not yet!” he replied.", "We waited."],
        ),
        (
            "“The deal is done.” Merz said. The talks end today.",
            ["“The deal is done.” Merz said.", "The talks end today."],
        ),
        (
            "\"We are ready.\" President Zelenskyy told reporters. Then he left.",
            ["\"We are ready.\" President Zelenskyy told reporters.", "Then he left."],
        ),
    ],
)
def test_quotations_and_attributions(text, expected):
    assert sentence_texts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "The U.S. Army and the U.K. Navy met in Washington.",
        "Dr. Novák and Mr. Smith arrived at 9 a.m. on Monday.",
        "Fruit, e.g. apples, and grains, i.e. wheat, grew by 3.5 percent.",
        "J. R. R. Tolkien wrote it in No. 20 Northmoor Road.",
        "Prices rose by 2.4 percent in the U.S.-led markets.",
        "- Building manager: Mr. Gareth Llewellyn-Price, ext. 6100 (mobile 07700 900123).",
        "See vol. 2, pp. 14-19, or call tel. 01632 770 215.",
        "Presented by Cllr. Marguerite de Souza-Platt and reviewed by Ing. Mirjam ter Horst-Vaals.",
        "The Revd. Thomas Hale and Fr. Brendan Kinsella led the service.",
    ],
)
def test_abbreviations_initials_and_decimals_do_not_split(text):
    assert sentence_texts(text) == [text]


def test_sentence_ends_do_split():
    text = "It rained all day. Then it stopped! Did anyone notice? 42 people did…\nA new line starts here"
    assert sentence_texts(text) == [
        "It rained all day.",
        "Then it stopped!",
        "Did anyone notice?",
        "42 people did…",
        "A new line starts here",
    ]


def test_sentence_offsets_are_absolute_and_trimmed():
    text = "xx  First one.  Second one.  \n  Third.  yy"
    spans = corpus.sentences(text, 2, len(text) - 2)
    assert [text[s.start : s.end] for s in spans] == ["First one.", "Second one.", "Third."]


# ---------------------------------------------------------------------------------------------------
# Passage sizes and headings


def long_document(name: str = "long.txt") -> Document:
    sentences = [
        f"Sentence number {i} talks about topic {i % 7} with a few extra words for body."
        for i in range(120)
    ]
    paragraphs = [" ".join(sentences[i : i + 6]) for i in range(0, len(sentences), 6)]
    return doc_of(name, "\n".join(paragraphs) + "\n")


def section_ends(passages: list[Passage], heading_starts: list[int]) -> set[int]:
    """Indexes of passages that are the last of their section (a heading or the end follows)."""
    ends = {len(passages) - 1}
    for i, (a, b) in enumerate(zip(passages, passages[1:])):
        if any(a.end <= h <= b.start for h in heading_starts):
            ends.add(i)
    return ends


@pytest.mark.parametrize(("min_words", "max_words"), [(60, 120), (20, 40), (8, 12)])
def test_passages_stay_within_word_limits_where_possible(min_words, max_words):
    document = long_document()
    passages = corpus.split(document, HASHING.count_tokens, min_words=min_words, max_words=max_words)
    assert_rebuilds(document, passages)
    ends = section_ends(passages, [])
    for i, p in enumerate(passages):
        words = len(p.text.split())
        assert words <= max_words + min_words // 2, p  # a short tail may be folded into its passage
        if i not in ends:
            assert words >= min_words, p


def test_seed_passages_stay_within_word_limits(seed_doc, model_tokens):
    passages = corpus.split(seed_doc, model_tokens, min_words=60, max_words=120)
    ends = section_ends(passages, heading_offsets(seed_doc.text, SEED_HEADINGS))
    for i, p in enumerate(passages):
        words = len(p.text.split())
        assert words <= 120 + 30
        if i not in ends:
            assert words >= 60, p


def test_consecutive_passages_share_one_sentence_of_overlap():
    document = long_document()
    passages = corpus.split(document, HASHING.count_tokens, min_words=30, max_words=60, overlap=1)
    for a, b in zip(passages, passages[1:]):
        assert b.start < a.end  # the overlap
        shared = document.text[b.start : a.end]
        assert len(corpus.sentences(shared)) == 1
    no_overlap = corpus.split(document, HASHING.count_tokens, min_words=30, max_words=60, overlap=0)
    for a, b in zip(no_overlap, no_overlap[1:]):
        assert b.start >= a.end


class CountingCounter:
    """A token counter that counts characters (so a long word needs cutting) and its own calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        return len(text)


def test_long_sentences_are_cut_to_fit_the_token_window():
    long_sentence = " ".join(f"word{i}" for i in range(300)) + "."
    clauses = ", ".join(f"clause {i} goes on" for i in range(80)) + "."
    document = doc_of("long.txt", f"Short intro. {long_sentence} {clauses} And a short end.")
    for max_tokens in (16, 40):
        passages = corpus.split(document, HASHING.count_tokens, max_tokens=max_tokens)
        assert_rebuilds(document, passages)
        assert all(HASHING.count_tokens(p.text) <= max_tokens for p in passages)
        assert len(passages) > 300 // max_tokens  # the long sentence really was cut
    # with room for whole clauses, cuts fall after a comma
    passages = corpus.split(document, HASHING.count_tokens, max_tokens=40, min_words=1, max_words=500)
    in_clauses = [p for p in passages if p.text.startswith("clause") and not p.text.endswith(".")]
    assert in_clauses and all(p.text.endswith(",") for p in in_clauses)


def test_a_giant_word_is_cut_by_characters():
    counter = CountingCounter()
    document = doc_of("blob.txt", "Before. " + "x" * 500 + " After it.")
    passages = corpus.split(document, counter, max_tokens=16)
    assert counter.calls > 0
    assert_rebuilds(document, passages)
    assert all(len(p.text) <= 16 for p in passages)


def test_passages_never_cross_a_seed_heading(seed_doc, model_tokens):
    offsets = heading_offsets(seed_doc.text, SEED_HEADINGS)
    for count in (HASHING.count_tokens, model_tokens):
        for kwargs in ({}, {"min_words": 100, "max_words": 400}):
            passages = corpus.split(seed_doc, count, **kwargs)
            assert_no_passage_crosses(passages, offsets)
    passages = corpus.split(seed_doc, model_tokens)
    for heading, h in zip(SEED_HEADINGS, offsets):
        starting = [p for p in passages if p.start == h]
        assert len(starting) == 1 and starting[0].heading == heading


def test_passages_never_cross_a_markdown_heading():
    body = " ".join(f"Filler sentence {i} about bread and ovens." for i in range(8))
    text = f"# Title\n{body}\n## Second part\n{body}\n### Third: details\n{body}\n"
    document = doc_of("guide.md", text)
    offsets = [text.index("# Title"), text.index("## Second part"), text.index("### Third: details")]
    passages = corpus.split(document, HASHING.count_tokens, min_words=200, max_words=400)
    assert_rebuilds(document, passages)
    assert_no_passage_crosses(passages, offsets)
    # a section's heading is the path of the headings above it, the document's title apart
    assert [p.heading for p in passages] == ["Title", "Second part", "Second part — Third: details"]


def test_a_section_heading_carries_the_headings_above_it():
    """Release notes: "### New" under "## 3.6.0 — 2026-02-11" was titled "New" alone, so "What chart type
    was added in 3.6.0?" read a sentence without its version (and abstained), and each release's "New"
    looked alike to retrieval. A rule ("---") is no heading."""
    text = ("# SorrelKit release notes\n\nCharts for JavaScript.\n\n---\n\n## 3.6.0 — 2026-02-11\n\n### New\n"
            "- Candlestick charts.\n\n### Fixed\n- Tooltips no longer flicker.\n\n## 3.5.0\n\n### New\n- Heatmaps.\n")
    passages = corpus.split(doc_of("notes.md", text), HASHING.count_tokens, min_words=1, max_words=8)
    heading_of = {p.text.split("\n")[-1]: p.heading for p in passages}
    assert heading_of["- Candlestick charts."] == "3.6.0 — 2026-02-11 — New"
    assert heading_of["- Tooltips no longer flicker."] == "3.6.0 — 2026-02-11 — Fixed"
    assert heading_of["- Heatmaps."] == "3.5.0 — New"  # a heading of the same level replaces the one before
    assert "---" not in {p.heading for p in passages}
    assert index.titles_of(passages)[-1] == "SorrelKit release notes — 3.5.0 — New"


# ---------------------------------------------------------------------------------------------------
# Loaders


def loaded(seeds: Path, max_bytes: int = 10**8) -> tuple[dict[str, Document], dict[str, str]]:
    docs, skipped = corpus.load_all(seeds, max_bytes)
    return {d.doc: d for d in docs}, dict(skipped)


def test_txt_and_md_text_equals_read_text_including_crlf(tmp_path):
    seeds = write_docs(
        tmp_path / "seeds",
        {
            "crlf.txt": "First line\r\nSecond “line” — é 🙂\r\n\r\nThird.\r\n".encode(),
            "cr.md": "# Old Mac\rline two\rline three\n".encode(),
            "bom.txt": "\ufeffWith a byte order mark.\n".encode(),
            "plain.md": "No newline at the end",
        },
    )
    docs, skipped = loaded(seeds)
    assert not skipped
    assert set(docs) == {"crlf.txt", "cr.md", "bom.txt", "plain.md"}
    for name, d in docs.items():
        assert d.text == (seeds / name).read_text(encoding="utf-8"), name
        assert_rebuilds(d, corpus.split(d, HASHING.count_tokens))
    assert "\r" not in docs["crlf.txt"].text
    assert docs["crlf.txt"].sha256 == hashlib.sha256((seeds / "crlf.txt").read_bytes()).hexdigest()


def test_html_keeps_visible_text_only(tmp_path):
    markup = (
        "<!doctype html><html><head><title>Page title</title>"
        "<style>body { color: red; } .secret { display: none }</style>"
        "<script>var secret = 'do not index me';</script></head>"
        "<body><h1>Harbour news</h1><p>The ferry to the <b>island</b> runs hourly &amp; costs €3.</p>"
        "<script type='module'>console.log('nor me')</script>"
        "<ul><li>Monday</li><li>Tuesday</li></ul><noscript>enable JS</noscript></body></html>"
    )
    seeds = write_docs(tmp_path / "seeds", {"news.html": markup, "old.htm": "<p>Old page</p>"})
    docs, skipped = loaded(seeds)
    assert not skipped
    text = docs["news.html"].text
    assert text == "Harbour news\nThe ferry to the island runs hourly & costs €3.\nMonday\nTuesday"
    for hidden in ("secret", "color", "console", "Page title", "enable JS", "<"):
        assert hidden not in text
    assert docs["old.htm"].text == "Old page"
    assert_rebuilds(docs["news.html"], corpus.split(docs["news.html"], HASHING.count_tokens))


def make_pdf(lines: list[str]) -> bytes:
    """A minimal one-page PDF with a real text stream (pypdf cannot draw text, so it is built by hand)."""
    shown = " ".join(f"({line}) Tj T*" for line in lines)
    content = f"BT /F1 12 Tf 72 720 Td 14 TL {shown} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def test_pdf_text_is_extracted(tmp_path):
    lines = ["The quarterly report covers solar panels.", "Revenue grew by nine percent in spring."]
    seeds = write_docs(tmp_path / "seeds", {"report.pdf": make_pdf(lines)})
    docs, skipped = loaded(seeds)
    assert not skipped
    text = docs["report.pdf"].text
    for line in lines:
        assert line in text
    passages = corpus.split(docs["report.pdf"], HASHING.count_tokens)
    assert_rebuilds(docs["report.pdf"], passages)
    assert "nine percent" in " ".join(p.text for p in passages)


def test_bad_files_are_skipped_with_a_reason_and_never_crash(tmp_path, caplog):
    outside = tmp_path / "outside.txt"
    outside.write_text("A secret outside the seeds folder.", encoding="utf-8")
    seeds = write_docs(
        tmp_path / "seeds",
        {
            "good.txt": "A perfectly good document.",
            "empty.txt": b"",
            "blank.md": b"  \n\t\n",
            "binary.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
            "latin1.txt": "Caf\u00e9 cr\u00e8me".encode("latin-1"),
            "big.md": b"word " * 400,
            "broken.pdf": b"%PDF-1.4\nthis is not really a pdf\n%%EOF",
            "empty.html": "<html><script>only code</script></html>",
            "report.docx": b"PK\x03\x04 zipped",
        },
    )
    os.symlink(outside, seeds / "escape.txt")
    os.symlink(seeds / "good.txt", seeds / "inside-link.txt")  # a link within seeds/ is fine
    (seeds / ".hidden.txt").write_text("Editors leave these around.", encoding="utf-8")
    (seeds / os.fsdecode(b"caf\xe9.txt")).write_bytes(b"A file name in Latin-1, not UTF-8.")

    docs, skipped = loaded(seeds, max_bytes=1000)
    assert set(docs) == {"good.txt", "inside-link.txt"}
    expected = {
        "empty.txt": "empty",
        "blank.md": "empty",
        "binary.txt": "binary",
        "latin1.txt": "UTF-8",
        "big.md": "MB limit",
        "broken.pdf": "PDF",
        "empty.html": "no readable text",
        "report.docx": "unsupported",
        "escape.txt": "outside seeds/",
        "caf\\xe9.txt": "file name is not valid UTF-8",
    }
    assert set(skipped) == set(expected)
    for name, fragment in expected.items():
        assert fragment in skipped[name], (name, skipped[name])
    assert not any(".hidden" in name for name in list(docs) + list(skipped))
    # the reason is the one message: pypdf's own warnings ("EOF marker not found") stay quiet
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pypdf")] == []


LOADER_FRAGMENTS = st.sampled_from(
    [b"<", b">", b"<!", b"<!--", b"-->", b"<![CDATA[", b"<?", b"</", b"<script>", b"</script>", b"<style>",
     b"<p>", b"&", b"&#x110000;", b"&#0;", b"&nbsp;", b"a", b" ", b"\n", b"\r", b"\x00", b"\xff", b"\xc3\xa9",
     b"\xef\xbb\xbf", b"%PDF-1.4", b"obj", b"stream", b"%%EOF"]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.one_of(st.binary(max_size=300), st.lists(LOADER_FRAGMENTS, max_size=60).map(b"".join)),
    suffix=st.sampled_from([".txt", ".md", ".html", ".pdf"]),
)
def test_loading_arbitrary_bytes_gives_a_document_or_a_reason(tmp_path, data, suffix):
    path = tmp_path / f"file{suffix}"
    path.write_bytes(data)
    seeds_file = corpus.SeedFile(path.name, path, len(data), 0)
    try:
        document = corpus.load(seeds_file, 10**6)
    except ValueError as exc:
        assert str(exc)
        return
    assert document.text.strip()
    if suffix in (".txt", ".md"):
        assert document.text == path.read_text(encoding="utf-8")


def test_missing_seeds_folder_loads_nothing(tmp_path):
    assert corpus.load_all(tmp_path / "nowhere", 10**6) == ([], [])


def test_read_document_refuses_paths_outside_seeds(tmp_seeds):
    with pytest.raises(ValueError, match="outside"):
        corpus.read_document(tmp_seeds, "../escape.txt")
    assert corpus.read_document(tmp_seeds, "notes/trains.txt").doc == "notes/trains.txt"


def test_scan_names_documents_relative_with_forward_slashes(tmp_seeds):
    files, skipped = corpus.scan(tmp_seeds)
    assert [f.doc for f in files] == ["bakery.md", "solar.txt", "notes/trains.txt"]
    assert not skipped


# ---------------------------------------------------------------------------------------------------
# Properties

PIECES = st.sampled_from(
    ["U.S.", "“", "”", "\"", "'", ". ", "! ", "? ", "\n", "\r", "\n\n", "# ", "## ", "said", " ", "—", "Mr. ",
     "Hello", "world", "…", "A", "a", "3.5", "é", "🙂", ",", ";", "\t", "\x0b", "\x1c", "\x85", "\u2028",
     "\u00a0", "\u3000", "\u200d", "e\u0301", "supercalifragilisticexpialidocious"]
)
TEXTS = st.one_of(
    st.text(max_size=400),
    st.lists(st.one_of(PIECES, st.text(max_size=4)), max_size=250).map("".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=TEXTS,
    name=st.sampled_from(["doc.txt", "doc.md"]),
    min_words=st.integers(1, 40),
    overlap=st.integers(0, 2),
    max_tokens=st.integers(16, 64),
)
def test_split_property_offsets_and_coverage(text, name, min_words, overlap, max_tokens):
    document = doc_of(name, text)
    passages = corpus.split(
        document, HASHING.count_tokens, min_words=min_words, max_words=2 * min_words, overlap=overlap,
        max_tokens=max_tokens,
    )
    assert_rebuilds(document, passages)
    assert all(HASHING.count_tokens(p.text) <= max_tokens for p in passages)
    assert all(p.text == p.text.strip() and p.text for p in passages)


def test_a_table_row_is_one_sentence_whatever_its_full_stops():
    text = "| Feature | A | B |\n|---|---|---|\n| Price (incl. VAT) | £5 | £9 |\nIt costs less. Really."
    got = [text[s.start : s.end] for s in corpus.sentences(text)]
    assert "| Price (incl. VAT) | £5 | £9 |" in got
    assert got[-2:] == ["It costs less.", "Really."]


def test_a_table_row_or_its_rule_is_never_a_heading():
    text = ("# Camera datasheet\n\nThree models are sold.\n\n| Feature | Lite | Pro |\n|---|---|---|\n"
            "| Price | £59 | £129 |\n| Weight | 290 g | 380 g |\n")
    passages = corpus.split(doc_of("sheet.md", text), HASHING.count_tokens, min_words=3, max_words=30)
    assert {p.heading for p in passages} == {"Camera datasheet"}


def test_a_list_item_or_a_label_is_never_a_heading_and_a_heading_is_its_whole_line():
    text = ("# Travel policy\n\n**Author:** Ann Lee\n\n## 4. Accommodation\n\nHotel costs are reimbursed up to these limits per night:\n\n"
            "- London: £140\n- Elsewhere in the UK: £95\n\nSeason: late June to September\n\n"
            "DAY 1: TALGRUND (1,120 m) TO BRENNER HUT\n\nThe path climbs through the forest for an hour.\n")
    passages = corpus.split(doc_of("policy.md", text), HASHING.count_tokens, min_words=3, max_words=40)
    assert [p.heading for p in passages] == ["Travel policy", "4. Accommodation",  # a line in capitals: inside "## 4."
                                             "4. Accommodation — DAY 1: TALGRUND (1,120 m) TO BRENNER HUT"]
    assert "- London: £140\n- Elsewhere in the UK: £95" in passages[1].text  # with its lead-in


def test_a_numbered_line_in_capitals_opens_a_section_and_a_numbered_step_does_not():
    text = ("MINUTES\n\n1. APOLOGIES\nColin Hart.\n\n2. SUNDAY OPENING OF THE BAR\nMaggie Fenner proposed it.\n"
            "1. Staff it.\n2. Change the licence.\nVote: 4 in favour, 6 against. DEFEATED.\n")
    passages = corpus.split(doc_of("minutes.txt", text), HASHING.count_tokens, min_words=2, max_words=30)
    assert [p.heading for p in passages] == ["MINUTES", "1. APOLOGIES", "2. SUNDAY OPENING OF THE BAR"]
    assert "DEFEATED" in passages[-1].text and "2. Change the licence." in passages[-1].text


def test_an_html_table_reads_as_markdown_rows_under_a_header_rule():
    markup = ("<h2>Tickets</h2><table><tr><th>Ticket</th><th>Price</th></tr><tr><td>Adult</td><td>£14.50</td></tr>"
              "<tr><td>Family<br>(2 adults)</td><td><b>£38.00</b></td></tr></table><p>Book online.</p>")
    assert corpus.html_text(markup) == ("Tickets\n| Ticket | Price |\n|---|---|\n| Adult | £14.50 |\n"
                                        "| Family (2 adults) | £38.00 |\nBook online.")


def test_a_numbered_item_keeps_its_marker_in_its_sentence():
    """"1. Make sure ..." is one sentence: the marker's full stop ends nothing (before, "1." was a sentence
    of its own, and an answer read "1. [1] 4. [2]")."""
    text = "## 4. Upgrading\n\n1. Make sure you run Python 3.10. Then test.\n2. Replace it.\nStep 3. Do it.\nSee section 4. It works."
    got = [text[s.start : s.end] for s in corpus.sentences(text)]
    assert got == ["## 4. Upgrading", "1. Make sure you run Python 3.10.", "Then test.", "2. Replace it.",
                   "Step 3. Do it.", "See section 4.", "It works."]


def test_a_numbered_list_run_into_a_paragraph_splits_at_its_items():
    """An HTML paragraph "To book: 1. Open ... 2. Choose ..." has its items as sentences; before, each
    item's number was a sentence of its own and an answer read "... a free slot. [1] 4. [2] Tap Confirm"."""
    text = ("To book: 1. Open the app and tap Events. 2. Choose Spring 2025. 3. Pick a free slot. 4. Tap Confirm. "
            "The vote was 7 to 2. It passed. Results: 4. The rest failed.")
    got = [text[s.start : s.end] for s in corpus.sentences(text)]
    assert got == ["To book: 1. Open the app and tap Events.", "2. Choose Spring 2025.", "3. Pick a free slot.",
                   "4. Tap Confirm.", "The vote was 7 to 2.", "It passed.", "Results: 4.", "The rest failed."]


def test_a_line_cut_after_a_word_no_sentence_ends_with_goes_on_whatever_opens_the_next():
    """"... move their first bell from\n7:45 a.m. to 8:30 a.m." was two sentences, and the answer to "What
    are the new start times?" was the first half alone; the same after a comma or "including"."""
    text = ("Motion: that Marlow Fen High School and Kingsford Middle School move their first bell from\n"
            "7:45 a.m. to 8:30 a.m. beginning with the 2025-26 school year.\n"
            "Our account at the hotel came to 176 francs for the three weeks, including\n"
            "Susan's board at half price.\n"
            "The following items are included in the price of the delivery, with\n- a cable\n- a plug\n"
            "Short line with\nA new line.\n"
            "Lock model          Max. payout    Registration fee    Valid for\n"
            "Bastion BU-16       GBP 1,500      free                3 years")
    got = [text[s.start : s.end] for s in corpus.sentences(text)]
    assert got == [
        ("Motion: that Marlow Fen High School and Kingsford Middle School move their first bell from\n"
         "7:45 a.m. to 8:30 a.m. beginning with the 2025-26 school year."),
        "Our account at the hotel came to 176 francs for the three weeks, including\nSusan's board at half price.",
        "The following items are included in the price of the delivery, with", "- a cable", "- a plug",
        "Short line with", "A new line.",  # a list goes on on its own lines; a short line is no wrapped one
        "Lock model          Max. payout    Registration fee    Valid for",  # nor a plain-text table's
        "Bastion BU-16       GBP 1,500      free                3 years"]


def test_a_line_wrapped_after_a_semicolon_goes_on_in_the_same_sentence():
    """PDF text wraps anywhere: "... can last up to 20 minutes;\ndo not switch it off." is one sentence
    (a ";" ends none), while a list's items stay apart."""
    text = ("- P1: the appliance is defrosting. This is normal in cool rooms below 15°C and can last up to 20 minutes;\n"
            "do not switch it off.\n- a; b;\n- c")
    got = [text[s.start : s.end] for s in corpus.sentences(text)]
    assert got == ["- P1: the appliance is defrosting.",
                   "This is normal in cool rooms below 15°C and can last up to 20 minutes;\ndo not switch it off.",
                   "- a; b;", "- c"]


def test_a_fenced_block_of_code_is_one_sentence():
    text = ("2. **Install the server.**\n\n   ```\n   sudo apt update\n   sudo apt install ledgerd\n   ```\n\n"
            "The package creates a user. It also makes a folder.\n```\nunclosed fence. Still prose.")
    got = [text[s.start : s.end] for s in corpus.sentences(text)]
    assert got[:3] == ["2. **Install the server.**", "```\n   sudo apt update\n   sudo apt install ledgerd\n   ```",
                       "The package creates a user."]
    assert got[-2:] == ["unclosed fence.", "Still prose."]  # no closing fence: lines as usual


def test_a_passage_splits_again_into_the_documents_own_sentences():
    # a PDF's hard-wrapped line: in the document, "... high\nspeed ..." is a soft wrap inside one sentence
    # (the line is long); a passage that opened at "In Laundry" would see a short first line and split there
    wrapped = ("- MODE: chooses between Normal, Laundry and Sleep modes. In Laundry mode the fan runs at high\n"
               "speed and the appliance ignores the humidity setting for up to 6 hours, to dry clothes quickly.")
    filler = " ".join(f"The panel has button number {i} for a setting of its own." for i in range(12))
    document = doc_of("manual.pdf", f"Control panel\n{filler}\n{wrapped}\n{filler}")
    whole = [(s.start, s.end) for s in corpus.sentences(document.text)]
    assert any("high\nspeed" in document.text[a:b] for a, b in whole)
    for max_words in (20, 30, 40, 60):
        passages = corpus.split(document, HASHING.count_tokens, min_words=10, max_words=max_words)
        assert_rebuilds(document, passages)
        for p in passages:
            again = [(p.start + s.start, p.start + s.end) for s in corpus.sentences(p.text)]
            assert again == [span for span in whole if p.start <= span[0] and span[1] <= p.end], p.text
