"""Fitted numbers of the QA path: the answer ranker, the abstention model, the answer
confidence model and the pair ranker that chooses the sentence to quote.

They live in ``calibration.toml`` next to this module, written by ``verbatim eval --calibrate``
from the dev split only, so a change of features or data is one command away from new numbers.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CALIBRATION_PATH = Path(__file__).with_name("calibration.toml")
# Provenance key of the embedding model's weights hash the numbers were fitted with.
MODEL_HASH_KEY = "model_weights_hash"


class CalibrationError(ValueError):
    """A fitted model does not match the features the code computes."""


@dataclass(frozen=True)
class LinearModel:
    """``intercept + sum(weight * feature)``, read as log-odds."""

    intercept: float
    weights: dict[str, float]

    def require(self, features: Sequence[str], model: str) -> LinearModel:
        """Check that the model weighs exactly the features the code computes.

        A renamed, added or removed feature would otherwise be weighed 0 without a word.

        Args:
            features: The feature names the code computes for this model.
            model: The model's name in the calibration file (for the message).

        Returns:
            The model itself.

        Raises:
            CalibrationError: Naming the features that differ and the command that refits.
        """
        unknown = sorted(set(self.weights) - set(features))
        missing = [name for name in features if name not in self.weights]
        if unknown or missing:
            raise CalibrationError(
                f"the {model} model's features differ from the code's (weights for unknown features: "
                f"{', '.join(unknown) or 'none'}; no weight for: {', '.join(missing) or 'none'}); "
                "refit with: verbatim eval --calibrate"
            )
        return self

    def logit(self, values: dict[str, float]) -> float:
        """Log-odds for named feature values (every model feature is checked by :meth:`require`)."""
        return self.intercept + sum(weight * values.get(name, 0.0) for name, weight in self.weights.items())

    def probability(self, values: dict[str, float]) -> float:
        """Logistic of :meth:`logit`."""
        return sigmoid(self.logit(values))


def sigmoid(value: float) -> float:
    """Numerically safe logistic function."""
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, value))))


@dataclass(frozen=True)
class Calibration:
    """The fitted models.

    Attributes:
        ranker: Scores candidate answer sentences (log-odds that a sentence holds the answer).
        abstention: Probability that the sources answer the question.
        threshold: The question is answered when that probability reaches this value.
        provenance: How the numbers were produced (command, data, date).
        correctness: Probability that an answered question's quote holds the answer (see
            ``qa/confidence.py``); None in files written before it existed.
        pair_ranker: Scores candidate sentences for quoting with the corpus's training
            questions as evidence (``qa/pair_ranker.py``); None when fitted on an index without
            them (the plain ranker's choice is quoted).
    """

    ranker: LinearModel
    abstention: LinearModel
    threshold: float
    provenance: dict[str, str] = field(default_factory=dict)
    correctness: LinearModel | None = None
    pair_ranker: LinearModel | None = None

    @classmethod
    def load(cls, path: Path | None = None) -> Calibration:
        """Read a calibration file.

        Args:
            path: TOML file; defaults to ``qa/calibration.toml``.

        Returns:
            The calibration.
        """
        raw = tomllib.loads(Path(path or DEFAULT_CALIBRATION_PATH).read_text(encoding="utf-8"))

        def model(section: dict) -> LinearModel:
            return LinearModel(float(section["intercept"]), {k: float(v) for k, v in section["weights"].items()})

        return cls(
            ranker=model(raw["ranker"]),
            abstention=model(raw["abstention"]),
            threshold=float(raw["abstention"]["threshold"]),
            provenance={k: str(v) for k, v in raw.get("provenance", {}).items()},
            correctness=model(raw["correctness"]) if "correctness" in raw else None,
            pair_ranker=model(raw["pair_ranker"]) if "pair_ranker" in raw else None,
        )

    def to_toml(self) -> str:
        """Serialise in the format :meth:`load` reads."""
        lines = [
            "# Fitted by `verbatim eval --calibrate` on the dev split of eval/questions.jsonl.",
            "# Do not edit by hand: change features or data, then re-run the command.",
            "",
            "[provenance]",
            *(f'{key} = "{value}"' for key, value in self.provenance.items()),
            "",
            "[ranker]",
            f"intercept = {self.ranker.intercept:.6f}",
            "",
            "[ranker.weights]",
            *(f"{name} = {weight:.6f}" for name, weight in self.ranker.weights.items()),
            "",
            "[abstention]",
            f"intercept = {self.abstention.intercept:.6f}",
            f"threshold = {self.threshold:.6f}",
            "",
            "[abstention.weights]",
            *(f"{name} = {weight:.6f}" for name, weight in self.abstention.weights.items()),
            "",
        ]
        if self.correctness is not None:
            lines += [
                "[correctness]",
                f"intercept = {self.correctness.intercept:.6f}",
                "",
                "[correctness.weights]",
                *(f"{name} = {weight:.6f}" for name, weight in self.correctness.weights.items()),
                "",
            ]
        if self.pair_ranker is not None:
            lines += [
                "[pair_ranker]",
                f"intercept = {self.pair_ranker.intercept:.6f}",
                "",
                "[pair_ranker.weights]",
                *(f"{name} = {weight:.6f}" for name, weight in self.pair_ranker.weights.items()),
                "",
            ]
        return "\n".join(lines)
