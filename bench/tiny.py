"""Tiny, randomly initialised models built on the spot (nothing downloaded): a sentence-transformers
embedder and a CrossEncoder reranker, each a one-layer BERT over the packaged model's tokenizer. The
tests (tests/test_models.py) and the reranker's measurement (bench/rerank.py) use them: they exercise
the real loading and scoring code; their rankings carry no knowledge."""

from __future__ import annotations

from pathlib import Path

from assistant.embed import packaged_model_path


def _bert_config(seed: int, hidden: int, max_positions: int, **extra):
    import torch
    from transformers import AutoTokenizer, BertConfig

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(packaged_model_path()), local_files_only=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=2 * hidden, max_position_embeddings=max_positions,
                        **extra)
    return tokenizer, config


def build_sentence_transformer(folder: Path, seed: int = 0, hidden: int = 32, dim: int = 24,
                               max_seq_length: int = 128) -> Path:
    """A sentence-transformers model: BERT, mean pooling, and a Dense layer to `dim` (so its vector size
    differs from the transformer's hidden size, as in some real models)."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertModel

    tokenizer, config = _bert_config(seed, hidden, max_seq_length + 2)
    bert = Path(folder).with_name(Path(folder).name + "-bert")
    BertModel(config).save_pretrained(bert)
    tokenizer.save_pretrained(bert)
    transformer = models.Transformer(str(bert), max_seq_length=max_seq_length)
    modules = [transformer, models.Pooling(hidden, "mean"), models.Dense(hidden, dim), models.Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    return Path(folder)


def build_cross_encoder(folder: Path, seed: int = 0, hidden: int = 32) -> Path:
    """A CrossEncoder folder: BERT with a one-logit classification head."""
    from transformers import BertForSequenceClassification

    tokenizer, config = _bert_config(seed, hidden, 514, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)


def build_minilm_cross_encoder(folder: Path, seed: int = 0) -> Path:
    """A CrossEncoder of the shape of cross-encoder/ms-marco-MiniLM-L6-v2 (6 layers, 384 wide): the
    packaged all-MiniLM-L6-v2 encoder with an untrained one-logit head. Its cost per question is that
    of the real reranker; its ranking is not."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(seed)
    base = str(packaged_model_path())
    BertForSequenceClassification.from_pretrained(base, num_labels=1, local_files_only=True).save_pretrained(folder)
    AutoTokenizer.from_pretrained(base, local_files_only=True).save_pretrained(folder)
    return Path(folder)
