"""Accepted feedback as eval questions of their own category (``verbatim eval --feedback``).

Two sources in the data folder, both written by ``verbatim feedback review``
(``verbatim/feedback_loop.py``):

* the training pairs made from accepted feedback (``feedback.pairs.jsonl``, ``"source":
  "feedback"``): the question, with the span people said answered it as the gold fact;
* the candidate eval questions made from accepted "not helpful" feedback
  (``feedback.eval_candidates.jsonl``), once the maintainer has written a gold fact into the row
  or set ``abstain``; rows still without either are counted as waiting, not scored.

They are scored as the category ``feedback`` (split ``feedback``) and kept out of the overall
figures and the thresholds, so the gate and the dev/test tables mean what they meant before.
People's questions never enter ``eval/questions.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.training.dataset import EvalQuestion, jsonl_rows, load_questions
from verbatim.feedback_loop import FEEDBACK_CATEGORY, candidates_path, pairs_path


@dataclass(frozen=True)
class FeedbackQuestions:
    """The feedback category's questions.

    Attributes:
        questions: Rows to score.
        from_pairs: How many came from training pairs.
        from_candidates: How many came from candidates with a gold fact or ``abstain``.
        waiting: Candidates still without a gold fact (not scored).
    """

    questions: list[EvalQuestion]
    from_pairs: int
    from_candidates: int
    waiting: int


def load_feedback_questions(data_dir: Path) -> FeedbackQuestions:
    """Read the accepted feedback questions of a data folder.

    Args:
        data_dir: The data folder (``VERBATIM_DATA``).

    Returns:
        The rows, with counts of where they came from.

    Raises:
        ValueError: A malformed line (the message names the file and line).
    """
    rows: list[EvalQuestion] = []
    pairs = pairs_path(data_dir)
    if pairs.exists():
        rows.extend(row for _, row in jsonl_rows(pairs, _feedback_question, "pair") if row is not None)
    from_pairs = len(rows)
    waiting = 0
    candidates = candidates_path(data_dir)
    if candidates.exists():
        for row in load_questions(candidates, "all"):
            if row.gold or row.abstain:
                rows.append(EvalQuestion(**{**row.__dict__, "split": FEEDBACK_CATEGORY, "category": FEEDBACK_CATEGORY}))
            else:
                waiting += 1
    return FeedbackQuestions(rows, from_pairs, len(rows) - from_pairs, waiting)


def _feedback_question(raw: dict[str, Any]) -> EvalQuestion | None:
    """The eval question of a training pair made from feedback; None for a pair of another source."""
    if raw.get("source") != "feedback":
        return None
    return EvalQuestion(
        id=str(raw["id"]), split=FEEDBACK_CATEGORY, category=FEEDBACK_CATEGORY, question=str(raw["question"]),
        gold=(str(raw["quote"]),), docs=(str(raw["doc_id"]),), disclaimer=False, abstain=False,
    )


def is_feedback(question: EvalQuestion) -> bool:
    """Whether a row is a feedback question (kept out of the overall figures)."""
    return question.split == FEEDBACK_CATEGORY
