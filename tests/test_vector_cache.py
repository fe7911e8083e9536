"""The question-time vector cache: bounded, and never loses a vector it is about to return."""

from __future__ import annotations

import numpy as np

from assistant.embed import HashingEmbedder
from assistant.search import VectorCache


def test_a_full_cache_returns_every_vector_asked_for():
    """Once full, one call that needs old and new texts must not evict an old one before reading it
    (a long-running server hit a KeyError here after 20,000 distinct sentences)."""
    embedder = HashingEmbedder()
    cache = VectorCache(embedder, size=3)
    cache.encode(["a", "b", "c"])
    got = cache.encode(["a", "d", "e", "f"])
    assert np.allclose(got, embedder.encode(["a", "d", "e", "f"]))
    assert len(cache._items) == 3


def test_known_texts_are_not_embedded_again():
    embedder = HashingEmbedder()
    cache = VectorCache(embedder)
    cache.encode(["one", "two"])
    before = embedder.texts_encoded
    cache.encode(["two", "one", "two"])
    assert embedder.texts_encoded == before
