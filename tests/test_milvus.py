"""The Milvus store (store=milvus), on Milvus Lite in a temporary folder: the same answers as the folder
store, incremental and atomic builds, serialised builds, and errors a user can act on."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from assistant import Assistant, Settings, evaluate, store
from assistant import index as indexer
from assistant.cli import main
from assistant.embed import HashingEmbedder
from assistant.errors import ConfigError, DamagedIndexError, IndexBusyError, StoreUnavailableError
from assistant.milvus import MilvusStore

from .conftest import REPO, RecordingEmbedder, kill_when_ready, write_docs
from .test_index import DOCS, long_text

SEED_SETS = ("seed", "heldout", "heldout2")


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "seeds", DOCS)


@pytest.fixture
def cfg(seeds: Path, tmp_path: Path) -> Settings:
    return Settings(seeds=seeds, index=tmp_path / "index", store="milvus", milvus_uri=str(tmp_path / "m.db"))


def collections(cfg: Settings) -> set[str]:
    where = store.open_store(cfg)
    return set(where.client().list_collections())


def assert_consistent(cfg: Settings, embedder=None):
    """The alias names one complete generation whose passages rebuild every document, and nothing else
    of ours is left in Milvus."""
    snap = store.open_store(cfg).load()
    docs = {p.name for p in cfg.seeds.rglob("*") if p.is_file()}
    assert set(snap.documents) == docs
    for p in snap.passages:
        assert (cfg.seeds / p.doc).read_text(encoding="utf-8")[p.start : p.end] == p.text
    rows = list(range(len(snap.passages)))
    vectors = snap.passage_vectors(rows)
    assert vectors.shape == (len(snap.passages), (embedder or HashingEmbedder()).dim)
    spans, sentence_vectors = snap.sentence_vectors(rows)
    assert len(sentence_vectors) == sum(len(s) for s in spans) > len(snap.passages)
    assert [s.tolist() for s in snap.sentence_spans(rows)] == [s.tolist() for s in spans]
    for p, row_spans in zip(snap.passages, spans):
        assert row_spans[:, 0].min() >= 0 and row_spans[:, 1].max() <= len(p.text)
    assert collections(cfg) == {snap.generation, f"{snap.generation}_s", f"{cfg.milvus_collection}_meta"}
    return snap


# -- the same answers as the folder store ----------------------------------------------------------------


def figures(rows: list[dict]) -> list[dict]:
    """An eval row without what depends on the clock."""
    out = []
    for row in rows:
        answers = {k: v for k, v in row["answers"].items() if k != "ask_p50_ms"}
        out.append({**row, "answers": answers})
    return out


@pytest.mark.slow
def test_seed_sets_give_the_same_figures_on_milvus_as_on_faiss(real_assistant, tmp_path):
    """The whole retrieval and answer eval of the seed sets, on both stores, with the real model."""
    on_milvus = Assistant(settings=real_assistant.settings.with_(
        index=tmp_path / "index", store="milvus", milvus_uri=str(tmp_path / "m.db")),
        embedder=real_assistant.embedder)
    report = on_milvus.build()
    assert report.passages_embedded == report.passages_total > 0
    sets = {qs.name: qs for qs in evaluate.load_registry()}
    for name in SEED_SETS:
        faiss_rows = figures(evaluate.evaluate_set(real_assistant, sets[name], k=5))
        milvus_rows = figures(evaluate.evaluate_set(on_milvus, sets[name], k=5))
        assert milvus_rows == faiss_rows, name
        for row in milvus_rows:
            assert row["retrieval"]["questions"] > 0 and row["answers"]["offsets_exact"]
    assert type(on_milvus.snapshot()).__name__ == "MilvusSnapshot"


@pytest.mark.slow
def test_retrieve_and_ask_match_the_folder_store_hit_for_hit(real_assistant, tmp_path):
    on_milvus = Assistant(settings=real_assistant.settings.with_(
        index=tmp_path / "index", store="milvus", milvus_uri=str(tmp_path / "m.db")),
        embedder=real_assistant.embedder)
    on_milvus.build()
    for question in ("What did Merz say about Article 5?", "Who hosted the talks?", "Where were the talks held?"):
        ours, theirs = on_milvus.retrieve(question, k=5), real_assistant.retrieve(question, k=5)
        assert [(h.doc, h.start, h.end, h.text) for h in ours] == [(h.doc, h.start, h.end, h.text) for h in theirs]
        assert [h.score for h in ours] == pytest.approx([h.score for h in theirs], abs=1e-5)
        assert on_milvus.ask(question).text == real_assistant.ask(question).text


def test_bm25_in_milvus_ranks_like_the_folder_stores(seeds, tmp_path):
    """Milvus's BM25 Function over our own terms: the same rows in the same order as bm25s."""
    faiss_cfg = Settings(seeds=seeds, index=tmp_path / "faiss")
    milvus_cfg = faiss_cfg.with_(index=tmp_path / "index", store="milvus", milvus_uri=str(tmp_path / "m.db"))
    _, folder = indexer.build(faiss_cfg, HashingEmbedder())
    _, milvus = indexer.build(milvus_cfg, HashingEmbedder())
    assert milvus.passages == folder.passages
    def ranking(found: list[tuple[int, float]]) -> list[tuple[float, int]]:
        return sorted((-round(score, 4), row) for row, score in found)  # ties in row order (bm25s: any order)

    for query in ("gardening step 7", "life jacket archipelago", "colour 3 tool 14", "U.S. zebra", "step by step: tool 7 tool"):
        assert ranking(milvus.lexicon.top(query, 20)) == ranking(folder.lexicon.top(query, 20))
    vector = HashingEmbedder().encode(["cooking guide step 3"])[0]
    assert [r for r, _ in milvus.dense(vector, 5)] == [r for r, _ in folder.dense(vector, 5)]
    assert milvus.lexicon.overlap(["garden", "step"], "step by step") == folder.lexicon.overlap(
        ["garden", "step"], "step by step")


# -- incremental and atomic ------------------------------------------------------------------------------


def test_only_new_or_changed_documents_are_embedded(cfg):
    embedder = RecordingEmbedder()
    first, _ = indexer.build(cfg, embedder)
    assert first.full_rebuild and first.passages_embedded == first.passages_total
    assert_consistent(cfg)

    embedder.seen.clear()
    again, snap = indexer.build(cfg, embedder)
    assert again.passages_embedded == 0 and embedder.seen == [] and snap.generation == first.generation

    (cfg.seeds / "astronomy.txt").write_text(long_text("astronomy", 5), encoding="utf-8")
    (cfg.seeds / "sailing.txt").write_text("Sailing needs a chart, a compass and a life jacket.", encoding="utf-8")
    embedder.seen.clear()
    report, snap = indexer.build(cfg, embedder)
    assert report.added == ("astronomy.txt",) and report.changed == ("sailing.txt",)
    new = [p for p in snap.passages if p.doc in ("astronomy.txt", "sailing.txt")]
    assert report.passages_embedded == len(new) and all("gardening" not in t for t in embedder.seen)
    loaded = assert_consistent(cfg)
    assert loaded.generation == snap.generation != first.generation
    # what was reused is what was embedded: the vectors of an unchanged passage did not move
    rows = [r for r, p in enumerate(loaded.passages) if p.doc == "gardening.txt"][:3]
    expected, _ = HashingEmbedder().encode_passages(
        [indexer.embedded_text(loaded.titles[r], loaded.passages[r].text) for r in rows], [[] for _ in rows])
    assert np.allclose(loaded.passage_vectors(rows), expected.astype(np.float16), atol=1e-6)

    (cfg.seeds / "gardening.txt").rename(cfg.seeds / "garden-guide.txt")
    embedder.seen.clear()
    report, _ = indexer.build(cfg, embedder)
    assert report.renamed == (("gardening.txt", "garden-guide.txt"),) and report.passages_embedded == 0
    assert_consistent(cfg)


def test_another_model_or_splitter_rebuilds_everything(cfg):
    indexer.build(cfg, HashingEmbedder())
    report, snap = indexer.build(cfg.with_(max_words=60, min_words=30), HashingEmbedder(dim=128))
    assert report.full_rebuild and report.passages_embedded == report.passages_total
    assert snap.passage_vectors([0]).shape == (1, 128)
    assert_consistent(cfg.with_(max_words=60, min_words=30), HashingEmbedder(dim=128))


def test_a_new_splitter_version_that_splits_the_same_embeds_nothing(cfg, monkeypatch):
    _, old = indexer.build(cfg, HashingEmbedder())
    rows = list(range(len(old.passages)))
    vectors, (spans, sentence_vectors) = old.passage_vectors(rows), old.sentence_vectors(rows)
    monkeypatch.setattr(indexer, "SPLITTER_VERSION", indexer.SPLITTER_VERSION + 1)
    report, snap = indexer.build(cfg, HashingEmbedder())
    assert report.full_rebuild and report.passages_embedded == 0 and snap.generation != old.generation
    assert (snap.passage_vectors(rows) == vectors).all()
    new_spans, new_sentence_vectors = snap.sentence_vectors(rows)
    assert [s.tolist() for s in new_spans] == [s.tolist() for s in spans]
    assert (new_sentence_vectors == sentence_vectors).all()
    assert_consistent(cfg)


KILLED_BUILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from assistant import Settings
    from assistant import index as indexer
    from assistant.embed import HashingEmbedder
    from assistant.milvus import MilvusStore

    seeds, index, uri, where, ready = sys.argv[1:6]

    def park(*args, **kwargs):
        Path(ready).write_text(str(os.getpid()))
        while True:
            time.sleep(1)

    embedder = HashingEmbedder()
    before_commit = None
    if where == "embedding":
        embedder.encode_passages = park
    elif where == "writing":  # the passages collection written, the sentences not yet
        MilvusStore._create_sentences = park
    elif where == "before_switch":  # the new generation complete, the alias still on the old one
        before_commit = park
    elif where == "after_switch":  # the alias switched, the old generation not yet dropped
        MilvusStore.remove_stale = park
    settings = Settings(seeds=Path(seeds), index=Path(index), store="milvus", milvus_uri=uri)
    indexer.build(settings, embedder, before_commit=before_commit)
    print("finished without being killed")
    """
)


def run_killed_build(cfg: Settings, where: str, tmp_path: Path) -> None:
    kill_when_ready(KILLED_BUILD, [str(cfg.seeds), str(cfg.index), cfg.milvus_uri], where, tmp_path)


BUILD_THEN_QUIT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from assistant import Settings
    from assistant import index as indexer
    from assistant.embed import HashingEmbedder

    seeds, index, uri = sys.argv[1:4]
    indexer.build(Settings(seeds=Path(seeds), index=Path(index), store="milvus", milvus_uri=uri), HashingEmbedder())
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("where", ["embedding", "writing", "before_switch", "after_switch"])
def test_a_build_killed_at_any_point_leaves_the_previous_generation_serving(cfg, tmp_path, where):
    # the first build in another process too: Milvus Lite lets one process at a time open the .db
    subprocess.run([sys.executable, "-c", BUILD_THEN_QUIT, str(cfg.seeds), str(cfg.index), cfg.milvus_uri],
                   cwd=REPO, check=True, capture_output=True)
    (cfg.seeds / "astronomy.txt").write_text(long_text("astronomy", 5), encoding="utf-8")
    run_killed_build(cfg, where, tmp_path)

    snap = store.open_store(cfg).load()  # the .db opens again: its lock died with the process
    if where == "after_switch":
        assert "astronomy.txt" in snap.documents
    else:
        assert "astronomy.txt" not in snap.documents and len(snap.documents) == len(DOCS)
    answering = Assistant(settings=cfg, embedder=HashingEmbedder(), auto_refresh=False)
    assert answering.retrieve("gardening guide step", k=3)

    report, _ = indexer.build(cfg, HashingEmbedder())
    snap = assert_consistent(cfg)  # the killed build's collections and meta rows are gone
    assert "astronomy.txt" in snap.documents
    if where != "after_switch":
        assert report.added == ("astronomy.txt",)
    answering.build()
    assert any(h.doc == "astronomy.txt" for h in answering.retrieve("astronomy guide step", k=3))


def test_builds_in_threads_serialise_and_leave_one_generation(cfg):
    """Two Assistants of one process on the same .db (Milvus Lite shares one server per path)."""
    embedders = [RecordingEmbedder(), RecordingEmbedder()]
    assistants = [Assistant(settings=cfg, embedder=e) for e in embedders]
    (cfg.seeds / "extra.txt").write_text("Extra notes about beekeeping and honey.", encoding="utf-8")
    errors: list[BaseException] = []

    def run(a: Assistant) -> None:
        try:
            a.build()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in assistants]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    reports = [a.last_report for a in assistants]
    assert sum(r.passages_embedded for r in reports) == reports[0].passages_total  # embedded once in all
    assert assert_consistent(cfg).generation == reports[0].generation == reports[1].generation


CONCURRENT_BUILD = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from assistant import Settings, corpus
    from assistant import index as indexer
    from assistant.embed import HashingEmbedder
    from assistant.milvus import MilvusStore

    seeds, index, uri, max_words, log = sys.argv[1:6]
    real_load_all, real_remove_stale = corpus.load_all, MilvusStore.remove_stale

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
    MilvusStore.remove_stale = remove_stale
    settings = Settings(seeds=Path(seeds), index=Path(index), max_words=int(max_words), min_words=30,
                        store="milvus", milvus_uri=uri)
    indexer.build(settings, HashingEmbedder())
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lite_server(tmp_path):
    """`milvus-lite server` on a .db: the way several processes share one Milvus Lite database."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(tmp_path / "served.db"),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60  # a guard against hanging, not a timing assertion
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.slow
def test_two_build_processes_on_one_server_serialise(cfg, tmp_path, lite_server):
    log = tmp_path / "events.log"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT_BUILD, str(cfg.seeds), str(cfg.index), lite_server, words, str(log)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for words in ("60", "90")
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    events = [line.split() for line in log.read_text().splitlines()]
    assert [kind for kind, _ in events] == ["start", "end", "start", "end"]
    assert events[0][1] == events[1][1] != events[2][1] == events[3][1]
    last_words = 60 if int(events[-1][1]) == procs[0].pid else 90
    served = cfg.with_(milvus_uri=lite_server, max_words=last_words, min_words=30)
    snap = assert_consistent(served)
    assert snap.manifest["settings"]["max_words"] == last_words


# -- errors a user can act on ----------------------------------------------------------------------------


HOLD_DB = textwrap.dedent(
    """
    import sys, time
    from pymilvus import MilvusClient
    MilvusClient(sys.argv[1]).list_collections()
    print("open", flush=True)
    time.sleep(600)
    """
)


def test_a_db_held_by_another_process_says_what_to_do(cfg, capsys, monkeypatch):
    monkeypatch.setenv("ASSISTANT_STORE", "milvus")
    monkeypatch.setenv("ASSISTANT_MILVUS_URI", cfg.milvus_uri)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_DB, cfg.milvus_uri], stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline().strip() == b"open"
        with pytest.raises(IndexBusyError, match="open in another process.*milvus-lite server"):
            Assistant(settings=cfg, embedder=HashingEmbedder()).build()
        assert main(["--seeds", str(cfg.seeds), "--index", str(cfg.index), "index"]) == 1
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert err.startswith("error: "), err
    assert "open in another process" in err and "Traceback" not in err


def test_an_unreachable_server_says_what_to_do(cfg, monkeypatch):
    monkeypatch.setattr("assistant.milvus.CONNECT_TIMEOUT", 2.0)
    unreachable = cfg.with_(milvus_uri=f"http://127.0.0.1:{free_port()}", milvus_collection="unreachable")
    with pytest.raises(StoreUnavailableError, match="Cannot reach a Milvus server at http://127.0.0.1:.*ASSISTANT_MILVUS_URI"):
        Assistant(settings=unreachable, embedder=HashingEmbedder()).retrieve("gardening")


@pytest.fixture
def server_with_token(tmp_path):
    """A Milvus Lite gRPC server that, like a Milvus server with authorizationEnabled, rejects a request
    whose token is not 'root:secret' with UNAUTHENTICATED "auth check failure"."""
    import base64
    from concurrent import futures

    import grpc
    from milvus_lite.adapter.grpc.server import MilvusServicer
    from milvus_lite.db import MilvusLite
    from pymilvus.grpc_gen import milvus_pb2_grpc

    expected = base64.b64encode(b"root:secret").decode()

    class CheckToken(grpc.ServerInterceptor):
        def intercept_service(self, continuation, details):
            if dict(details.invocation_metadata).get("authorization") == expected:
                return continuation(details)

            def deny(request, context):
                context.abort(grpc.StatusCode.UNAUTHENTICATED,
                              "auth check failure, please check username and password are correct")
            return grpc.unary_unary_rpc_method_handler(deny)

    db = MilvusLite(str(tmp_path / "auth.db"))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), interceptors=[CheckToken()])
    milvus_pb2_grpc.add_MilvusServiceServicer_to_server(MilvusServicer(db), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop(grace=0)
    db.close()


def test_a_wrong_token_says_what_to_do(cfg, server_with_token):
    served = cfg.with_(milvus_uri=server_with_token, milvus_collection="authtest")
    with pytest.raises(StoreUnavailableError, match="refused the credentials.*ASSISTANT_MILVUS_TOKEN"):
        Assistant(settings=served.with_(milvus_token="root:wrong"), embedder=HashingEmbedder()).build()
    report = Assistant(settings=served.with_(milvus_token="root:secret"), embedder=HashingEmbedder()).build()
    assert report.passages_total > 0


def test_a_dropped_generation_is_reloaded_not_a_traceback(cfg):
    """Another process's build dropped the generation this Assistant answers from: reload and go on."""
    a = Assistant(settings=cfg, embedder=HashingEmbedder(), auto_refresh=False)
    a.build()
    old = a.snapshot()
    (cfg.seeds / "astronomy.txt").write_text(long_text("astronomy", 5), encoding="utf-8")
    indexer.build(cfg, HashingEmbedder())  # as another process would: drops `old`
    with pytest.raises(DamagedIndexError, match="is gone"):
        old.dense(HashingEmbedder().encode(["astronomy"])[0], 3)
    assert any(h.doc == "astronomy.txt" for h in a.retrieve("astronomy guide step", k=3))


def test_store_settings_are_checked_and_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ASSISTANT_STORE", "milvus")
    monkeypatch.setenv("ASSISTANT_MILVUS_URI", str(tmp_path / "m.db"))
    monkeypatch.setenv("ASSISTANT_MILVUS_TOKEN", "root:Milvus")
    s = Settings.from_env()
    assert (s.store, s.milvus_uri, s.milvus_token) == ("milvus", str(tmp_path / "m.db"), "root:Milvus")
    assert isinstance(store.open_store(s), MilvusStore)
    assert isinstance(store.open_store(Settings()), store.FolderStore)
    with pytest.raises(ConfigError, match="store must be one of faiss, milvus"):
        Settings(store="qdrant")
    with pytest.raises(ConfigError, match="milvus_uri must be a path ending in .db"):
        Settings(store="milvus", milvus_uri="localhost:19530")
    assert MilvusStore.from_settings(Settings(store="milvus", index=tmp_path / "i")).uri == str(tmp_path / "i" / "milvus.db")


def test_two_corpora_on_one_milvus_keep_to_their_own_collections(cfg, tmp_path):
    other_seeds = write_docs(tmp_path / "other", {"notes.txt": long_text("beekeeping", 4)})
    other = cfg.with_(seeds=other_seeds, index=tmp_path / "other-index", milvus_collection=f"{cfg.milvus_collection}_g2")
    indexer.build(cfg, HashingEmbedder())
    indexer.build(other, HashingEmbedder())
    (cfg.seeds / "astronomy.txt").write_text(long_text("astronomy", 5), encoding="utf-8")
    indexer.build(cfg, HashingEmbedder())  # drops its own old generation, not the other corpus's
    assert set(store.open_store(other).load().documents) == {"notes.txt"}
    assert "astronomy.txt" in store.open_store(cfg).load().documents
