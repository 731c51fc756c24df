"""``verbatim ask``: answer one question in the terminal."""

from __future__ import annotations

import argparse
import json
import sys

from qa.confidence import describe_confidence
from qa.pipeline import Answerer
from qa.types import Answer
from verbatim.index_format import IndexError_
from verbatim.settings import Settings
from web.schemas import answer_to_response


def format_answer(answer: Answer) -> str:
    """Readable terminal rendering of an answer."""
    lines = [f"Q: {answer.question}", ""]
    if answer.abstained:
        lines.append("I couldn't find this in my sources.")
        if answer.reason:
            lines.append(f"({answer.reason})")
    else:
        lines.append(f"A: {answer.answer}")
        lines.append("")
        lines.append(f"Confidence: {answer.confidence:.2f} ({describe_confidence(answer.confidence).words})")
        for number, passage in enumerate(answer.passages, start=1):
            label = "Source" if number == 1 else "Also"
            lines.append(f"{label}: {passage.title} — {passage.section} [{passage.doc_id} {passage.start}:{passage.end}]")
    if answer.disclaimer:
        lines.append("")
        lines.append(f"Note ({', '.join(answer.safety_topics)}): {answer.disclaimer}")
    return "\n".join(lines)


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    """Answer one question in the terminal."""
    question = " ".join(args.question).strip()
    if not question or len(question) > 1000:
        print("error: the question must be 1 to 1000 characters", file=sys.stderr)
        return 2
    answerer = Answerer(settings)
    try:
        answerer.warm_up()
    except IndexError_ as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    answer = answerer.run(question, top_k=args.top_k)
    if args.json:
        print(json.dumps(answer_to_response(answer).model_dump(), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer))
    return 0
