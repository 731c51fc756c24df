"""The calibration file against the code's features: a renamed feature fails loudly (issue 23)."""

from __future__ import annotations

import pytest

from qa.abstention import FEATURES as ABSTENTION_FEATURES
from qa.calibration import Calibration, CalibrationError, LinearModel
from qa.confidence import FEATURES as CONFIDENCE_FEATURES
from qa.confidence import AnswerConfidence
from qa.extractor import RANKER_FEATURES
from qa.pair_ranker import PAIR_RANKER_FEATURES


def test_the_shipped_file_weighs_exactly_the_features_the_code_computes():
    calibration = Calibration.load()
    calibration.ranker.require(RANKER_FEATURES, "ranker")
    calibration.abstention.require(ABSTENTION_FEATURES, "abstention")
    assert calibration.correctness is not None
    calibration.correctness.require(CONFIDENCE_FEATURES, "correctness")
    # The shipped corpus has training questions, so the sentence to quote has its pair ranker.
    assert calibration.pair_ranker is not None
    calibration.pair_ranker.require(PAIR_RANKER_FEATURES, "pair_ranker")


def test_the_pair_ranker_round_trips_and_is_optional(tmp_path):
    shipped = Calibration.load()
    path = tmp_path / "calibration.toml"
    path.write_text(shipped.to_toml(), encoding="utf-8")
    assert Calibration.load(path).pair_ranker == shipped.pair_ranker
    without = Calibration(shipped.ranker, shipped.abstention, shipped.threshold, correctness=shipped.correctness)
    path.write_text(without.to_toml(), encoding="utf-8")
    assert "pair_ranker" not in path.read_text(encoding="utf-8")
    assert Calibration.load(path).pair_ranker is None


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
