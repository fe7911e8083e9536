"""The command line: parse arguments, call the same API Python users call, print.

    assistant index                  bring index/ up to date with seeds/
    assistant search "question"      the best passages, with document offsets
    assistant eval                   retrieval metrics on eval/seed.jsonl

Domain errors print one line ("error: ...") and exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from .errors import AssistantError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="assistant", description="Citation-first answers over your documents.")
    parser.add_argument("--seeds", type=Path, default=None, help="documents folder (default: ./seeds)")
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: ./index)")
    parser.add_argument("--no-refresh", action="store_true", help="do not rebuild when seeds/ changed")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("index", help="build or update the index incrementally")

    search = sub.add_parser("search", help="retrieve the best passages for a question")
    search.add_argument("question")
    search.add_argument("-k", type=int, default=5, help="how many passages (default 5)")
    search.add_argument("--json", action="store_true", help="print JSON")

    ev = sub.add_parser("eval", help="retrieval metrics on a question set")
    ev.add_argument("questions", nargs="?", type=Path, default=Path("eval/seed.jsonl"))
    ev.add_argument("-k", type=int, default=5)
    ev.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return _run(args)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _assistant(args: argparse.Namespace):
    from .engine import Assistant

    return Assistant(seeds=args.seeds, index=args.index, auto_refresh=False if args.no_refresh else None)


def _run(args: argparse.Namespace) -> int:
    a = _assistant(args)
    if args.command == "index":
        report = a.build(progress=_progress_bar())
        for path, why in report.skipped:
            print(f"skipped {path}: {why}", file=sys.stderr)
        print(report.summary())
        return 0
    if args.command == "search":
        hits = a.retrieve(args.question, k=args.k)
        if args.json:
            print(json.dumps([_hit_json(h) for h in hits], ensure_ascii=False, indent=1))
        else:
            for h in hits:
                print(f"[{h.rank}] {h.doc}  {h.start}-{h.end}  score {h.score:.3f}")
                print("    " + h.text.replace("\n", "\n    "))
        return 0
    if args.command == "eval":
        from . import evaluate

        report = evaluate.evaluate_retrieval(a, evaluate.load_questions(args.questions), k=args.k)
        figures = report.as_dict()
        if args.json:
            print(json.dumps(figures, ensure_ascii=False, indent=1))
        else:
            print(f"retrieval on {figures['questions']} questions: hit@1 {figures['hit@1']:.1%}  "
                  f"hit@{args.k} {figures[f'hit@{args.k}']:.1%}  MRR {figures['mrr']:.3f}")
            for miss in figures["missed"]:
                print(f"  {miss['id']}: rank {miss['rank'] or '>' + str(args.k)}  {miss['question']}")
        return 0
    raise AssertionError(args.command)


def _hit_json(h) -> dict:
    d = asdict(h)
    d["sentences"] = [[s["start"], s["end"], round(s["score"], 4)] for s in d["sentences"]]
    d["score"] = round(h.score, 4)
    return d


def _progress_bar():
    """A tqdm bar on stderr, shown once there are enough passages to wait for."""
    state = {}

    def update(done: int, total: int) -> None:
        from tqdm import tqdm

        if "bar" not in state:
            state["bar"] = tqdm(total=total, unit="passage", desc="embedding", file=sys.stderr,
                                disable=total < 64, leave=False)
        bar = state["bar"]
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return update


if __name__ == "__main__":
    sys.exit(main())
