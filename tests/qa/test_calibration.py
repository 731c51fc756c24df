"""The calibration file against the code's features: a renamed feature fails loudly (issue 23)."""

from __future__ import annotations

import pytest

from qa.abstention import FEATURES as ABSTENTION_FEATURES
from qa.calibration import Calibration, CalibrationError, LinearModel
from qa.confidence import FEATURES as CONFIDENCE_FEATURES
from qa.confidence import AnswerConfidence
from qa.extractor import RANKER_FEATURES


def test_the_shipped_file_weighs_exactly_the_features_the_code_computes():
    calibration = Calibration.load()
    calibration.ranker.require(RANKER_FEATURES, "ranker")
    calibration.abstention.require(ABSTENTION_FEATURES, "abstention")
    assert calibration.correctness is not None
    calibration.correctness.require(CONFIDENCE_FEATURES, "correctness")


def test_a_renamed_feature_is_refused_with_both_names_and_the_command(tmp_path):
    shipped = Calibration.load()
    weights = dict(shipped.correctness.weights)
    weights["margin_renamed"] = weights.pop("margin")
    renamed = Calibration(shipped.ranker, shipped.abstention, shipped.threshold, correctness=LinearModel(0.1, weights))
    path = tmp_path / "calibration.toml"
    path.write_text(renamed.to_toml(), encoding="utf-8")
    with pytest.raises(CalibrationError, match=r"unknown features: margin_renamed; no weight for: margin.*verbatim eval --calibrate"):
        AnswerConfidence(Calibration.load(path))


def test_a_missing_feature_is_refused():
    with pytest.raises(CalibrationError, match="no weight for: dense"):
        LinearModel(0.0, {name: 1.0 for name in RANKER_FEATURES if name != "dense"}).require(RANKER_FEATURES, "ranker")
    model = LinearModel(0.0, {name: 1.0 for name in RANKER_FEATURES})
    assert model.require(RANKER_FEATURES, "ranker") is model
