"""The shipped reader (assistant/reader/): loads on the packaged base model and ranks the sentence that
answers a question above unrelated ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import ModelError
from assistant.reader import FOLDER, Reader, shared_reader

QUESTION = "When was the Quillon Observatory founded?"
SENTENCES = [
    "The observatory has a 40 cm telescope.",
    "The Quillon Observatory was founded in 1881 by the astronomer Mara Ellison.",
    "Tickets cost £5.",
]


def test_files_are_shipped() -> None:
    meta = json.loads((FOLDER / "reader.json").read_text(encoding="utf-8"))
    assert {"base_sha256", "layers", "pooling", "max_length", "heldout"} <= set(meta)
    # only the trained top layers and the head ship (4 of 6 layers in float16: ~14 MB), never the whole model
    assert len(meta["layers"]) < 6
    assert (FOLDER / "reader.safetensors").stat().st_size < 16_000_000


@pytest.mark.slow
def test_ranks_the_answer_first_and_is_deterministic() -> None:
    reader = shared_reader()
    assert reader is not None
    scores = reader.score(QUESTION, SENTENCES)
    assert scores.dtype == np.float32 and scores.shape == (3,)
    assert int(np.argmax(scores)) == 1
    assert np.array_equal(scores, reader.score(QUESTION, SENTENCES))
    # the order of the candidates (and so the batching) does not change a sentence's score
    again = reader.score(QUESTION, SENTENCES[::-1])[::-1]
    assert np.allclose(scores, again, atol=1e-4)


@pytest.mark.slow
def test_empty_input() -> None:
    reader = shared_reader()
    assert reader is not None
    out = reader.score(QUESTION, [])
    assert out.shape == (0,) and out.dtype == np.float32


def test_missing_or_mismatched_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        Reader(folder=tmp_path)
    shutil.copy(FOLDER / "reader.safetensors", tmp_path)
    meta = json.loads((FOLDER / "reader.json").read_text(encoding="utf-8"))
    meta["base_sha256"] = "0" * 64
    (tmp_path / "reader.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError):
        Reader(folder=tmp_path)


@pytest.mark.slow
def test_bfloat16_only_where_the_cpu_has_it(monkeypatch) -> None:
    """Emulated bfloat16 made each question's reading 7-17x slower on an AVX2-only CPU: it is used only
    where the CPU multiplies bfloat16 in hardware, unless asked for; both read alike."""
    import assistant.reader as reader_module

    monkeypatch.setattr(reader_module, "native_bf16", lambda: False)
    plain = Reader()
    monkeypatch.setattr(reader_module, "native_bf16", lambda: True)
    assert not plain.bf16 and Reader().bf16 and not Reader(bf16=False).bf16
    fast = Reader(bf16=True)
    assert np.allclose(plain.score(QUESTION, SENTENCES), fast.score(QUESTION, SENTENCES), atol=0.1)
