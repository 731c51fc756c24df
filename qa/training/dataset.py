"""The eval question set (``eval/questions.jsonl``) and how gold facts are matched."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

# The question set is eval data (eval/QUESTIONS.md); fitting reads its dev split only.
DEFAULT_QUESTIONS = Path(__file__).resolve().parents[2] / "eval" / "questions.jsonl"
SPLITS = ("dev", "test", "all")

Row = TypeVar("Row")


@dataclass(frozen=True)
class EvalQuestion:
    """One eval row (see eval/QUESTIONS.md for the format).

    Attributes:
        id: Unique id.
        split: ``dev`` (tuning) or ``test`` (reporting only).
        category: fact, paraphrase, typo, casual, multi_source, safety, near_miss, out_of_scope.
        question: The question text.
        gold: Fact substrings; an answer is right when it contains any of them.
        docs: Documents that hold the answer.
        disclaimer: Whether the safety disclaimer is expected.
        abstain: Whether the sources do not answer (an abstention is expected).
        safety_topics: Topics expected to fire (informational).
    """

    id: str
    split: str
    category: str
    question: str
    gold: tuple[str, ...]
    docs: tuple[str, ...]
    disclaimer: bool
    abstain: bool
    safety_topics: tuple[str, ...] = ()


def load_questions(path: Path | None = None, split: str = "all") -> list[EvalQuestion]:
    """Read eval questions.

    Args:
        path: JSONL file; defaults to ``eval/questions.jsonl``.
        split: ``dev``, ``test`` or ``all``.

    Returns:
        The questions of that split, in file order.

    Raises:
        ValueError: On a malformed row (the message names the line).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}")
    rows = jsonl_rows(Path(path or DEFAULT_QUESTIONS), _eval_question, "eval row")
    return [row for _, row in rows if split == "all" or row.split == split]


def _eval_question(raw: dict[str, Any]) -> EvalQuestion:
    return EvalQuestion(
        id=str(raw["id"]),
        split=str(raw.get("split", "test")),
        category=str(raw.get("category", "uncategorised")),
        question=str(raw["question"]),
        gold=tuple(raw.get("gold", [])),
        docs=tuple(raw.get("docs", [])),
        disclaimer=bool(raw.get("disclaimer", False)),
        abstain=bool(raw.get("abstain", False)),
        safety_topics=tuple(raw.get("safety_topics", [])),
    )


def jsonl_rows(path: Path, build: Callable[[Any], Row], what: str) -> Iterator[tuple[int, Row]]:
    """The rows of a JSONL file, each built from its line's JSON value, in file order.

    Args:
        path: The file (blank lines are skipped).
        build: Makes a row of one line's value; may raise ``ValueError``, ``KeyError`` or
            ``TypeError`` on a malformed one.
        what: What a line holds, for the error message ("eval row", "conversation").

    Yields:
        ``(line number from 1, row)``.

    Raises:
        ValueError: On a line that is not JSON or that ``build`` refuses; the message names the
            file, the line and ``what``.
    """
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = build(json.loads(line))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: malformed {what} ({error})") from error
        yield number, row


def normalise(text: str) -> str:
    """Case-, width- and whitespace-insensitive form used to match gold facts (µ equals μ)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def contains_gold(text: str, gold: tuple[str, ...]) -> bool:
    """Whether ``text`` contains any gold substring (after :func:`normalise`)."""
    haystack = normalise(text)
    return any(normalise(fact) in haystack for fact in gold)
