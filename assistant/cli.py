"""The command line: parse arguments, call the same API Python users call, print.

    assistant index [--ray [ADDR]]   bring index/ up to date with seeds/ (optionally embedding on Ray)
    assistant search "question"      the best passages, with document offsets
    assistant ask "question"         an answer with [n] citations and a numbered source list
    assistant chat                   an interactive loop that keeps the conversation's history
    assistant serve [--host --port]  the web chat, on http://127.0.0.1:7860 by default
    assistant eval [--set NAME]      metrics on the question sets of eval/sets.json, per set and split
    assistant eval questions.jsonl   metrics on one question set over --seeds

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

    index = sub.add_parser("index", help="build or update the index incrementally")
    index.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                       help="embed on a Ray cluster at ADDRESS (e.g. ray://head:10001), or a Ray started "
                            "here when no ADDRESS is given (default: $ASSISTANT_RAY, else no Ray)")

    search = sub.add_parser("search", help="retrieve the best passages for a question")
    search.add_argument("question")
    search.add_argument("-k", type=int, default=5, help="how many passages (default 5)")
    search.add_argument("--json", action="store_true", help="print JSON")

    ask = sub.add_parser("ask", help="answer a question with citations")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print JSON")
    ask.add_argument("--generator", default=None,
                     help="a local causal LM folder or an OpenAI-compatible base URL (default: $ASSISTANT_GENERATOR)")

    chat = sub.add_parser("chat", help="interactive questions with follow-ups")
    chat.add_argument("--generator", default=None,
                      help="a local causal LM folder or an OpenAI-compatible base URL (default: $ASSISTANT_GENERATOR)")

    serve = sub.add_parser("serve", help="the web chat (default http://127.0.0.1:7860)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--password", default=None, help="require a password (default: $ASSISTANT_PASSWORD)")
    serve.add_argument("--no-auth", action="store_true", help="allow a non-loopback --host without a password")

    ev = sub.add_parser("eval", help="retrieval and answer metrics on the registered question sets")
    ev.add_argument("questions", nargs="?", type=Path, default=None,
                    help="one .jsonl question set over --seeds (default: the sets of eval/sets.json)")
    ev.add_argument("--set", action="append", dest="sets", metavar="NAME", help="only this set (repeatable)")
    ev.add_argument("--split", choices=["dev", "test"], default=None, help="only this split")
    ev.add_argument("--rankers", action="store_true", help="also retrieval by dense alone and by BM25 alone")
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

    return Assistant(seeds=args.seeds, index=args.index, auto_refresh=False if args.no_refresh else None,
                     generator=getattr(args, "generator", None), ray=getattr(args, "ray", None))


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
    if args.command == "ask":
        answer = a.ask(args.question)
        if args.json:
            print(json.dumps(_answer_json(answer), ensure_ascii=False, indent=1))
        else:
            print(format_answer(answer))
        return 0
    if args.command == "chat":
        return _chat(a)
    if args.command == "serve":
        from .web import launch

        launch(args.host, args.port, password=args.password, assistant=a, no_auth=args.no_auth)
        return 0
    if args.command == "eval" and args.questions is None:
        return _eval_sets(a, args)
    if args.command == "eval":
        from . import evaluate

        if args.sets or args.split or args.rankers:
            raise AssistantError("--set, --split and --rankers apply to the registered sets, not to a file.")
        records = evaluate.load_questions(args.questions)
        figures = evaluate.evaluate_retrieval(a, records, k=args.k).as_dict()
        answers = evaluate.answer_figures(evaluate.evaluate_answers(a, records))
        if args.json:
            print(json.dumps({"retrieval": figures, "answers": answers}, ensure_ascii=False, indent=1))
            return 0
        print(f"retrieval on {figures['questions']} questions: hit@1 {figures['hit@1']:.1%}  "
              f"hit@{args.k} {figures[f'hit@{args.k}']:.1%}  MRR {figures['mrr']:.3f}")
        for miss in figures["missed"]:
            print(f"  {miss['id']}: rank {miss['rank'] or '>' + str(args.k)}  {miss['question']}")
        c = answers["counts"]
        print(f"answers: accuracy {answers['answer_accuracy']:.1%} ({c['answerable']} questions)  "
              f"citations on evidence {answers['citation_support']:.1%}  offsets exact {answers['offsets_exact']}  "
              f"unanswerable abstained {answers['abstained_unanswerable']:.1%} ({c['unanswerable']})  "
              f"false abstentions {answers['false_abstentions']:.1%}  dialogues right "
              f"{answers['dialogues_right']:.1%} ({c['dialogues']})  heading-only {answers['heading_only']}  "
              f"ask p50 {answers['ask_p50_ms']:.0f} ms")
        for wrong in answers["wrong"]:
            print(f"  {wrong['id']}: {wrong['question']}\n      -> {wrong['text'][:160]}")
        return 0
    raise AssertionError(args.command)


def _eval_sets(a, args: argparse.Namespace) -> int:
    """Evaluate the registered sets (all defaults, or --set NAME ...) and print one table (or JSON)."""
    from . import evaluate

    registry = evaluate.load_registry()
    known = {s.name: s for s in registry}
    unknown = [n for n in args.sets or [] if n not in known]
    if unknown:
        raise AssistantError(f"No question set named {', '.join(unknown)}: the sets are {', '.join(known)}.")
    chosen = [known[n] for n in dict.fromkeys(args.sets)] if args.sets else [s for s in registry if s.default]
    rows, skipped = [], []
    for qs in chosen:
        if qs.split in ("dev", "test") and args.split not in (None, qs.split):
            continue
        why = evaluate.unavailable(qs)
        if why:
            skipped.append({"set": qs.name, "why": why})
            continue
        sub = evaluate.set_assistant(qs, a)
        if sub is not a and not qs.asked_per_file:  # per file: each file's documents are built apart
            sub.build(progress=_progress_bar())
        rows += evaluate.evaluate_set(sub, qs, k=args.k, split=args.split, rankers=args.rankers)
    if args.json:
        print(json.dumps({"sets": rows, "skipped": skipped}, ensure_ascii=False, indent=1))
        return 0
    print(format_eval_table(rows, args.k))
    for row in rows:
        by_type = row["answers"]["by_type"]
        if by_type:
            print(f"{row['set']} ({row['split']}) right by type: "
                  + ", ".join(f"{t} {v['right']:.0%} of {v['questions']}" for t, v in by_type.items()))
        for problem in row["problems"][:5]:
            print(f"{row['set']}: skipped a record: {problem}")
        if row["missing"]:
            print(f"{row['set']}: no file yet for {', '.join(row['missing'])}")
    for skip in skipped:
        print(f"{skip['set']}: not evaluated: {skip['why']}")
    return 0


def format_eval_table(rows: list[dict], k: int = 5) -> str:
    """One line per set and split. Retrieval: hit@1/hit@k of the evidence, or "doc" recall@1/@k of the
    gold document; percentages, with the number of questions after a slash."""
    def pct(value: float, n: int) -> str:
        return f"{value:.0%}/{n}" if n else "-"

    header = ("set", "split", "written by", "chose", f"hit@1/@{k}", "answers", "cited", "abstain",
              "false-abst", "dialogues", "heading", "p50 ms")
    lines = [header]
    for row in rows:
        r, ans = row["retrieval"], row["answers"]
        c = ans["counts"]
        retrieval = (("doc " if r["finds"] == "document" else "") + f"{r['hit@1']:.0%}/{r[f'hit@{k}']:.0%}"
                     if r["questions"] else "-")
        lines.append((row["set"], row["split"], row["written_by"][:26], "yes" if row["used_for_choosing"] else "no",
                      retrieval, pct(ans["answer_accuracy"], c["answerable"]),
                      f"{ans['citation_support']:.0%}" if c["answerable"] or c["dialogues"] else "-",
                      pct(ans["abstained_unanswerable"], c["unanswerable"]),
                      pct(ans["false_abstentions"], c["answerable"]),
                      f"{c['dialogues_right']}/{c['dialogues']}" if c["dialogues"] else "-",
                      str(ans["heading_only"]), f"{ans['ask_p50_ms']:.0f}"))
        for ranker, figures in row.get("rankers", {}).items():
            lines.append(("", "", f"  {ranker} alone", "", f"{figures['hit@1']:.0%}/{figures[f'hit@{k}']:.0%}",
                          *[""] * 7))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)


def format_answer(answer) -> str:
    """The answer, then its numbered sources (doc, start-end, quoted span), or the closest matches."""
    lines = [answer.text]
    if answer.query:
        lines.append(f"(searched for: {answer.query})")
    if answer.answerer != "extractive" or "instead" in answer.note:  # a generator, or its fallback
        lines.append(f"(answered by {answer.answerer}{'; ' + answer.note if answer.note else ''})")
    elif answer.answered and answer.note:  # an answer the answerer is unsure of (answer.UNSURE)
        lines.append(f"({answer.note})")
    if answer.citations:
        lines.append("")
        lines.append("Sources:")
        for n, c in enumerate(answer.citations, start=1):
            lines.append(f"  [{n}] {c.doc}  {c.start}-{c.end}  “{c.text}”")
    elif answer.closest:
        lines.append("")
        lines.append("Closest matches (not an answer):")
        for c in answer.closest:
            flat = " ".join(c.text.split())
            snippet = flat if len(flat) <= 200 else flat[:200] + "…"
            lines.append(f"  - {c.doc}  {c.start}-{c.end}  {snippet}")
    return "\n".join(lines)


def _chat(a) -> int:
    """Read questions from stdin until EOF or 'quit'; follow-ups use the history kept here."""
    from .errors import AssistantError

    history: list[dict] = []
    interactive = sys.stdin.isatty()
    if interactive:
        print("Ask about your documents (Ctrl-D or 'quit' to leave).")
    while True:
        try:
            question = input("> " if interactive else "")
        except EOFError:
            break
        if question.strip().lower() in ("quit", "exit"):
            break
        if not question.strip():
            continue
        try:
            answer = a.ask(question, history)
        except AssistantError as exc:
            print(f"error: {exc}")
            continue
        print(format_answer(answer))
        print()
        history += [{"role": "user", "content": question},
                    {"role": "assistant", "content": answer.text, "query": answer.query}]
    return 0


def _answer_json(answer) -> dict:
    return {"text": answer.text, "answered": answer.answered, "query": answer.query,
            "answerer": answer.answerer, "note": answer.note,
            "citations": [_hit_json(c) for c in answer.citations],
            "closest": [_hit_json(c) for c in answer.closest]}


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
