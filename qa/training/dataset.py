"""The eval question set (``eval/questions.jsonl``) and how gold facts are matched."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path

# The question set is eval data (eval/QUESTIONS.md); fitting reads its dev split only.
DEFAULT_QUESTIONS = Path(__file__).resolve().parents[2] / "eval" / "questions.jsonl"
SPLITS = ("dev", "test", "all")


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
    rows = []
    path = Path(path or DEFAULT_QUESTIONS)
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            row = EvalQuestion(
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
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{path}:{number}: malformed eval row ({error})") from error
        if split == "all" or row.split == split:
            rows.append(row)
    return rows


def normalise(text: str) -> str:
    """Case-, width- and whitespace-insensitive form used to match gold facts (µ equals μ)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def contains_gold(text: str, gold: tuple[str, ...]) -> bool:
    """Whether ``text`` contains any gold substring (after :func:`normalise`)."""
    haystack = normalise(text)
    return any(normalise(fact) in haystack for fact in gold)
