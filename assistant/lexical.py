"""Words as search terms: tokenising, stemming, and the BM25 index (bm25s) over passages."""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

_WORD = re.compile(r"[^\W_]+(?:[.\-][^\W_]+)*")
_NO_TERM = " "  # never produced by terms(): it holds white space

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your
    yours yourself yourselves s t d ll m re ve also says said""".split()
)


def _bm25s():
    """bm25s, imported on first use. It sets its own logger to DEBUG when imported, which made every
    `assistant index` print "DEBUG: Building index from tokens"; keep it to warnings."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased words, accents folded, in order ("U.S." stays one word: "u.s")."""
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _WORD.findall(folded.replace("’", "'").replace("'", " "))


def terms(text: str) -> list[str]:
    """Search terms: words without stopwords, stemmed."""
    kept = [w for w in words(text) if w not in STOPWORDS]
    return _stemmer().stemWords(kept) if kept else []


def related(a: str, b: str) -> bool:
    """Whether two lower-cased words name the same place or people by a long shared beginning:
    'ukraine' ~ 'ukrainian', 'russia' ~ 'russians', 'belgium' ~ 'belgian', 'china' ~ 'chinese'."""
    if a == b:
        return True
    shared = len(os.path.commonprefix([a, b]))
    return shared >= 5 or (shared >= 4 and min(len(a), len(b)) <= 5)


@dataclass(frozen=True)
class Vocabulary:
    """The words of a text (a passage, a whole document), for asking quickly whether it names a word
    (`names`, the test `related` makes, without comparing with every word) or holds a search term."""

    found: frozenset[str]  # words, and words without their dots ("u.s" -> "us")
    plural_free: frozenset[str]  # the same without a final "s"
    prefixes: frozenset[str]  # the first 5 letters of each word of 5 or more letters
    short_prefixes: frozenset[str]  # the first 4 letters of each word of 4 or 5 letters
    all_prefixes: frozenset[str]  # the first 4 letters of each word of 4 or more letters

    @classmethod
    def of(cls, texts: Iterable[str]) -> Vocabulary:
        found: set[str] = set()
        for text in texts:
            found.update(words(text))
        found |= {w.replace(".", "") for w in found}
        return cls(frozenset(found), frozenset(w.rstrip("s") for w in found),
                   frozenset(w[:5] for w in found if len(w) >= 5), frozenset(w[:4] for w in found if 4 <= len(w) <= 5),
                   frozenset(w[:4] for w in found if len(w) >= 4))

    @cached_property
    def terms(self) -> frozenset[str]:
        """The search terms here: stemmed, without stopwords (as `terms` makes them)."""
        kept = sorted(w for w in self.found if w not in STOPWORDS)
        return frozenset(_stemmer().stemWords(kept)) if kept else frozenset()

    def names(self, word: str) -> bool:
        """The word, its singular, or a word `related` to it occurs here."""
        if word in self.found or word.rstrip("s") in self.plural_free:
            return True
        if len(word) >= 5 and word[:5] in self.prefixes:  # a shared beginning of 5 letters
            return True
        if len(word) < 4:
            return False
        # 4 shared letters when one of the two words has at most 5
        return word[:4] in (self.all_prefixes if len(word) <= 5 else self.short_prefixes)


class TermWeights:
    """How rare each stemmed term is among the passages (BM25's IDF), for weighing term overlap."""

    def __init__(self, df: dict[str, int], n: int) -> None:
        n = max(n, 1)
        self._idf = {term: float(np.log(1 + (n - d + 0.5) / (d + 0.5))) for term, d in df.items()}
        self._unseen_idf = float(np.log(1 + (n + 0.5) / 0.5))

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term (a term no passage has gets the maximum)."""
        return self._idf.get(term, self._unseen_idf)

    def overlap(self, query_terms: list[str], text: str) -> float:
        """The IDF-weighted share of the query's terms that occur in `text` (0..1)."""
        wanted = set(query_terms)
        if not wanted:
            return 0.0
        present = wanted.intersection(terms(text))
        return sum(self.idf(t) for t in present) / sum(self.idf(t) for t in wanted)


class Lexicon(TermWeights):
    """BM25 over passage texts. Saved with bm25s' own JSON + NumPy files (no pickle)."""

    def __init__(self, retriever) -> None:
        self._retriever = retriever
        indptr = np.asarray(retriever.scores["indptr"])
        df = np.diff(indptr)  # the score matrix is column-compressed by term: passages per term
        n = max(int(retriever.scores.get("num_docs", 1)), 1)
        super().__init__({term: int(df[i]) for term, i in retriever.vocab_dict.items() if i < len(df)}, n)

    @classmethod
    def build(cls, texts: list[str]) -> Lexicon:
        bm25s = _bm25s()
        retriever = bm25s.BM25()
        tokenized = [terms(t) for t in texts]
        if not any(tokenized):
            # bm25s cannot index an empty vocabulary (documents of stopwords or punctuation only);
            # a term no query can produce keeps the index valid and matches nothing.
            tokenized = [[_NO_TERM] for _ in texts]
        retriever.index(tokenized, show_progress=False)
        return cls(retriever)

    def save(self, folder: Path) -> None:
        self._retriever.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder: Path) -> Lexicon:
        bm25s = _bm25s()
        return cls(bm25s.BM25.load(str(folder), allow_pickle=False, show_progress=False, verbosity=0))

    def top(self, query: str, n: int) -> list[tuple[int, float]]:
        """The n best passages for the query as (row, score), best first; only rows that match a term."""
        vocab = self._retriever.vocab_dict
        ids = [vocab[t] for t in terms(query) if t in vocab]
        if not ids:
            return []
        scores = self._retriever.get_scores_from_ids(ids)
        n = min(n, len(scores))
        rows = np.argpartition(-scores, n - 1)[:n]
        rows = rows[np.argsort(-scores[rows], kind="stable")]
        return [(int(r), float(scores[r])) for r in rows if scores[r] > 0]
