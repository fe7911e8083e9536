"""index + store: incremental builds that embed nothing twice, atomic generations, damage recovery,
staleness, locking. All with the hashing embedder (fast and deterministic)."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from assistant import Assistant, Settings, corpus, engine, search, store
from assistant import index as indexer
from assistant.embed import HashingEmbedder
from assistant.errors import DamagedIndexError, IndexBusyError, NoDocumentsError
from assistant.lexical import Lexicon

from .conftest import REPO, RecordingEmbedder, kill_when_ready, write_docs


def long_text(topic: str, n: int = 30) -> str:
    return "\n".join(
        f"Paragraph {i} of the {topic} guide explains step {i} in detail. It has a second sentence about "
        f"{topic} number {i}. A third sentence mentions tool {i * 7} and the colour {i % 5}."
        for i in range(n)
    ) + "\n"


DOCS = {
    "gardening.txt": long_text("gardening"),
    "cooking.md": "# Cooking\n" + long_text("cooking", 12),
    "sailing.txt": (
        "Sailing in the archipelago needs a chart and a life jacket. The wind turns in the afternoon.\n"
    ),
}


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "seeds", DOCS)


@pytest.fixture
def cfg(seeds: Path, tmp_path: Path) -> Settings:
    return Settings(seeds=seeds, index=tmp_path / "index")


def generations(index_dir: Path) -> set[str]:
    return {p.name for p in Path(index_dir).iterdir() if p.is_dir() and p.name.startswith(store.GEN_PREFIX)}


def leftovers(index_dir: Path) -> list[str]:
    return [p.name for p in Path(index_dir).iterdir() if p.name.endswith(".tmp")]


def split_all(cfg: Settings, embedder) -> list:
    docs, _ = corpus.load_all(cfg.seeds, 10**8)
    return [p for d in docs for p in indexer.split_document(d, cfg, embedder)]


def embedded_all(cfg: Settings, embedder) -> set[str]:
    """The distinct texts the model reads for the passages of seeds/: title + text."""
    passages = split_all(cfg, embedder)
    titles = indexer.passage_titles(passages, embedder, cfg.max_tokens)
    return {indexer.embedded_text(t, p.text) for p, t in zip(passages, titles)}


def assert_consistent(cfg: Settings) -> store.Snapshot:
    """The index on disk loads, matches seeds/ exactly, and has one generation and no temporary files."""
    snap = store.load(cfg.index)
    assert snap is not None
    docs = {d.doc: d for d in corpus.load_all(cfg.seeds, 10**8)[0]}
    assert set(snap.documents) == set(docs)
    for p in snap.passages:
        assert docs[p.doc].text[p.start : p.end] == p.text
    assert len(snap.vectors) == len(snap.passages)
    # every passage's stored sentences are exactly its sentences (search.sentence_spans)
    assert len(snap.sentences.rows) == len(snap.passages) + 1
    for row, p in enumerate(snap.passages):
        stored = [(p.start + int(a), p.start + int(b)) for a, b in snap.sentences.spans[snap.sentences.of(row)]]
        assert stored == [(s.start, s.end) for s in search.sentence_spans(p)]
    assert len(snap.sentences.vectors) == snap.sentences.rows[-1]
    assert generations(cfg.index) == {snap.generation}
    assert leftovers(cfg.index) == []
    return snap


def touch(path: Path, content: str) -> None:
    """Write a file and move its mtime forward, so even a coarse file-system clock sees the change."""
    path.write_text(content, encoding="utf-8")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))


def docs_in(hits) -> set[str]:
    return {h.doc for h in hits}


# ---------------------------------------------------------------------------------------------------
# Incremental builds


def test_first_build_embeds_every_passage_once(cfg):
    embedder = RecordingEmbedder()
    report, snap = indexer.build(cfg, embedder)
    passages = split_all(cfg, embedder)
    assert report.full_rebuild
    assert set(report.added) == set(DOCS)
    assert report.passages_total == len(passages) == len(snap.passages)
    assert embedder.texts_encoded == report.passages_embedded == len({p.text for p in passages})
    assert sorted(embedder.seen) == sorted(embedded_all(cfg, embedder))  # one pass each: sentences are pooled
    assert_consistent(cfg)


def test_unchanged_rebuild_embeds_nothing_and_writes_no_generation(cfg):
    embedder = RecordingEmbedder()
    first, _ = indexer.build(cfg, embedder)
    manifest_before = (cfg.index / store.MANIFEST).read_bytes()
    gens = generations(cfg.index)
    embedder.seen.clear()
    count = embedder.texts_encoded

    report, snap = indexer.build(cfg, embedder)
    assert embedder.texts_encoded == count and embedder.seen == []
    assert report.passages_embedded == 0
    assert not report.changed_anything
    assert set(report.unchanged) == set(DOCS)
    assert report.generation == first.generation == snap.generation
    assert generations(cfg.index) == gens
    assert (cfg.index / store.MANIFEST).read_bytes() == manifest_before


def test_adding_a_document_embeds_only_its_passages(cfg):
    embedder = RecordingEmbedder()
    indexer.build(cfg, embedder)
    embedder.seen.clear()
    new_text = long_text("astronomy", 8)
    (cfg.seeds / "astronomy.txt").write_text(new_text, encoding="utf-8")

    report, snap = indexer.build(cfg, embedder)
    new_passages = [p for p in snap.passages if p.doc == "astronomy.txt"]
    assert report.added == ("astronomy.txt",)
    assert not report.full_rebuild
    assert len(new_passages) > 1
    assert sorted(embedder.seen) == sorted(p.text for p in new_passages)
    assert report.passages_embedded == len(new_passages)
    assert_consistent(cfg)


def test_editing_a_document_embeds_only_its_changed_passages(cfg):
    embedder = RecordingEmbedder()
    _, old = indexer.build(cfg, embedder)
    old_texts = {p.text for p in old.passages}
    old_other = [p for p in old.passages if p.doc != "gardening.txt"]
    embedder.seen.clear()

    path = cfg.seeds / "gardening.txt"
    path.write_text(path.read_text(encoding="utf-8") + "A brand new closing sentence about compost.\n",
                    encoding="utf-8")
    report, snap = indexer.build(cfg, embedder)

    assert report.changed == ("gardening.txt",) and not report.added and not report.removed
    new_doc_passages = [p for p in snap.passages if p.doc == "gardening.txt"]
    changed = [p.text for p in new_doc_passages if p.text not in old_texts]
    assert 0 < len(changed) < len(new_doc_passages)  # the start of the document was reused
    assert sorted(embedder.seen) == sorted(changed)
    assert report.passages_embedded == len(changed)
    assert [p for p in snap.passages if p.doc != "gardening.txt"] == old_other
    assert_consistent(cfg)


def test_deleting_a_document_removes_it_from_results(cfg):
    a = Assistant(settings=cfg, embedder=HashingEmbedder(), auto_refresh=False)
    a.build()
    assert "sailing.txt" in docs_in(a.retrieve("sailing archipelago chart life jacket wind", k=10))

    (cfg.seeds / "sailing.txt").unlink()
    report = a.build()
    assert report.removed == ("sailing.txt",)
    hits = a.retrieve("sailing archipelago chart life jacket wind", k=10)
    assert hits and "sailing.txt" not in docs_in(hits)
    snap = assert_consistent(cfg)
    assert all(p.doc != "sailing.txt" for p in snap.passages)


def test_renaming_a_document_embeds_nothing_and_is_reported(cfg):
    embedder = RecordingEmbedder()
    indexer.build(cfg, embedder)
    embedder.seen.clear()
    (cfg.seeds / "gardening.txt").rename(cfg.seeds / "garden-guide.txt")

    report, snap = indexer.build(cfg, embedder)
    assert report.renamed == (("gardening.txt", "garden-guide.txt"),)
    assert report.added == () and report.removed == ()
    assert embedder.seen == [] and report.passages_embedded == 0
    assert {p.doc for p in snap.passages} == {"garden-guide.txt", "cooking.md", "sailing.txt"}
    assert_consistent(cfg)


def test_a_different_fingerprint_forces_a_full_rebuild(cfg):
    embedder = RecordingEmbedder()
    _, old = indexer.build(cfg, embedder)
    embedder.seen.clear()
    narrower = cfg.with_(max_words=60, min_words=30)
    assert indexer.fingerprint(narrower, embedder)[0] != indexer.fingerprint(cfg, embedder)[0]

    report, snap = indexer.build(narrower, embedder)
    assert report.full_rebuild
    # the same model reads the same text the same way: only the texts the old passages lacked are embedded
    unique = embedded_all(narrower, embedder) - {indexer.embedded_text(t, p.text) for p, t in zip(old.passages, old.titles)}
    assert unique and sorted(embedder.seen) == sorted(unique)
    assert report.passages_embedded == len(unique)
    assert len(snap.passages) > len(old.passages)  # smaller passages, more of them
    assert_consistent(narrower)


def test_a_new_splitter_version_that_splits_the_same_embeds_nothing(cfg, monkeypatch):
    _, old = indexer.build(cfg, HashingEmbedder())
    monkeypatch.setattr(indexer, "SPLITTER_VERSION", indexer.SPLITTER_VERSION + 1)
    embedder = RecordingEmbedder()
    report, snap = indexer.build(cfg, embedder)
    assert report.full_rebuild and report.passages_embedded == 0 and embedder.seen == []
    assert snap.generation != old.generation
    assert (snap.vectors == old.vectors).all()
    assert (snap.sentences.vectors == old.sentences.vectors).all()
    assert_consistent(cfg)


def test_a_splitter_change_keeps_only_the_vectors_that_still_hold(cfg, tmp_path, monkeypatch):
    """After a change of sentence rules the index equals a fresh build: a passage whose text is the same
    but whose sentences are not gets its sentence vectors anew."""
    indexer.build(cfg, HashingEmbedder())
    real = corpus.sentences

    def finer(text, start=0, end=None):  # a new rule: " and " also ends a sentence
        out = []
        for span in real(text, start, end):
            cut = text.find(" and ", span.start, span.end)
            out += [corpus.Span(span.start, cut), corpus.Span(cut + 1, span.end)] if cut > 0 else [span]
        return out

    monkeypatch.setattr(corpus, "sentences", finer)
    monkeypatch.setattr(indexer, "SPLITTER_VERSION", indexer.SPLITTER_VERSION + 1)
    report, upgraded = indexer.build(cfg, HashingEmbedder())
    assert report.full_rebuild and 0 < report.passages_embedded
    _, fresh = indexer.build(cfg.with_(index=tmp_path / "fresh"), HashingEmbedder())
    assert [p.id for p in upgraded.passages] == [p.id for p in fresh.passages]
    assert (upgraded.vectors == fresh.vectors).all()
    assert (upgraded.sentences.spans == fresh.sentences.spans).all()
    assert (upgraded.sentences.vectors == fresh.sentences.vectors).all()
    assert_consistent(cfg)


def test_another_embedder_forces_a_full_rebuild(cfg):
    indexer.build(cfg, HashingEmbedder())
    report, snap = indexer.build(cfg, HashingEmbedder(dim=128))
    assert report.full_rebuild and report.passages_embedded == report.passages_total
    assert snap.vectors.shape[1] == 128


def test_duplicate_passage_texts_are_embedded_once(cfg):
    shutil.copy(cfg.seeds / "gardening.txt", cfg.seeds / "gardening-copy.txt")
    embedder = RecordingEmbedder()
    report, snap = indexer.build(cfg, embedder)
    texts = [p.text for p in snap.passages]
    assert len(texts) > len(set(texts))
    assert len(embedder.seen) == len(set(embedder.seen)) == len(set(texts)) == report.passages_embedded
    # both copies are searchable with the same vectors
    rows = {p.doc: i for i, p in enumerate(snap.passages) if p.start == 0}
    assert (snap.vectors[rows["gardening.txt"]] == snap.vectors[rows["gardening-copy.txt"]]).all()


def test_vectors_are_reused_exactly(cfg):
    _, first = indexer.build(cfg, HashingEmbedder())
    (cfg.seeds / "extra.txt").write_text("An extra note about bicycles.", encoding="utf-8")
    _, second = indexer.build(cfg, HashingEmbedder())
    by_id = {p.id: i for i, p in enumerate(second.passages)}
    for i, p in enumerate(first.passages):
        assert (second.vectors[by_id[p.id]] == first.vectors[i]).all()


def test_documents_without_search_terms_can_be_indexed(tmp_path):
    """Only stopwords and punctuation: BM25 has no vocabulary, the build must still work."""
    seeds = write_docs(tmp_path / "seeds", {"hamlet.txt": "To be, or not to be!", "dots.md": "... !!! ???"})
    a = Assistant(seeds=seeds, index=tmp_path / "index", embedder=HashingEmbedder())
    report = a.build()
    assert report.passages_total == 2
    assert {h.doc for h in a.retrieve("to be or not", k=2)} == {"hamlet.txt", "dots.md"}
    again = Assistant(seeds=seeds, index=tmp_path / "index", embedder=HashingEmbedder(), auto_refresh=False)
    assert again.retrieve("anything at all?", k=1)
    assert not again.last_report  # loaded from disk, not rebuilt


def test_skipped_files_are_reported_by_the_build(cfg):
    (cfg.seeds / "broken.txt").write_bytes(b"\xff\xfe\x00\x00binary")
    (cfg.seeds / os.fsdecode(b"r\xe9sum\xe9.txt")).write_bytes(b"A Latin-1 file name.")
    report, snap = indexer.build(cfg, HashingEmbedder())
    assert sorted(path for path, _ in report.skipped) == ["broken.txt", "r\\xe9sum\\xe9.txt"]
    assert set(snap.documents) == set(DOCS)
    assert set(snap.manifest["skipped"]) == {"broken.txt", "r\\xe9sum\\xe9.txt"}
    assert_consistent(cfg)


# ---------------------------------------------------------------------------------------------------
# Atomicity: exceptions


class Boom(Exception):
    pass


def test_exception_before_commit_leaves_the_old_index(cfg):
    a = Assistant(settings=cfg, embedder=HashingEmbedder(), auto_refresh=False)
    a.build()
    old = store.load(cfg.index)
    (cfg.seeds / "astronomy.txt").write_text(long_text("astronomy", 5), encoding="utf-8")

    def boom() -> None:
        # the new generation is completely on disk at this point
        assert len(generations(cfg.index)) == 2
        raise Boom("half-way")

    with pytest.raises(Boom):
        indexer.build(cfg, HashingEmbedder(), before_commit=boom)

    assert generations(cfg.index) == {old.generation}  # no partial generation left behind
    snap = store.load(cfg.index)
    assert snap.generation == old.generation and snap.passages == old.passages
    assert a.retrieve("gardening guide step", k=3)
    fresh = Assistant(settings=cfg, embedder=HashingEmbedder(), auto_refresh=False)
    assert "astronomy.txt" not in docs_in(fresh.retrieve("astronomy guide", k=20))

    report, _ = indexer.build(cfg, HashingEmbedder())
    assert report.added == ("astronomy.txt",)
    assert_consistent(cfg)


@pytest.mark.parametrize("where", ["embed", "lexicon", "faiss", "manifest"])
def test_exceptions_anywhere_in_a_build_leave_the_old_index(cfg, monkeypatch, where):
    indexer.build(cfg, HashingEmbedder())
    old = store.load(cfg.index)
    (cfg.seeds / "sailing.txt").write_text("Sailing changed: now about kayaks and canoes.", encoding="utf-8")

    def fail(*args, **kwargs):
        raise Boom(where)

    embedder = HashingEmbedder()
    if where == "embed":
        monkeypatch.setattr(embedder, "encode", fail)
    elif where == "lexicon":
        monkeypatch.setattr(Lexicon, "save", fail)
    elif where == "faiss":
        import faiss

        monkeypatch.setattr(faiss, "write_index", fail)
    else:
        real_replace = os.replace

        def replace(src, dst):  # fail only the manifest switch (os.replace is shared by every module)
            if Path(dst).name == store.MANIFEST:
                fail()
            return real_replace(src, dst)

        monkeypatch.setattr(store.os, "replace", replace)
    with pytest.raises(Boom):
        indexer.build(cfg, embedder)
    monkeypatch.undo()

    snap = store.load(cfg.index)
    assert snap.generation == old.generation
    assert generations(cfg.index) == {old.generation}
    assert leftovers(cfg.index) == []
    answering = Assistant(settings=cfg, embedder=HashingEmbedder(), auto_refresh=False)
    assert answering.retrieve("sailing wind", k=2)
    report, _ = indexer.build(cfg, HashingEmbedder())
    assert report.changed == ("sailing.txt",)
    assert_consistent(cfg)


# ---------------------------------------------------------------------------------------------------
# Atomicity: a build process killed with SIGKILL

KILLED_BUILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from assistant import Settings, store
    from assistant import index as indexer
    from assistant.embed import HashingEmbedder
    from assistant.lexical import Lexicon

    seeds, index, where, ready = sys.argv[1:5]

    def park(*args, **kwargs):
        Path(ready).write_text(str(os.getpid()))
        while True:
            time.sleep(1)

    def park_then(original):
        def wrapper(*args, **kwargs):
            park()
        return wrapper

    embedder = HashingEmbedder()
    before_commit = None
    if where == "embedding":
        embedder.encode = park
    elif where == "writing":  # passages and FAISS written, BM25 not yet
        Lexicon.save = park_then(Lexicon.save)
    elif where == "before_commit":  # the new generation is complete, the manifest still old
        before_commit = park
    elif where == "manifest_tmp":  # the new manifest written to its temporary file, not yet renamed
        real_replace = os.replace

        def replace(src, dst):
            if Path(dst).name == store.MANIFEST:
                park()
            return real_replace(src, dst)

        store.os.replace = replace
    elif where == "after_commit":  # the manifest switched, the old generation not yet deleted
        store.remove_stale = park_then(store.remove_stale)
    indexer.build(Settings(seeds=Path(seeds), index=Path(index)), embedder, before_commit=before_commit)
    print("finished without being killed")
    """
)


def run_killed_build(cfg: Settings, where: str, tmp_path: Path) -> None:
    kill_when_ready(KILLED_BUILD, [str(cfg.seeds), str(cfg.index)], where, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["embedding", "writing", "before_commit", "manifest_tmp", "after_commit"])
def test_a_build_killed_at_any_point_leaves_a_loadable_index(cfg, tmp_path, where):
    indexer.build(cfg, HashingEmbedder())
    old = store.load(cfg.index)
    (cfg.seeds / "astronomy.txt").write_text(long_text("astronomy", 5), encoding="utf-8")

    run_killed_build(cfg, where, tmp_path)

    snap = store.load(cfg.index)  # loads, checksums and all
    if where == "after_commit":
        assert snap.generation != old.generation and "astronomy.txt" in snap.documents
    else:
        assert snap.generation == old.generation and snap.passages == old.passages
    answering = Assistant(settings=cfg, embedder=HashingEmbedder(), auto_refresh=False)
    assert answering.retrieve("gardening guide step", k=3)

    report, _ = indexer.build(cfg, HashingEmbedder())  # the lock died with the process
    snap = assert_consistent(cfg)  # leftover generations and temporary files are gone
    assert "astronomy.txt" in snap.documents
    if where != "after_commit":
        assert report.added == ("astronomy.txt",)
    answering.build()
    assert "astronomy.txt" in docs_in(answering.retrieve("astronomy guide step", k=3))


# ---------------------------------------------------------------------------------------------------
# Damaged indexes


def damage_garbage_manifest(index_dir: Path) -> None:
    (index_dir / store.MANIFEST).write_text("{not json", encoding="utf-8")


def damage_wrong_version(index_dir: Path) -> None:
    path = index_dir / store.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["format"] = store.FORMAT_VERSION + 1
    path.write_text(json.dumps(manifest), encoding="utf-8")


def damage_tampered_passages(index_dir: Path) -> None:
    [gen] = generations(index_dir)
    path = index_dir / gen / "passages.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace("gardening", "gardenink", 1), encoding="utf-8")


def damage_deleted_faiss(index_dir: Path) -> None:
    [gen] = generations(index_dir)
    (index_dir / gen / "faiss.index").unlink()


def damage_escaping_generation(index_dir: Path) -> None:
    path = index_dir / store.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["generation"] = "gen-x/../../elsewhere"
    path.write_text(json.dumps(manifest), encoding="utf-8")


def damage_missing_key(index_dir: Path) -> None:
    path = index_dir / store.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    del manifest["documents"]
    path.write_text(json.dumps(manifest), encoding="utf-8")


def damage_document_record(index_dir: Path) -> None:
    path = index_dir / store.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["documents"]["gardening.txt"] = "not a record"
    path.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (damage_garbage_manifest, "not valid JSON"),
        (damage_wrong_version, "another version"),
        (damage_tampered_passages, "checksum"),
        (damage_deleted_faiss, "missing"),
        (damage_escaping_generation, "invalid generation"),
        (damage_missing_key, "missing 'documents'"),
        (damage_document_record, "damaged document record"),
    ],
)
def test_a_damaged_index_is_reported_and_rebuilt_transparently(cfg, damage, message):
    indexer.build(cfg, HashingEmbedder())
    damage(cfg.index)
    with pytest.raises(DamagedIndexError, match=message) as caught:
        store.load(cfg.index)
    assert "rebuilt" in str(caught.value)

    a = Assistant(settings=cfg, embedder=HashingEmbedder(), auto_refresh=False)
    hits = a.retrieve("gardening guide step", k=3)
    assert hits and all(h.doc == "gardening.txt" for h in hits[:1])
    assert a.last_report is not None and a.last_report.full_rebuild
    assert_consistent(cfg)


@pytest.mark.parametrize("damage", [damage_garbage_manifest, damage_tampered_passages, damage_deleted_faiss,
                                    damage_escaping_generation, damage_missing_key, damage_document_record])
def test_a_damaged_index_lends_no_vectors_to_a_splitter_upgrade(cfg, damage, monkeypatch):
    indexer.build(cfg, HashingEmbedder())
    damage(cfg.index)
    monkeypatch.setattr(indexer, "SPLITTER_VERSION", indexer.SPLITTER_VERSION + 1)
    report, snap = indexer.build(cfg, HashingEmbedder())
    assert report.full_rebuild and report.passages_embedded == len({p.text for p in snap.passages})
    assert_consistent(cfg)


def test_no_index_yet_loads_as_none(cfg):
    assert store.read_manifest(cfg.index) is None
    assert store.load(cfg.index) is None


# ---------------------------------------------------------------------------------------------------
# Staleness


def test_a_new_document_is_seen_by_the_next_question(cfg, monkeypatch):
    monkeypatch.setattr(engine, "REFRESH_INTERVAL", 0)
    a = Assistant(settings=cfg, embedder=HashingEmbedder())
    assert "volcano.txt" not in docs_in(a.retrieve("volcano eruption lava", k=5))
    touch(cfg.seeds / "volcano.txt", "The volcano eruption sent lava down the northern slope in 1783.")
    hits = a.retrieve("volcano eruption lava", k=5)
    assert hits[0].doc == "volcano.txt"
    assert a.last_report.added == ("volcano.txt",)


def test_an_edited_document_is_seen_by_the_next_question(cfg, monkeypatch):
    monkeypatch.setattr(engine, "REFRESH_INTERVAL", 0)
    a = Assistant(settings=cfg, embedder=HashingEmbedder())
    a.retrieve("sailing", k=1)
    touch(cfg.seeds / "sailing.txt", "Sailing now means icebreakers and polar bears near Svalbard.")
    hits = a.retrieve("icebreakers polar bears Svalbard", k=1)
    assert hits[0].doc == "sailing.txt" and "icebreakers" in hits[0].text


def test_without_auto_refresh_new_documents_are_not_seen(cfg, monkeypatch):
    monkeypatch.setattr(engine, "REFRESH_INTERVAL", 0)
    a = Assistant(settings=cfg, embedder=HashingEmbedder(), auto_refresh=False)
    a.retrieve("sailing", k=1)
    generation = a.snapshot().generation
    touch(cfg.seeds / "volcano.txt", "The volcano eruption sent lava down the northern slope in 1783.")
    assert a.is_stale()
    assert "volcano.txt" not in docs_in(a.retrieve("volcano eruption lava", k=10))
    assert a.snapshot().generation == generation
    # a new Assistant without auto-refresh also answers from the index as it is
    b = Assistant(settings=cfg, embedder=HashingEmbedder(), auto_refresh=False)
    assert "volcano.txt" not in docs_in(b.retrieve("volcano eruption lava", k=10))


def test_a_stale_index_on_disk_is_refreshed_when_first_loaded(cfg):
    indexer.build(cfg, HashingEmbedder())
    touch(cfg.seeds / "volcano.txt", "The volcano eruption sent lava down the northern slope in 1783.")
    a = Assistant(settings=cfg, embedder=HashingEmbedder())
    assert a.retrieve("volcano eruption lava", k=1)[0].doc == "volcano.txt"


# ---------------------------------------------------------------------------------------------------
# No documents


@pytest.mark.parametrize("how", ["emptied", "only-bad-files", "deleted", "a-file"])
def test_no_documents_is_a_clear_error_and_keeps_the_index(cfg, how):
    indexer.build(cfg, HashingEmbedder())
    manifest = (cfg.index / store.MANIFEST).read_bytes()
    gens = generations(cfg.index)
    if how in ("deleted", "a-file"):
        shutil.rmtree(cfg.seeds)
        if how == "a-file":
            cfg.seeds.write_text("Not a folder.", encoding="utf-8")
    else:
        for path in cfg.seeds.iterdir():
            path.unlink()
        if how == "only-bad-files":
            (cfg.seeds / "empty.txt").write_bytes(b"")

    with pytest.raises(NoDocumentsError) as caught:
        Assistant(settings=cfg, embedder=HashingEmbedder()).build()
    message = str(caught.value)
    assert ".txt, .md, .html or .pdf" in message and str(cfg.seeds) in message
    if how == "only-bad-files":
        assert "empty.txt: empty file" in message
    if how == "deleted":
        assert "does not exist" in message
    if how == "a-file":
        assert "is a file, not a folder" in message

    assert (cfg.index / store.MANIFEST).read_bytes() == manifest
    assert generations(cfg.index) == gens
    assert store.load(cfg.index).passages


# ---------------------------------------------------------------------------------------------------
# Locking


def test_the_lock_is_held_while_a_build_writes(cfg):
    held = []

    def probe() -> None:
        with open(cfg.index / store.LOCK, "a+") as other:
            try:
                fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                held.append(True)
            else:
                held.append(False)
                fcntl.flock(other.fileno(), fcntl.LOCK_UN)

    indexer.build(cfg, HashingEmbedder(), before_commit=probe)
    assert held == [True]
    probe()  # released afterwards
    assert held == [True, False]


def test_a_busy_lock_gives_a_clear_error(cfg):
    with store.build_lock(cfg.index):
        with pytest.raises(IndexBusyError, match="assistant index"):
            with store.build_lock(cfg.index, timeout=0.1):
                pass


def test_two_builds_in_threads_serialise(cfg, monkeypatch):
    events: list[tuple[str, str]] = []
    real_load_all, real_remove_stale = corpus.load_all, store.remove_stale

    def load_all(*args, **kwargs):
        events.append(("start", threading.current_thread().name))
        return real_load_all(*args, **kwargs)

    def remove_stale(*args, **kwargs):
        time.sleep(0.2)  # widen the window in which a second build could slip in
        events.append(("end", threading.current_thread().name))
        return real_remove_stale(*args, **kwargs)

    monkeypatch.setattr(indexer.corpus, "load_all", load_all)
    monkeypatch.setattr(indexer.store, "remove_stale", remove_stale)
    # different chunk settings: each build is a full rebuild that writes a generation
    settings = {"A": cfg, "B": cfg.with_(max_words=60, min_words=30)}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            indexer.build(settings[name], HashingEmbedder())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(name,), name=name) for name in settings]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [kind for kind, _ in events] == ["start", "end", "start", "end"]
    assert events[0][1] == events[1][1] and events[2][1] == events[3][1]
    last = settings[events[-1][1]]
    snap = assert_consistent(last)
    assert snap.manifest["fingerprint"] == indexer.fingerprint(last, HashingEmbedder())[0]


def test_concurrent_assistant_builds_in_threads(cfg):
    a = Assistant(settings=cfg, embedder=HashingEmbedder())
    (cfg.seeds / "extra.txt").write_text("Extra notes about beekeeping and honey.", encoding="utf-8")
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(a.build())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reports) == 3
    assert sum(r.passages_embedded for r in reports) == reports[0].passages_total  # embedded once in all
    assert_consistent(cfg)


CONCURRENT_BUILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from assistant import Settings, corpus, store
    from assistant import index as indexer
    from assistant.embed import HashingEmbedder

    seeds, index, max_words, log = sys.argv[1:5]
    real_load_all, real_remove_stale = corpus.load_all, store.remove_stale

    def note(what):
        with open(log, "a") as f:
            f.write(f"{what} {os.getpid()}\\n")

    def load_all(*args, **kwargs):
        note("start")
        return real_load_all(*args, **kwargs)

    def remove_stale(*args, **kwargs):
        time.sleep(0.3)
        note("end")
        return real_remove_stale(*args, **kwargs)

    indexer.corpus.load_all = load_all
    indexer.store.remove_stale = remove_stale
    settings = Settings(seeds=Path(seeds), index=Path(index), max_words=int(max_words), min_words=30)
    indexer.build(settings, HashingEmbedder())
    """
)


@pytest.mark.slow
def test_two_build_processes_serialise(cfg, tmp_path):
    log = tmp_path / "events.log"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_BUILD, str(cfg.seeds), str(cfg.index), words, str(log)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for words in ("60", "90")
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    events = [line.split() for line in log.read_text().splitlines()]
    assert [kind for kind, _ in events] == ["start", "end", "start", "end"]
    assert events[0][1] == events[1][1] != events[2][1] == events[3][1]
    snap = store.load(cfg.index)
    last_words = 60 if int(events[-1][1]) == procs[0].pid else 90
    assert snap.manifest["settings"]["max_words"] == last_words
    assert_consistent(cfg.with_(max_words=last_words, min_words=30))
