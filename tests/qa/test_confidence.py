"""Answer confidence: what it is computed from, and that it tracks whether answers are right."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qa.calibration import Calibration, LinearModel
from qa.confidence import AnswerConfidence, confidence_features
from qa.training.dataset import contains_gold, load_questions
from tests.qa.regressions import ADAPTATION_REGRESSION


def _trace(answerer, question):
    answer, trace = answerer.trace(answerer.prepare(question))
    assert not answer.abstained
    return answer, trace


def test_a_close_runner_up_lowers_the_confidence(answerer):
    _, trace = _trace(answerer, "What is the typical dose of glutamine?")
    confidence = AnswerConfidence(answerer.calibration)
    best, runner_up = trace.extraction.ranked[:2]
    clear = confidence.run(trace.decision, trace.extraction)
    tie = replace(trace.extraction, ranked=[best, replace(runner_up, score=best.score), *trace.extraction.ranked[2:]])
    assert confidence_features(trace.decision, tie)["margin"] == 0.0
    assert confidence.run(trace.decision, tie) < clear


def test_without_a_confidence_model_the_answerable_probability_is_reported(answerer):
    _, trace = _trace(answerer, "What is the typical dose of glutamine?")
    old = Calibration(answerer.calibration.ranker, answerer.calibration.abstention, answerer.calibration.threshold)
    assert old.correctness is None
    assert AnswerConfidence(old).run(trace.decision, trace.extraction) == trace.decision.confidence


def test_an_abstention_reports_the_answerable_probability(answerer):
    answer, trace = answerer.trace(answerer.prepare("What is the capital of France?"))
    assert answer.abstained
    assert answer.confidence == pytest.approx(trace.decision.confidence, abs=1e-4)


def test_the_calibration_file_keeps_the_confidence_model(tmp_path):
    calibration = Calibration(
        LinearModel(-1.0, {"dense": 2.0}), LinearModel(0.5, {"coverage": 1.5}), 0.6,
        provenance={"command": "test"}, correctness=LinearModel(0.25, {"margin": 1.75, "best_score": 0.5}),
    )
    path = tmp_path / "calibration.toml"
    path.write_text(calibration.to_toml(), encoding="utf-8")
    assert Calibration.load(path) == calibration


@ADAPTATION_REGRESSION  # 83% of test answers are now called strong matches (88% of those are right)
def test_confidence_tracks_whether_test_split_answers_are_right(answerer):
    # The model is fitted on dev; on the test split its confidences should mean what they say.
    confidences, right = [], []
    for question in load_questions(split="test"):
        if not question.abstain and not question.gold:
            continue
        answer = answerer.run(question.question)
        if answer.abstained:
            continue
        confidences.append(answer.confidence)
        right.append(not question.abstain and contains_gold(answer.answer, question.gold))
    confidences, right = np.array(confidences), np.array(right)
    assert abs(confidences.mean() - right.mean()) < 0.1
    assert right[confidences >= 0.8].mean() > right[confidences < 0.6].mean()
    # The answerable probability alone called nearly every answer a strong match.
    assert (confidences >= 0.8).mean() < 0.8
