"""How much abstention a reader's answerability score can buy at issue 10's bar, and what the target needs.

    .venv/bin/python -m eval.abstention                                  # the shipped reader
    .venv/bin/python -m eval.abstention --reader .eval-cache/reader-full/top4 --reader assistant/reader

From the candidates the last answer fit saved (eval/fit_answer.py, dev records only), each reader given
re-reads them as answering does (fit_answer.reread, about 7 min per reader on 2 cores). The choice of
sentence stays the shipped weights'; the answerability direction is a logistic model fitted on these same
records (fit_answer.fit_answerability), so the figures are in-sample: a ceiling, not a forecast. Printed
per dev set and pooled:

- AUC of the best reading among a question's candidates, answerable questions with a right candidate
  against unanswerable ones (how well the reader alone tells them apart);
- the share of unanswerable questions abstained at the best cut whose false abstentions (answerable
  questions not answered) are at most 5% pooled, and at most 5% on every set (the fit's bar);
- the AUC an equal-variance binormal score needs for the target (85% abstained at 5% false
  abstentions), to set beside the first figure.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist

import numpy as np

from eval import fit_answer as fa
from eval.train_reader import auc

answerer = fa.answerer
BAR = fa.MAX_FALSE_ABSTENTIONS


def needed_auc(abstained: float, false_abstentions: float) -> float:
    """The AUC of an equal-variance binormal score that abstains on `abstained` of the unanswerable
    questions while abstaining on only `false_abstentions` of the answerable ones."""
    z = NormalDist().inv_cdf
    return NormalDist().cdf((z(abstained) + z(1 - false_abstentions)) / 2 ** 0.5)


@dataclass(frozen=True)
class Question:
    set: str
    answerable: bool
    sureness: float  # -inf: the answerer abstains whatever the cut (nothing chosen)

    def abstains(self, cut: float) -> bool:
        return self.sureness == -np.inf or self.sureness < cut


def at_cut(questions: list[Question], cut: float) -> dict[str, tuple[float, float]]:
    """{set or "all": (unanswerable abstained, answerable abstained)} when abstaining below `cut`."""
    out = {}
    for name in sorted({q.set for q in questions}) + ["all"]:
        mine = [q for q in questions if name in ("all", q.set)]
        una = [q.abstains(cut) for q in mine if not q.answerable]
        ans = [q.abstains(cut) for q in mine if q.answerable]
        out[name] = (float(np.mean(una)) if una else 0.0, float(np.mean(ans)) if ans else 0.0)
    return out


def best_cut(questions: list[Question], every_set: bool, bar: float = BAR) -> tuple[float, dict]:
    """The cut abstaining on the most unanswerable questions (pooled) with false abstentions at most
    `bar` pooled, or on every set too when `every_set`."""
    finite = sorted({q.sureness for q in questions if np.isfinite(q.sureness)})
    best = (-np.inf, at_cut(questions, -np.inf))
    for cut in finite:
        f = at_cut(questions, cut)
        worst = max(v[1] for k, v in f.items() if k != "all") if every_set else f["all"][1]
        if worst <= bar + 1e-12 and f["all"][0] > best[1]["all"][0]:
            best = (cut, f)
    return best


def sureness(examples: list[fa.Example]) -> list[Question]:
    """Each question's answerability score under the shipped choice and a direction fitted on them."""
    m = answerer.model()
    w = np.array([m.weights[f] for f in answerer.FEATURES])
    a = fa.fit_answerability(examples, w, m.value_margin, m.value_required)
    vector = np.array([a[n] for n in answerer.ANSWERABILITY])
    out = []
    for e in examples:
        order = fa.choose(e, w, m.value_margin, m.value_required)
        out.append(Question(e.set, e.kind == "answerable",
                            float(vector @ fa.facts(e, w, order)) if order else -np.inf))
    return out


def report(name: str, examples: list[fa.Example]) -> None:
    reader = answerer.FEATURES.index("reader")
    sets = sorted({e.set for e in examples})
    print(f"\n## {name}\n")
    print("| set | AUC of the best reading | abstained at <=5% false pooled (false) | at <=5% on every set (false) |")
    print("| --- | --- | --- | --- |")
    qs = sureness(examples)
    pooled, every = best_cut(qs, every_set=False)[1], best_cut(qs, every_set=True)[1]
    for s in sets + ["all"]:
        mine = [e for e in examples if s in ("all", e.set) and len(e.features)]
        a = auc([e.features[:, reader].max() for e in mine if e.kind == "answerable" and e.right.any()],
                [e.features[:, reader].max() for e in mine if e.kind == "unanswerable"])
        print(f"| {s} | {'–' if a is None else f'{a:.3f}'} | {pooled[s][0]:.1%} ({pooled[s][1]:.1%}) | {every[s][0]:.1%} ({every[s][1]:.1%}) |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reader", type=Path, action="append", help="a reader folder (repeatable); default the shipped one")
    args = p.parse_args(argv)
    from assistant.reader import Reader

    saved = fa.load_saved()
    print(f"{len(saved)} dev questions' saved candidates; the target (85% abstained at 5% false abstentions) "
          f"needs an AUC of {needed_auc(0.85, 0.05):.3f} (equal-variance binormal)")
    for folder in args.reader or [Path(answerer.__file__).with_name("reader")]:
        t0 = time.time()
        examples = fa.reread(saved, Reader(folder))
        print(f"  re-read with {folder} in {time.time() - t0:.0f} s", file=sys.stderr)
        report(str(folder), examples)


if __name__ == "__main__":
    main()
