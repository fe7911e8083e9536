"""The command line: parse arguments, call the same API Python users call, print.

    assistant index                  bring index/ up to date with seeds/
    assistant search "question"      the best passages, with document offsets
    assistant ask "question"         an answer with [n] citations and a numbered source list
    assistant chat                   an interactive loop that keeps the conversation's history
    assistant serve [--host --port]  the web chat, on http://127.0.0.1:7860 by default
    assistant eval                   retrieval and answer metrics on eval/seed.jsonl

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

    ask = sub.add_parser("ask", help="answer a question with citations")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print JSON")
    ask.add_argument("--generator", type=Path, default=None, help="a local causal LM folder (optional)")

    chat = sub.add_parser("chat", help="interactive questions with follow-ups")
    chat.add_argument("--generator", type=Path, default=None, help="a local causal LM folder (optional)")

    serve = sub.add_parser("serve", help="the web chat (default http://127.0.0.1:7860)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    serve.add_argument("--port", type=int, default=7860)
    serve.add_argument("--password", default=None, help="require a password (default: $ASSISTANT_PASSWORD)")

    ev = sub.add_parser("eval", help="retrieval and answer metrics on a question set")
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

    return Assistant(seeds=args.seeds, index=args.index, auto_refresh=False if args.no_refresh else None,
                     generator=getattr(args, "generator", None))


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

        launch(args.host, args.port, password=args.password, assistant=a)
        return 0
    if args.command == "eval":
        from . import evaluate

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
              f"{answers['dialogues_right']:.1%} ({c['dialogues']})  ask p50 {answers['ask_p50_ms']:.0f} ms")
        for wrong in answers["wrong"]:
            print(f"  {wrong['id']}: {wrong['question']}\n      -> {wrong['text'][:160]}")
        return 0
    raise AssertionError(args.command)


def format_answer(answer) -> str:
    """The answer, then its numbered sources (doc, start-end, quoted span), or the closest matches."""
    lines = [answer.text]
    if answer.query:
        lines.append(f"(searched for: {answer.query})")
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
