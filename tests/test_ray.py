"""Embedding a build's passages on Ray (Settings.ray, `assistant index --ray`): the same vectors as the
local path, on a local Ray instance of 2 CPUs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import ray

from assistant import Settings, workers
from assistant import index as indexer
from assistant.cli import _parser
from assistant.embed import shared_embedder
from assistant.errors import ClusterError

from .conftest import RecordingEmbedder, write_docs
from .test_index import DOCS, long_text

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def seeds(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "seeds", {**DOCS, "astronomy.txt": long_text("astronomy", 40)})


def test_ray_gives_the_local_vectors_with_the_real_model(local_ray, seeds, tmp_path, monkeypatch):
    monkeypatch.setattr(indexer, "EMBED_CHUNK", 8)  # several chunks, so both actors get work
    embedder = shared_embedder("", 1, 32, "auto", "")
    here = Settings(seeds=seeds, index=tmp_path / "here", threads=1)
    on_ray = here.with_(index=tmp_path / "ray", ray="local")
    local_report, local = indexer.build(here, embedder)
    ray_report, remote = indexer.build(on_ray, embedder)
    assert ray_report.passages_embedded == local_report.passages_embedded == len(local.passages) > 16
    assert remote.passages == local.passages and remote.titles == local.titles
    assert np.allclose(remote.vectors, local.vectors, atol=1e-6)
    assert np.array_equal(remote.sentences.rows, local.sentences.rows)
    assert np.array_equal(remote.sentences.spans, local.sentences.spans)
    assert np.allclose(remote.sentences.vectors.astype(np.float32), local.sentences.vectors.astype(np.float32),
                       atol=1e-3)  # float16 as stored: one step of rounding at most


def test_ray_embeds_only_what_changed(local_ray, seeds, tmp_path):
    embedder = RecordingEmbedder()  # travels to the actors pickled; what it records there stays there
    cfg = Settings(seeds=seeds, index=tmp_path / "index", ray="local")
    first, _ = indexer.build(cfg, embedder)
    assert first.passages_embedded == first.passages_total and embedder.seen == []  # all on Ray
    (seeds / "sailing.txt").write_text("Sailing needs a chart, a compass and a life jacket.", encoding="utf-8")
    report, snap = indexer.build(cfg, embedder)
    assert report.changed == ("sailing.txt",) and report.passages_embedded == 1
    local = indexer.build(cfg.with_(index=tmp_path / "local", ray=""), RecordingEmbedder())[1]
    assert np.allclose(snap.vectors, local.vectors, atol=1e-6)


def test_a_worker_with_another_model_stops_the_build(local_ray, seeds, tmp_path):
    class Renamed(RecordingEmbedder):
        """On the workers it names another model than the driver expects."""

        def __setstate__(self, state):
            self.__dict__.update(state)
            self.name = "another-model"

    with pytest.raises(Exception, match="A Ray worker has the model 'another-model'"):
        indexer.build(Settings(seeds=seeds, index=tmp_path / "index", ray="local"), Renamed())
    assert not (tmp_path / "index" / "manifest.json").exists()


def test_the_cli_flag_and_bad_addresses():
    assert _parser().parse_args(["index", "--ray"]).ray == "local"
    assert _parser().parse_args(["index", "--ray", "ray://head:10001"]).ray == "ray://head:10001"
    assert _parser().parse_args(["index"]).ray is None
    with pytest.raises(ClusterError, match="Cannot reach the Ray cluster at '127.0.0.1:1'"):
        workers.reachable("127.0.0.1:1")  # checked before ray.init, which retries a dead address for minutes
    with pytest.raises(ClusterError, match="is not a Ray address"):
        workers.reachable("nonsense")


def test_workers_rebuild_the_drivers_embedder_from_its_recipe():
    """The fingerprint names the model, backend and prefixes: what an actor makes must have the same name."""
    for args in (("", 1, 32, "torch", ""), ("", 1, 32, "torch-bf16", ""), ("", 1, 32, "torch", "", "query: ", "passage: ")):
        embedder = shared_embedder(*args)
        spec = workers.recipe(embedder)
        assert spec[0] != "object"  # the model travels as a recipe, never pickled with its weights
        assert workers.make(spec).name == embedder.name
