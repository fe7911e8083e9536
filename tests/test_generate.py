"""The optional generative answerer, exercised for real with a tiny random model the test builds:
loading from a local folder, the chat template, streaming, and verification that rejects its
nonsense and falls back to the extractive answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import Assistant
from assistant.embed import HashingEmbedder
from assistant.errors import ModelError
from assistant.types import Answer

from .conftest import DOCS


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-lm")
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    corpus = [t.decode() if isinstance(t, bytes) else t for t in DOCS.values()]
    tok.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]", "<eos>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", eos_token="<eos>")
    fast.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                          "{% if add_generation_prompt %}assistant:{% endif %}")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(fast), n_positions=4096, n_embd=32, n_layer=1, n_head=2,
                        eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def _assistant(tmp_seeds, tmp_index, generator) -> Assistant:
    a = Assistant(seeds=tmp_seeds, index=tmp_index, embedder=HashingEmbedder(), generator=generator)
    a._generator.max_new_tokens = 24
    return a


def test_random_model_streams_then_falls_back_to_the_extractive_answer(tmp_seeds, tmp_index, tiny_model):
    a = _assistant(tmp_seeds, tmp_index, tiny_model)
    parts = list(a.ask_stream("When does the bakery open?"))
    final = parts[-1]
    assert isinstance(final, Answer)
    streamed = [p for p in parts[:-1] if isinstance(p, str)]
    assert streamed, "the generator's text must stream"
    assert final.answerer == "extractive"
    assert final.note.startswith(f"nothing the local model in {tiny_model} wrote was supported")
    assert final.answered and "six o’clock" in final.text
    for c in final.citations:
        assert (tmp_seeds / c.doc).read_text(encoding="utf-8")[c.start : c.end] == c.text


def test_prompt_uses_the_chat_template(tmp_seeds, tmp_index, tiny_model):
    a = _assistant(tmp_seeds, tmp_index, tiny_model)
    a._generator._load()
    hits = a.retrieve("bakery opening hours", k=2)
    prompt = a._generator.prompt("When does the bakery open?", hits)
    assert prompt.startswith("system: Answer the question using only the numbered passages")
    assert "[1] " in prompt and prompt.rstrip().endswith("assistant:")


def test_supported_generated_answer_is_kept(tmp_seeds, tmp_index, tiny_model, monkeypatch):
    a = _assistant(tmp_seeds, tmp_index, tiny_model)
    hits = a.retrieve("When does the bakery open?", k=6)
    cited = next(i for i, h in enumerate(hits, start=1) if "six o’clock" in h.text)

    def fake_stream(question, hits, query="", cancel=None):
        yield "The bakery on Rue Lépine opens at six o’clock every morning except Sunday. "
        yield f"[{cited}] The bakery sells spaceships. [{cited}] Extra. [99]"

    monkeypatch.setattr(a._generator, "stream", fake_stream)
    final = a.ask("When does the bakery open?")
    assert final.answerer == f"generative: {tiny_model.name} (local)"
    assert final.note == "2 statements the model wrote were left out: not supported by the passage cited"
    assert final.text == "The bakery on Rue Lépine opens at six o’clock every morning except Sunday. [1]"
    assert len(final.citations) == 1


def test_failing_generator_falls_back(tmp_seeds, tmp_index, tiny_model, monkeypatch):
    a = _assistant(tmp_seeds, tmp_index, tiny_model)

    def broken(question, hits, query="", cancel=None):
        raise ModelError("out of memory")
        yield ""  # pragma: no cover

    monkeypatch.setattr(a._generator, "stream", broken)
    final = a.ask("When does the bakery open?")
    assert final.answerer == "extractive" and final.answered
    assert final.note.startswith("out of memory; the answer below is quoted from the documents instead")


def test_missing_generator_folder_is_a_clear_error(tmp_seeds, tmp_index, tmp_path):
    with pytest.raises(ModelError, match="not a transformers model folder"):
        Assistant(seeds=tmp_seeds, index=tmp_index, embedder=HashingEmbedder(), generator=tmp_path / "none")
