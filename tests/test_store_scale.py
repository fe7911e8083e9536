"""The vector index at scale: flat below Settings.ann_threshold, HNSW from there on, float16 on disk."""

from __future__ import annotations

import numpy as np
import pytest

from assistant import Assistant, Settings, store
from assistant.embed import HashingEmbedder
from assistant.search import dense


def clustered(n: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Unit vectors in clusters, like sentence embeddings (topics), not uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 50, 1), dim)).astype(np.float32)
    x = centres[rng.integers(0, len(centres), n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def recall_at_10(index, vectors: np.ndarray, queries: np.ndarray) -> float:
    import faiss

    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    _, got = index.search(queries, 10)
    return float(np.mean([len(set(t) & set(g)) / 10 for t, g in zip(truth, got)]))


def test_small_indexes_are_flat_and_large_ones_hnsw() -> None:
    vectors = clustered(300)
    assert not hasattr(store.vector_index(vectors, ann_threshold=301), "hnsw")
    assert hasattr(store.vector_index(vectors, ann_threshold=300), "hnsw")


def test_hnsw_recall_at_10_against_flat() -> None:
    vectors = clustered(6000, dim=96)
    rng = np.random.default_rng(1)
    queries = vectors[rng.integers(0, len(vectors), 200)] + 0.1 * rng.standard_normal((200, 96)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    hnsw = store.vector_index(vectors, ann_threshold=1)
    hnsw.hnsw.efSearch = store.HNSW_EF_SEARCH
    assert recall_at_10(hnsw, vectors, queries) >= 0.98


def test_float16_on_disk_keeps_exact_search_results() -> None:
    vectors = clustered(2000)
    queries = vectors[::20]
    half = store.vector_index(vectors, ann_threshold=10**9)
    searchable, widened = store._searchable(half)
    assert widened.dtype == np.float32
    assert np.abs(widened - vectors).max() < 1e-3  # float16 keeps ~3 significant digits
    assert recall_at_10(searchable, vectors, queries) >= 0.99


@pytest.mark.parametrize("threshold", [10**6, 5])
def test_build_and_reload_give_the_same_index(tmp_seeds, tmp_index, threshold: int) -> None:
    settings = Settings(seeds=tmp_seeds, index=tmp_index, ann_threshold=threshold)
    a = Assistant(settings=settings, embedder=HashingEmbedder())
    a.build()
    built = a.snapshot()
    loaded = store.load(tmp_index)
    assert hasattr(loaded.faiss_index, "hnsw") == (len(loaded.passages) >= threshold)
    assert np.array_equal(built.vectors, loaded.vectors)  # the build returns float16-rounded vectors too
    # the file holds 2 bytes per dimension, not 4
    gen = tmp_index / loaded.generation
    assert (gen / "faiss.index").stat().st_size < loaded.vectors.size * 4 * 0.75 + 4096 * (threshold == 5)
    query = loaded.vectors[0]
    assert dense(built, query, 5) == dense(loaded, query, 5)
    assert dense(loaded, query, 5)[0][0] == 0
    # asking for more candidates than HNSW's beam still returns them all
    assert len(dense(loaded, query, len(loaded.passages))) == len(loaded.passages)


def test_an_index_of_the_previous_format_is_rebuilt(tmp_seeds, tmp_index) -> None:
    a = Assistant(seeds=tmp_seeds, index=tmp_index, embedder=HashingEmbedder())
    a.build()
    manifest = store.read_manifest(tmp_index)
    store.write_manifest(tmp_index, {**manifest, "format": 1})
    b = Assistant(seeds=tmp_seeds, index=tmp_index, embedder=HashingEmbedder())
    assert b.retrieve("When does the bakery open?")
    assert store.read_manifest(tmp_index)["format"] == store.FORMAT_VERSION


def test_a_loaded_hnsw_index_stays_valid_after_its_file_object_is_gone(tmp_seeds, tmp_index) -> None:
    """Regression: the HNSW index returned by store.load was a second proxy of a C++ object owned by a
    temporary, freed on return; at 10^5 passages every load then said "inconsistent" and rebuilt."""
    import gc

    import faiss

    settings = Settings(seeds=tmp_seeds, index=tmp_index, ann_threshold=1)  # HNSW at any size
    Assistant(settings=settings, embedder=HashingEmbedder()).build()
    snapshot = store.load(tmp_index)
    gc.collect()
    for _ in range(20):  # new objects that reuse freed memory, if the index's was freed
        other = faiss.IndexHNSWSQ(snapshot.vectors.shape[1], faiss.ScalarQuantizer.QT_fp16, 8)
        del other
    index = snapshot.faiss_index
    assert hasattr(index, "hnsw")
    # something the snapshot holds owns the C++ index (small freed blocks are rarely reused in a test,
    # so the invariant is checked directly; at 10^5 the freed memory went back to the system at once)
    assert any(proxy.this.own() for proxy in [index, *getattr(index, "referenced_objects", [])])
    assert index.ntotal == len(snapshot.passages)
    _, rows = index.search(snapshot.vectors[:3], 1)
    assert all(row >= 0 for row in rows[:, 0])
