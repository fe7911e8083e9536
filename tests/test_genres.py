"""Answers on short documents of other genres than news, with the real packaged model: a reason that
follows the fact it explains, a number of the asked-for unit, a list item under a lead-in, follow-ups
that say "it" for the thing answered before or narrow the previous question."""

from __future__ import annotations

import pytest

from assistant import Assistant, Settings
from assistant import answer as answerer

from .conftest import write_docs

pytestmark = pytest.mark.slow

DOCS = {
    "changelog.md": (
        "# Tallow 2.0 release notes\n\n"
        "## Breaking changes\n\n"
        "- Python 3.9 is no longer supported. The minimum version is now Python 3.11, because the new "
        "parser relies on exception groups, which older interpreters lack.\n"
        "- The default log level is now WARNING. Previously Tallow logged every request at INFO, which "
        "filled small disks within days.\n"
        "- The `path` argument of `open_store()` has been renamed to `location`.\n"
    ),
    "heater.md": (
        "# Calora PH-3 patio heater: owner's manual\n\n"
        "## Specifications\n\n"
        "- Output: 2,000 W\n"
        "- Weight: 6.4 kg\n"
        "- Cable length: 1.8 m\n"
        "- Bulb life: about 5,000 hours\n\n"
        "## Models\n\n"
        "| Feature | PH-3 | PH-3 Max |\n"
        "|---|---|---|\n"
        "| Heat output (approx.) | 2,000 W | 3,000 W |\n"
        "| Price (incl. VAT) | £149 | £219 |\n\n"
        "## Error codes\n\n"
        "- F1: the tilt switch has tripped. Stand the heater upright and press RESET.\n"
        "- F2: the element is overheating. Switch off and let it cool for 30 minutes.\n"
    ),
    "options.md": (
        "# Wrenfield configuration\n\n"
        "| Option | Default | Meaning |\n"
        "|---|---|---|\n"
        "| `strict_units` | `false` | If true, raise an error when a column has no unit |\n"
        "| `listen` | `localhost` | The interface the server binds to |\n"
    ),
    "huts.md": (
        "# The Aldmoor circuit\n\n"
        "The circuit is a two-day walk of 31 km. Most walkers spend the night at the Fellgate Refuge, "
        "halfway round. The refuge has 36 beds in four dormitories and opens from May to October. "
        "A bed costs £28 for adults and £14 for children under 16.\n"
    ),
}


@pytest.fixture(scope="module")
def genres(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    root = tmp_path_factory.mktemp("genres")
    a = Assistant(settings=Settings(seeds=write_docs(root / "seeds", DOCS), index=root / "index"))
    a.build()
    return a


def _history(question: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


@pytest.mark.parametrize("question, reason", [
    ("Why did Tallow drop support for Python 3.9?", "exception groups"),
    ("Why was the default log level changed to WARNING?", "filled small disks"),
])
def test_why_is_answered_by_the_reason_that_follows_the_fact(genres, question, reason):
    ans = genres.ask(question)
    assert ans.answered and reason in ans.text


def test_how_heavy_takes_a_weight_not_another_number(genres):
    ans = genres.ask("How heavy is the patio heater?")
    assert ans.answered and ans.text.startswith("6.4 kg")


@pytest.mark.parametrize("question, value", [
    ("How much does the PH-3 Max cost?", "£219"),
    ("What is the heat output of the PH-3 Max?", "3,000 W"),
])
def test_a_table_row_answers_with_the_column_the_question_names(genres, question, value):
    ans = genres.ask(question)
    assert ans.answered and ans.text.startswith(value)
    assert any(c.text.startswith("|") and value in c.text for c in ans.citations)  # the whole row, cited


def test_the_reader_reads_a_table_row_with_its_cells_under_their_headers(genres):
    question, hits = genres.evidence("How much does the PH-3 Max cost?")
    found = answerer.candidates(question, hits, genres.vectors, reader=genres.reader)
    [row] = [c for c in found if c.text == "| Price (incl. VAT) | £149 | £219 |"]
    assert row.reads.endswith("Price (incl. VAT); PH-3: £149; PH-3 Max: £219")
    assert "---" not in row.reads  # the table's |---| rule is no heading to read it under


def test_a_table_row_without_figures_is_data_not_a_heading(genres):
    """Only a table's header row is labels; "| `strict_units` | `false` | If true, raise ... |" under it
    answers (it was taken for a row of labels, having no cell that starts with a figure, and never read)."""
    question, hits = genres.evidence("What does the strict_units option do?")
    found = {c.text: c for c in answerer.candidates(question, hits, genres.vectors, reader=genres.reader)}
    heading = answerer.FEATURES.index("heading")
    assert found["| Option | Default | Meaning |"].features[heading] == 1.0
    row = found["| `strict_units` | `false` | If true, raise an error when a column has no unit |"]
    assert row.features[heading] == 0.0 and "Meaning: If true, raise an error" in row.reads
    ans = genres.ask("What does the strict_units option do?")
    assert ans.answered and "raise an error when a column has no unit" in ans.text


def test_an_error_code_in_a_manual_is_about_the_product_its_title_names(genres):
    ans = genres.ask("What does error code F2 mean on the Calora heater?")
    assert ans.answered and "overheating" in ans.text


def test_it_in_a_follow_up_is_the_place_answered_before(genres):
    first = "Where do most walkers spend the night on the Aldmoor circuit?"
    ans = genres.ask(first)
    assert ans.answered and "Fellgate Refuge" in ans.text
    follow = genres.ask("How many beds does it have?", _history(first, ans.text))
    assert follow.query == "How many beds does Fellgate Refuge have?"
    assert follow.answered and "36" in follow.text


def test_a_bare_qualifier_narrows_the_previous_question(genres):
    first = "How much does a bed at the Fellgate Refuge cost?"
    ans = genres.ask(first)
    assert ans.answered and "£28" in ans.text
    follow = genres.ask("And for children?", _history(first, ans.text))
    assert follow.answered and "£14" in follow.text
