"""End to end: `python app.py` on a free loopback port, driven by headless Chromium (Debian's
`chromium`, through Playwright with executable_path). Asks, follows up, reloads, uploads a new and a
hostile document, and saves the README's screenshot to docs/screenshot.png.

The tests share one server and one page, and run in file order."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .appserver import app_server
from .conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("ASSISTANT_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Each run saves its screenshot under test-artifacts/ (git-ignored); set ASSISTANT_SCREENSHOT=docs/screenshot.png
# to refresh the README's picture on purpose.
SCREENSHOT = REPO / os.environ.get("ASSISTANT_SCREENSHOT", "test-artifacts/screenshot.png")
START_TIMEOUT = 300  # seconds: a fresh clone builds the index at start-up
ANSWER_TIMEOUT = 120_000  # ms

FACT_DOC = ("Quillfeather Observatory\n"
            "The Quillfeather Observatory on the island of Vennholm was founded in 1873 by the astronomer "
            "Amelia Harrow, who paid for its brass telescope by selling her family's orchard.\n")
HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">.html'
HOSTILE_DOC = """<!doctype html><html><head><title>t</title><script>window.__pwned=1</script></head><body>
<img src=x onerror="window.__pwned=1">
<p>The Zorblax accord was signed in the harbour town of Pellmarsh by twelve delegates, who wrote
&lt;img src=x onerror="window.__pwned=1"&gt; and &lt;script&gt;window.__pwned=1&lt;/script&gt; into its
preamble as a joke.</p>
<svg onload="window.__pwned=1"></svg>
</body></html>
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """app.py in a subprocess on a temporary copy of seeds/ (and of index/, when one was built)."""
    root = tmp_path_factory.mktemp("web")
    with app_server(root, start_timeout=START_TIMEOUT) as running:
        yield {**running, "root": root}


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium. Missing is a failure, not a skip: `make test` installs it."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing ({CHROMIUM} not found): run `make test`, which installs it "
                    "(apt-get install -y chromium).")
    return CHROMIUM


@pytest.fixture(scope="module")
def page(chromium: Path, server: dict) -> Iterator:
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        pg = context.pages[0] if context.pages else context.new_page()
        pg.on("request", lambda r: None if r.url.startswith((server["url"], "data:", "blob:"))
              else outside.append(r.url))
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.set_default_timeout(ANSWER_TIMEOUT)
        pg.outside_requests = outside  # type: ignore[attr-defined]
        pg.page_errors = errors  # type: ignore[attr-defined]
        pg.goto(server["url"])
        pg.wait_for_function("document.querySelector('#app-status') && "
                             "document.querySelector('#app-status').innerText.includes('Ready')",
                             timeout=START_TIMEOUT * 1000)
        yield pg
        context.close()


def answers(pg) -> list:
    return pg.locator("#chat div.answer.done").all()


def ask(pg, question: str):
    """Type a question, send it, and return the finished answer's element."""
    before = len(answers(pg))
    pg.fill("#question textarea", question)
    pg.click("#ask")
    pg.wait_for_function(f"document.querySelectorAll('#chat div.answer.done').length > {before}")
    return pg.locator("#chat div.answer.done").nth(before)


def upload(pg, path: Path) -> str:
    """Upload one file through the page and return the upload result once it changed."""
    result = "() => { const r = document.querySelector('#upload-result .upload-result'); return r ? r.innerText : ''; }"
    before = pg.evaluate(result)
    pg.locator("#upload input[type=file]").set_input_files(str(path))
    pg.wait_for_function(f"([before]) => {{ const t = ({result})(); "
                         "return t !== before && /Index (updated|not updated)|Refused/.test(t); }",
                         arg=[before], timeout=START_TIMEOUT * 1000)
    return pg.evaluate(result)


def test_merz_question_answered_with_a_highlighted_source(page, server):
    answer = ask(page, "What did Merz say about Article 5?")
    first_answer_seconds = time.monotonic() - server["started"]
    text = answer.locator(".answer-text").inner_text()
    assert "far-reaching" in text or "big step forward" in text, text
    marker = answer.locator("a.cite").first
    assert marker.inner_text() == "[1]"
    source = answer.locator(".source").first
    assert source.locator("mark").count() == 1
    assert "Merz" in source.locator("mark").inner_text()
    assert "characters" in source.inner_text() and ".txt" in source.inner_text()
    assert "Searched for" in answer.locator(".searched").inner_text()
    print(f"\nfrom app.py start to the first answer: {first_answer_seconds:.1f}s")

    # the marker brings its source into view
    page.locator("#chat").evaluate("el => { for (const s of el.querySelectorAll('*')) s.scrollTop = 0; }")
    marker.click()
    page.wait_for_timeout(800)
    assert source.evaluate("el => { const r = el.getBoundingClientRect(); "
                           "return r.top >= 0 && r.bottom <= window.innerHeight + 1; }")
    assert "flash" in (source.get_attribute("class") or "")

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(1800)  # let the flash fade
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))


def test_follow_up_resolves_the_person(page):
    ask(page, "Who hosted the talks?")
    answer = ask(page, "What did he call the security guarantees?")
    assert "Merz" in answer.locator(".searched").inner_text()
    assert "remarkable" in answer.locator(".answer-text").inner_text()
    assert answer.locator(".source mark").count() >= 1


def test_reload_keeps_earlier_answers_with_their_sources(page):
    page.reload()
    page.wait_for_function("document.querySelectorAll('#chat div.answer.done').length >= 3")
    first = page.locator("#chat div.answer.done").first
    assert "Merz" in first.locator(".source mark").first.inner_text()
    assert first.locator("a.cite").count() >= 1


def test_uploaded_document_answers_a_question_only_it_can(page, server, tmp_path):
    path = tmp_path / "quillfeather.txt"
    path.write_text(FACT_DOC, encoding="utf-8")
    result = upload(page, path)
    assert "Added quillfeather.txt" in result and "Index updated" in result, result
    assert (server["seeds"] / "quillfeather.txt").exists()
    page.wait_for_function("document.querySelector('#documents').innerText.includes('quillfeather.txt')")
    answer = ask(page, "Who founded the Quillfeather Observatory?")
    assert "Amelia Harrow" in answer.locator(".answer-text").inner_text()
    assert "quillfeather.txt" in answer.locator(".source").first.inner_text()
    # the same name again is kept under a new name, never overwritten
    result = upload(page, path)
    assert "saved as quillfeather-2.txt" in result, result


def test_hostile_html_is_shown_as_text_and_runs_nothing(page, server, tmp_path):
    path = tmp_path / HOSTILE_NAME
    path.write_text(HOSTILE_DOC, encoding="utf-8")
    result = upload(page, path)
    assert "Index updated" in result, result
    assert "onerror" in result  # the hostile file name is shown, as text
    answer = ask(page, "What did the delegates write into the preamble of the Zorblax accord?")
    shown = answer.inner_text()
    assert "Pellmarsh" in shown and 'onerror="window.__pwned=1"' in shown, shown
    page.wait_for_timeout(500)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#chat img[src='x'], #upload-result img, #documents img").count() == 0
    assert not page.page_errors, page.page_errors


def test_errors_are_a_short_chat_message(page):
    answer = ask(page, "Why? " * 500)
    assert "error" in (answer.get_attribute("class") or "")
    message = answer.inner_text()
    assert "limit" in message and "Traceback" not in message and len(message) < 300, message


def test_change_outside_the_app_is_noticed_and_rebuild_button_works(page, server):
    (server["seeds"] / "outside.md").write_text(
        "# Harbour\nThe lighthouse of Brindlecove has been painted green since 1911.\n", encoding="utf-8")
    page.wait_for_function("document.querySelector('#documents').innerText.includes('stale')", timeout=15_000)
    answer = ask(page, "What colour is the lighthouse of Brindlecove painted?")
    assert "green" in answer.locator(".answer-text").inner_text()
    page.wait_for_function("document.querySelector('#documents').innerText.includes('outside.md')", timeout=15_000)
    page.click("#rebuild")
    page.wait_for_function("document.querySelector('#upload-result .upload-result') && document.querySelector("
                           "'#upload-result .upload-result').innerText.includes('0 added, 0 changed')")
    assert "fresh" in page.inner_text("#documents")


def test_nothing_was_fetched_from_outside(page):
    assert page.outside_requests == []
