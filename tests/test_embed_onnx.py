"""The faster embedding paths: ONNX exported locally from the packaged model, same vectors as torch (fp32),
close ones (int8, bfloat16 batches), each its own fingerprint, and nothing exported twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.embed import OnnxEmbedder, SentenceTransformerEmbedder, packaged_model_path

TEXTS = [
    "The bakery opens at six o'clock every morning except Sunday.",
    "Sleeper cabins have three beds; couchettes have six.",
    "Solar panels on the roof of the town hall produce 40 kilowatts on a sunny day, "
    "and the council installed them in 2021 after a vote of 7 to 2.",
    "x",
]


@pytest.mark.slow
def test_onnx_backends_match_the_torch_model(tmp_path: Path) -> None:
    path = packaged_model_path()
    reference = SentenceTransformerEmbedder(path).encode(TEXTS)
    fp32 = OnnxEmbedder(path, cache=tmp_path)
    int8 = OnnxEmbedder(path, quantize=True, cache=tmp_path)
    v32, v8 = fp32.encode(TEXTS), int8.encode(TEXTS)
    assert v32.shape == v8.shape == reference.shape and v32.dtype == np.float32
    assert np.min(np.sum(v32 * reference, axis=1)) > 0.9999
    assert np.min(np.sum(v8 * reference, axis=1)) > 0.95
    assert np.allclose(np.linalg.norm(v8, axis=1), 1.0, atol=1e-5)
    assert fp32.encode(TEXTS[::-1])[::-1] == pytest.approx(v32, abs=1e-5)  # order (length sorting) is invisible
    assert len({fp32.name, int8.name, SentenceTransformerEmbedder(path).name}) == 3  # three fingerprints
    assert fp32.count_tokens(TEXTS[0]) == SentenceTransformerEmbedder(path).count_tokens(TEXTS[0])
    files = sorted(p.name for p in fp32.model_dir.iterdir())
    assert files == ["model-int8.onnx", "model.onnx"]  # no temporary files left behind
    mtime = (fp32.model_dir / "model.onnx").stat().st_mtime_ns
    OnnxEmbedder(path, cache=tmp_path).encode(["again"])
    assert (fp32.model_dir / "model.onnx").stat().st_mtime_ns == mtime  # exported once, then reused
    assert fp32.encode([]).shape == (0, fp32.dim)


@pytest.mark.slow
def test_bf16_batches_stay_close_to_float32_and_have_their_own_fingerprint() -> None:
    path = packaged_model_path()
    fp32 = SentenceTransformerEmbedder(path)
    bf16 = SentenceTransformerEmbedder(path, bf16=True)
    texts = TEXTS * 2  # enough texts for the bfloat16 path (BF16_MIN_TEXTS)
    reference, fast = fp32.encode(texts), bf16.encode(texts)
    assert fast.dtype == np.float32 and np.allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(fast * reference, axis=1)) > 0.999
    assert bf16.encode(TEXTS[:1]) == pytest.approx(reference[:1], abs=1e-5)  # one text: float32 as is
    assert bf16.name != fp32.name and bf16.name.endswith(":bf16")
