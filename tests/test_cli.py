"""The command line, in-process through assistant.cli.main (real packaged model, small temp seeds),
plus one real subprocess of the installed `assistant` entry point."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import store
from assistant.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture
def dirs(tmp_seeds: Path, tmp_path: Path) -> list[str]:
    return ["--seeds", str(tmp_seeds), "--index", str(tmp_path / "index")]


def read(seeds: Path, doc: str) -> str:
    return (seeds / doc).read_text(encoding="utf-8")


def test_index_builds_then_reports_nothing_to_do(dirs, tmp_path, capsys):
    assert main([*dirs, "index"]) == 0
    out, err = capsys.readouterr()
    assert re.match(r"documents: 3 added, 0 changed, 0 removed, 0 renamed, 0 unchanged; passages: \d+ "
                    r"\(\d+ embedded\) \[full rebuild\]; \d+\.\d\ds$", out.strip()), out
    assert "Traceback" not in err
    assert store.load(tmp_path / "index").documents.keys() == {"bakery.md", "solar.txt", "notes/trains.txt"}

    assert main([*dirs, "index"]) == 0
    out, _ = capsys.readouterr()
    assert "0 added" in out and "3 unchanged" in out and "(0 embedded)" in out and "full rebuild" not in out


def test_index_lists_skipped_files_on_stderr(dirs, tmp_seeds, capsys):
    (tmp_seeds / "broken.txt").write_bytes(b"\x00\x01\x02binary")
    assert main([*dirs, "index"]) == 0
    out, err = capsys.readouterr()
    assert "skipped broken.txt: binary data" in err
    assert "3 added" in out


def test_search_prints_k_hits_with_exact_offsets(dirs, tmp_seeds, capsys):
    assert main([*dirs, "search", "When does the night train arrive in Zürich?", "-k", "2"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    headers = list(re.finditer(r"^\[(\d+)\] (\S+)  (\d+)-(\d+)  score (-?\d+\.\d{3})$", out, re.MULTILINE))
    assert [int(m.group(1)) for m in headers] == [1, 2]
    assert headers[0].group(2) == "notes/trains.txt"
    for i, m in enumerate(headers):
        end_of_block = headers[i + 1].start() if i + 1 < len(headers) else len(out)
        body = out[m.end() + 1 : end_of_block].rstrip("\n")
        printed = "\n".join(line[4:] for line in body.split("\n"))  # the text is indented by 4 spaces
        doc, start, end = m.group(2), int(m.group(3)), int(m.group(4))
        assert read(tmp_seeds, doc)[start:end] == printed


def test_search_json_has_exact_offsets(dirs, tmp_seeds, capsys):
    assert main([*dirs, "search", "How much is a croissant?", "--json", "-k", "3"]) == 0
    out, _ = capsys.readouterr()
    hits = json.loads(out)
    assert 1 <= len(hits) <= 3
    assert hits[0]["doc"] == "bakery.md" and "croissant" in hits[0]["text"]
    assert [h["rank"] for h in hits] == list(range(1, len(hits) + 1))
    for h in hits:
        text = read(tmp_seeds, h["doc"])
        assert text[h["start"] : h["end"]] == h["text"]
        assert text[h["context_start"] : h["context_end"]] == h["context_text"]
        for start, end, score in h["sentences"]:
            assert h["start"] <= start < end <= h["end"] and isinstance(score, float)


def test_search_sees_new_documents_unless_told_not_to(dirs, tmp_seeds, capsys):
    assert main([*dirs, "index"]) == 0
    capsys.readouterr()
    (tmp_seeds / "zoo.md").write_text("The zoo keeps two red pandas named Ping and Pong.", encoding="utf-8")
    assert main([*dirs, "--no-refresh", "search", "red pandas at the zoo", "--json"]) == 0
    assert "zoo.md" not in {h["doc"] for h in json.loads(capsys.readouterr().out)}
    assert main([*dirs, "search", "red pandas at the zoo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["doc"] == "zoo.md"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["index"], "does not exist: create it and add .txt, .md, .html or .pdf files."),
        (["search", "anything"], "does not exist"),
    ],
)
def test_missing_seeds_is_a_one_line_error(tmp_path, capsys, args, message):
    missing = tmp_path / "no-such-seeds"
    code = main(["--seeds", str(missing), "--index", str(tmp_path / "index"), *args])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "index" / store.MANIFEST).exists()


@pytest.mark.parametrize(
    ("question", "message"),
    [("   ", "error: The question is empty"), ("x" * 2500, "the limit is 2,000")],
)
def test_bad_questions_are_one_line_errors(dirs, capsys, question, message):
    assert main([*dirs, "search", question]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and message in err


def test_bad_k_is_a_one_line_error(dirs, capsys):
    assert main([*dirs, "search", "bakery", "-k", "0"]) == 1
    assert capsys.readouterr().err == "error: k must be at least 1.\n"


def test_usage_errors_exit_with_status_2(capsys):
    with pytest.raises(SystemExit) as caught:
        main([])
    assert caught.value.code == 2
    assert "usage: assistant" in capsys.readouterr().err


def test_the_installed_entry_point_works(tmp_seeds, tmp_path):
    """One real process: the console script from pyproject.toml, offline, with clean output."""
    executable = Path(sys.executable).parent / "assistant"
    assert executable.exists()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    result = subprocess.run(
        [str(executable), "--seeds", str(tmp_seeds), "--index", str(tmp_path / "index"),
         "search", "How much is a croissant?", "--json", "-k", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no tracebacks, warnings or library debug lines
    [hit] = json.loads(result.stdout)
    assert hit["doc"] == "bakery.md"
    assert read(tmp_seeds, "bakery.md")[hit["start"] : hit["end"]] == hit["text"]
    assert store.load(tmp_path / "index") is not None  # the first question built the index

