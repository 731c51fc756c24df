"""``verbatim feedback``: review, export, purge and delete people's feedback on answers.

``review`` shows pending records one at a time in the terminal and asks accept / reject / skip /
quit; accepting writes the training pair or candidate eval question the record gives
(``verbatim/feedback_loop.py``). ``export`` writes records as JSON lines to standard output.
``purge`` and ``delete`` remove records (``delete`` also removes the lines derived from it).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from datetime import date
from pathlib import Path
from typing import TextIO

from verbatim import feedback_loop
from verbatim.feedback_store import FeedbackRecord, FeedbackStore, FeedbackStoreError, Span, open_store
from verbatim.settings import Settings

REASON_WORDS = {
    "wrong_passage": "wrong passage",
    "should_abstain": "should have said it is not in the sources",
    "should_answer": "should have answered",
    "missing_safety_notice": "missing safety notice",
    "other": "other",
}
PROMPT = "[a]ccept  [r]eject  [s]kip  [q]uit > "


def add_feedback_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``feedback`` subcommand's actions and options."""
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", type=Path, help="data folder (default: $VERBATIM_DATA or data/)")
    actions = parser.add_subparsers(dest="feedback_action", required=True)
    review = actions.add_parser("review", parents=[data], help="accept or reject pending records, one at a time")
    review.add_argument("--limit", type=int, help="stop after this many records")
    export = actions.add_parser("export", parents=[data], help="write records as JSON lines to standard output")
    export.add_argument("--since", type=date.fromisoformat, metavar="YYYY-MM-DD", help="only records stored on or after this day (UTC)")
    export.add_argument("--status", choices=["pending", "accepted", "rejected"], help="only records of this status")
    purge = actions.add_parser("purge", parents=[data], help="delete records older than DAYS days")
    purge.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    delete = actions.add_parser("delete", parents=[data], help="delete one record and the pair or eval row made from it")
    delete.add_argument("id", type=int)


def _wrapped(label: str, text: str) -> list[str]:
    return textwrap.wrap(text, width=96, initial_indent=f"  {label:<10}", subsequent_indent=" " * 12) or [f"  {label}"]


def _span_lines(label: str, span: Span | None) -> list[str]:
    if span is None:
        return []
    return _wrapped(label, f"{span.quote!s}  [{span.doc_id} {span.start}:{span.end}]")


def describe(record: FeedbackRecord) -> str:
    """A record as the review shows it."""
    verdict = "Helpful" if record.verdict == "helpful" else "Not helpful"
    if record.reason:
        verdict += f" ({REASON_WORDS.get(record.reason, record.reason)})"
    lines = [f"#{record.id}  {record.created_at}  index {record.index_build or 'unknown'}", *_wrapped("question", record.question)]
    if record.read_as:
        lines += _wrapped("read as", record.read_as)
    lines += _wrapped("verdict", verdict)
    lines += _span_lines("answer", record.answer) or ["  answer    (not in my sources)"]
    lines += _span_lines("answered", record.chosen)
    pair, candidate = feedback_loop.training_pair(record), feedback_loop.eval_candidate(record)
    gives = [name for name, row in (("a training pair", pair), ("a candidate eval question", candidate)) if row]
    lines.append(f"  accepting gives {' and '.join(gives) if gives else 'nothing (kept as accepted)'}")
    return "\n".join(lines)


def review(store: FeedbackStore, data_dir, answers: TextIO, out: TextIO, limit: int | None = None) -> dict[str, int]:
    """Ask accept / reject / skip for each pending record, oldest first.

    Args:
        store: The feedback store.
        data_dir: Where pairs and eval candidates are written.
        answers: Where the maintainer's answers are read from (a terminal, or a script).
        out: Where records and prompts are written.
        limit: Stop after this many records.

    Returns:
        Counts of accepted, rejected and skipped records.
    """
    counts = {"accepted": 0, "rejected": 0, "skipped": 0}
    pending = list(store.records(status="pending"))
    if not pending:
        print("No feedback waiting for review.", file=out)
        return counts
    print(f"{len(pending)} record(s) waiting for review.", file=out)
    for number, record in enumerate(pending[:limit] if limit else pending, start=1):
        print(f"\n[{number}/{len(pending)}] {describe(record)}", file=out)
        while True:
            print(PROMPT, end="", file=out, flush=True)
            line = answers.readline()
            if not line:  # end of input: stop like quit
                print(file=out)
                return counts
            choice = line.strip().lower()[:1]
            if choice == "a":
                decision = feedback_loop.accept(store, record.id, data_dir)
                made = [name for name, row in (("training pair", decision.pair), ("eval candidate", decision.candidate)) if row]
                print(f"  accepted{': wrote ' + ' and '.join(made) if made else ''}", file=out)
                counts["accepted"] += 1
            elif choice == "r":
                feedback_loop.reject(store, record.id)
                print("  rejected", file=out)
                counts["rejected"] += 1
            elif choice == "s":
                counts["skipped"] += 1
            elif choice == "q":
                return counts
            else:
                print("  please answer a, r, s or q", file=out)
                continue
            break
    return counts


def run_feedback_command(args: argparse.Namespace, settings: Settings, out: TextIO | None = None, answers: TextIO | None = None) -> int:
    """Run ``verbatim feedback ACTION``.

    Args:
        args: Parsed arguments.
        settings: Settings (``data_dir``, ``feedback_days``).
        out: Output stream (default standard output).
        answers: Review answers (default standard input).

    Returns:
        The exit status.
    """
    out = out or sys.stdout
    data_dir = settings.data_dir
    try:
        store = open_store(data_dir, settings.feedback_days)
    except FeedbackStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        if args.feedback_action == "export":
            for record in store.records(status=args.status, since=args.since):
                out.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
            return 0
        if args.feedback_action == "purge":
            if args.older_than < 0:
                print("error: --older-than must not be negative", file=sys.stderr)
                return 2
            removed = store.purge_older_than(args.older_than)
            print(f"purged {removed} record(s) older than {args.older_than:g} days from {store.path}", file=out)
            return 0
        if args.feedback_action == "delete":
            existed, derived = feedback_loop.delete_everywhere(store, args.id, data_dir)
            if not existed and not derived:
                print(f"error: no feedback record {args.id}", file=sys.stderr)
                return 1
            print(f"deleted record {args.id}" + (f" and {derived} line(s) made from it" if derived else ""), file=out)
            return 0
        counts = review(store, data_dir, answers or sys.stdin, out, args.limit)
        print(
            f"\n{counts['accepted']} accepted, {counts['rejected']} rejected, {counts['skipped']} skipped; "
            f"{store.count('pending')} still pending. Pairs: {feedback_loop.pairs_path(data_dir)}; "
            f"eval candidates: {feedback_loop.candidates_path(data_dir)}",
            file=out,
        )
        return 0
    except FeedbackStoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
