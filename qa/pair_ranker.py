"""The pair ranker: which candidate sentence to quote, with the corpus's training questions as
evidence.

Whether to answer is decided by the plain ranker (``qa/extractor.py``) and the abstention
model, which never read the training questions; this second ranker only re-orders the same
candidates to choose the sentence to quote (and so the order of the passages). It weighs the
plain ranker's columns plus ``pair_sim`` and ``pair_missing`` (``qa/pair_memory.py``), and is
fitted on dev by ``verbatim eval --calibrate`` under fact dropout: every dev question is seen
once as the index sees it and once with the training questions of its fact group withheld
(``qa/training/fact_dropout.py``), so a sentence without training questions is not ranked as if
it could not answer (the memorisation ``verbatim eval --fact-held-out`` caught in an earlier
version, ``docs/quality-history.md``, 2026-12-07).

A build without training questions (the base model, a corpus without pairs) or a calibration
without a pair ranker quotes what the plain ranker chose: :func:`pair_ranker_for` gives None.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa.calibration import LinearModel
from qa.extractor import RANKER_FEATURES
from qa.pair_memory import PairEvidence, PairMemory
from qa.store import IndexStore

# The plain ranker's columns, then the two the training questions give.
PAIR_COLUMNS = ("pair_sim", "pair_missing")
PAIR_RANKER_FEATURES = (*RANKER_FEATURES, *PAIR_COLUMNS)


def with_pair_columns(matrix: np.ndarray, evidence: PairEvidence) -> np.ndarray:
    """The plain ranker's feature matrix with the pair columns appended.

    Args:
        matrix: ``(n, len(RANKER_FEATURES))`` features of ``n`` candidate sentences.
        evidence: Their pair evidence.

    Returns:
        ``(n, len(PAIR_RANKER_FEATURES))`` matrix.
    """
    return np.hstack([matrix, evidence.similarity[:, None], evidence.missing[:, None]])


@dataclass(frozen=True)
class PairRanker:
    """Scores candidate sentences for quoting.

    Attributes:
        model: Fitted weights over :data:`PAIR_RANKER_FEATURES` (log-odds scale, as the plain
            ranker's, so the passages' support probability reads either alike).
        pairs: The build's embedded training questions.
    """

    model: LinearModel
    pairs: PairMemory
    _weights: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.model.require(PAIR_RANKER_FEATURES, "pair_ranker")
        weights = np.array([self.model.weights[name] for name in PAIR_RANKER_FEATURES], dtype=np.float64)
        object.__setattr__(self, "_weights", weights)  # frozen: set once, here

    def scores(self, store: IndexStore, sentences: np.ndarray, question: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """Score candidates from the plain ranker's features and the question's vector.

        Args:
            store: The store the sentence numbers belong to.
            sentences: Candidate sentence numbers.
            question: The question's unit vector.
            matrix: Their plain ranker features (``AnswerExtractor.features``).

        Returns:
            One log-odds score per candidate.
        """
        full = with_pair_columns(matrix, self.pairs.evidence(store, sentences, question))
        return full @ self._weights + self.model.intercept


def pair_ranker_for(model: LinearModel | None, pairs: PairMemory) -> PairRanker | None:
    """The pair ranker an answerer uses, or None when the plain ranker's choice is quoted.

    Args:
        model: The calibration's pair ranker (None: the calibration has none).
        pairs: The build's training questions.

    Returns:
        The ranker, or None without a model or without training questions (a base-model build
        answers exactly as the plain ranker does).
    """
    if model is None or len(pairs) == 0:
        return None
    return PairRanker(model, pairs)
