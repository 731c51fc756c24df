"""Cross-validation of the fitted models on the dev split (``verbatim eval --cross-validate``).

``verbatim eval --calibrate`` fits the answer ranker, the abstention model and its threshold on
the whole dev split, so dev figures after a refit flatter whatever change was fitted, and the
test split is small (one of its 70 answerable questions is 1.4 points). Cross-validation
measures a change on questions its fit never saw without looking at test: the dev questions are
dealt into folds, each fold is answered by models fitted on the other folds, and further deals
(seeds) average out the luck of any one deal. ``qa/calibration.toml`` is left as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from qa.pipeline import Answerer
from qa.training.calibrate import calibrate
from qa.training.dataset import EvalQuestion, contains_gold


@dataclass
class HeldOutCounts:
    """Outcomes of questions answered by models fitted without them.

    Attributes:
        answerable: Questions with a gold fact.
        answered_right: Of those, answered with text holding a gold fact.
        false_abstentions: Of those, abstained on.
        out_of_scope: Questions the sources do not answer.
        abstained_out_of_scope: Of those, abstained on.
    """

    answerable: int = 0
    answered_right: int = 0
    false_abstentions: int = 0
    out_of_scope: int = 0
    abstained_out_of_scope: int = 0

    def add(self, other: HeldOutCounts) -> HeldOutCounts:
        """The sum of two counts."""
        return HeldOutCounts(
            self.answerable + other.answerable,
            self.answered_right + other.answered_right,
            self.false_abstentions + other.false_abstentions,
            self.out_of_scope + other.out_of_scope,
            self.abstained_out_of_scope + other.abstained_out_of_scope,
        )

    @staticmethod
    def summed(parts: Iterable[HeldOutCounts]) -> HeldOutCounts:
        """The sum of any number of counts (none: all zero)."""
        total = HeldOutCounts()
        for counts in parts:
            total = total.add(counts)
        return total

    @property
    def answer_hit(self) -> float | None:
        """Share of answerable questions answered right."""
        return self.answered_right / self.answerable if self.answerable else None

    @property
    def false_abstention(self) -> float | None:
        """Share of answerable questions abstained on."""
        return self.false_abstentions / self.answerable if self.answerable else None

    @property
    def abstention_recall(self) -> float | None:
        """Share of out-of-scope questions abstained on."""
        return self.abstained_out_of_scope / self.out_of_scope if self.out_of_scope else None

    def summary(self) -> str:
        """One line: answer hit, false abstention and abstention recall with their counts."""

        def share(value: float | None, part: int, whole: int) -> str:
            return "n/a" if value is None else f"{value:.1%} ({part}/{whole})"

        return (
            f"answer hit {share(self.answer_hit, self.answered_right, self.answerable)}, "
            f"false abstention {share(self.false_abstention, self.false_abstentions, self.answerable)}, "
            f"abstention recall {share(self.abstention_recall, self.abstained_out_of_scope, self.out_of_scope)}"
        )


@dataclass
class CrossValidation:
    """Result of :func:`cross_validate`.

    Attributes:
        folds: Folds per deal.
        questions: Questions dealt.
        seeds: The deals' seeds.
        per_seed: Held-out counts of each deal (every question once per deal).
    """

    folds: int
    questions: int
    seeds: list[int]
    per_seed: list[HeldOutCounts] = field(default_factory=list)

    @property
    def total(self) -> HeldOutCounts:
        """Counts summed over the deals."""
        return HeldOutCounts.summed(self.per_seed)


def deal_folds(count: int, folds: int, seed: int) -> np.ndarray:
    """Fold number of each of ``count`` questions: a shuffled, even deal.

    Args:
        count: Number of questions.
        folds: Number of folds.
        seed: Seed of the shuffle (the same seed deals the same way).

    Returns:
        Int array ``(count,)`` of fold numbers; fold sizes differ by at most one.
    """
    return np.random.default_rng(seed).permutation(count) % folds


def score_held_out(answerer: Answerer, questions: Sequence[EvalQuestion]) -> HeldOutCounts:
    """Answer questions with the answerer's current models and count the outcomes.

    Args:
        answerer: A warm answerer.
        questions: Questions its models were not fitted on.

    Returns:
        The counts (questions judged only on their disclaimer are not counted).
    """
    counts = HeldOutCounts()
    for question in questions:
        if not question.abstain and not question.gold:
            continue
        answer = answerer.run(question.question)
        if question.abstain:
            counts.out_of_scope += 1
            counts.abstained_out_of_scope += int(answer.abstained)
        else:
            counts.answerable += 1
            counts.false_abstentions += int(answer.abstained)
            counts.answered_right += int(not answer.abstained and contains_gold(answer.answer, question.gold))
    return counts


def cross_validate(
    answerer: Answerer,
    questions: Sequence[EvalQuestion],
    folds: int = 5,
    seeds: Sequence[int] = (0,),
    unanswerable: Sequence[str] = (),
) -> CrossValidation:
    """Score each question with models fitted on the other folds, for each deal.

    Args:
        answerer: A warm answerer; its calibration is refitted per fold and restored at the end.
        questions: The dev questions.
        folds: Folds per deal (at least 2).
        seeds: One deal per seed.
        unanswerable: The corpus's out-of-scope training questions for the abstention fit (in
            every fold's fit, as ``verbatim eval --calibrate`` uses them).

    Returns:
        Held-out counts per deal.
    """
    if folds < 2 or folds > len(questions):
        raise ValueError(f"folds must be between 2 and the number of questions ({len(questions)})")
    result = CrossValidation(folds=folds, questions=len(questions), seeds=list(seeds))
    original = answerer.calibration
    try:
        for seed in seeds:
            assignment = deal_folds(len(questions), folds, seed)
            counts = HeldOutCounts()
            for fold in range(folds):
                fitted_on = [q for q, f in zip(questions, assignment, strict=True) if f != fold]
                held_out = [q for q, f in zip(questions, assignment, strict=True) if f == fold]
                calibrate(answerer, fitted_on, unanswerable=unanswerable)
                counts = counts.add(score_held_out(answerer, held_out))
            result.per_seed.append(counts)
    finally:
        answerer.calibration = original
        answerer.reload()
    return result
