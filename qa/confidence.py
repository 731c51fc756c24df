"""Answer confidence: the probability that the quoted answer holds what was asked.

The abstention model answers one question: do the sources answer this at all? Whether the
ranker then quoted the right sentence is a second question, and the first probability says
little about it (on the dev split it put 94% of answers at 0.8 or more, a fifth of which were
wrong). The answer's confidence therefore comes from a small logistic model over:

  * ``answerable_logit``: the abstention model's log-odds that the sources answer;
  * ``best_score``: the ranker's log-odds for the winning sentence;
  * ``margin``: how far the winner leads the runner-up (a close second means the ranker could
    as well have picked another sentence).

Its coefficients are fitted on the dev split's answered questions by ``verbatim eval
--calibrate`` (label: the answer holds a gold fact). Without them (an older calibration file)
the confidence is the abstention probability, as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from qa.abstention import AbstentionDecision
from qa.calibration import Calibration
from qa.extractor import Extraction
from qa.tunables import TUNABLES

FEATURES = ("answerable_logit", "best_score", "margin")


def confidence_features(decision: AbstentionDecision, extraction: Extraction) -> dict[str, float]:
    """The signals of one answered question.

    Args:
        decision: The abstention decision (its confidence is the answerable probability).
        extraction: The chosen answer.

    Returns:
        Feature values by name (see :data:`FEATURES`).
    """
    probability = min(max(decision.confidence, 1e-6), 1 - 1e-6)
    ranked = extraction.ranked
    best = ranked[0].score
    margin = best - ranked[1].score if len(ranked) > 1 else TUNABLES.confidence.lone_margin
    return {
        "answerable_logit": math.log(probability / (1 - probability)),
        "best_score": best,
        "margin": margin,
    }


class AnswerConfidence:
    """Turns an answered question's signals into the confidence the API reports.

    Args:
        calibration: Fitted models; its ``correctness`` model, when present, is used.
    """

    def __init__(self, calibration: Calibration) -> None:
        self.calibration = calibration
        if calibration.correctness is not None:
            calibration.correctness.require(FEATURES, "correctness")

    def run(self, decision: AbstentionDecision, extraction: Extraction | None) -> float:
        """Confidence of an answer (0..1).

        Args:
            decision: The abstention decision.
            extraction: The chosen answer (None or an abstention: the answerable probability
                is returned, which is what an abstention's confidence means).

        Returns:
            Probability that the answer holds what was asked.
        """
        model = self.calibration.correctness
        if decision.abstain or extraction is None or model is None:
            return decision.confidence
        return model.probability(confidence_features(decision, extraction))


# -- confidence in words (the only place that maps the number to words) ---------------------


@dataclass(frozen=True)
class ConfidenceLevel:
    """A band of confidence and how the chat page words it.

    Attributes:
        minimum: Lowest confidence (0..1) of the band.
        key: Short id (used as a CSS modifier).
        words: What the reader sees.
    """

    minimum: float
    key: str
    words: str


CONFIDENCE_LEVELS = (
    ConfidenceLevel(TUNABLES.confidence.strong_match, "strong", "Strong match"),
    ConfidenceLevel(TUNABLES.confidence.good_match, "good", "Good match"),
    ConfidenceLevel(0.0, "possible", "Possible match"),
)


def describe_confidence(confidence: float) -> ConfidenceLevel:
    """Word a 0..1 confidence.

    Args:
        confidence: Calibrated confidence of an answer.

    Returns:
        The first band (highest first) whose minimum the confidence reaches.
    """
    for level in CONFIDENCE_LEVELS:
        if confidence >= level.minimum:
            return level
    return CONFIDENCE_LEVELS[-1]
