"""The fits behind ``verbatim eval --calibrate``: on synthetic data, then on dev questions."""

from __future__ import annotations

import numpy as np
import pytest

from qa.extractor import RANKER_FEATURES
from qa.pair_ranker import PAIR_RANKER_FEATURES
from qa.training.calibrate import calibrate, fit_conditional_logit, fit_logistic
from qa.training.dataset import load_questions


def test_logistic_fit_recovers_the_generating_model():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(4000, 2))
    true_intercept, true_weights = -0.5, np.array([2.0, -1.0])
    probabilities = 1 / (1 + np.exp(-(true_intercept + features @ true_weights)))
    labels = (rng.random(4000) < probabilities).astype(float)
    intercept, weights = fit_logistic(features, labels, l2=0.0)
    assert intercept == pytest.approx(true_intercept, abs=0.15)
    assert weights == pytest.approx(true_weights, abs=0.15)


def test_listwise_ranker_learns_the_feature_that_marks_the_answer():
    rng = np.random.default_rng(1)
    groups = []
    for _ in range(60):
        features = rng.normal(size=(12, 2))  # column 0 marks the answer, column 1 is noise
        answer = int(rng.integers(12))
        features[answer, 0] += 3.0
        positives = np.zeros(12)
        positives[answer] = 1.0
        groups.append((features, positives))
    weights = fit_conditional_logit(groups)
    assert weights[0] > 5 * abs(weights[1])
    top_is_answer = [positives[np.argmax(features @ weights)] == 1.0 for features, positives in groups]
    assert sum(top_is_answer) >= 55


def test_calibration_on_dev_questions_installs_a_threshold_within_the_false_abstention_budget(fresh_answerer):
    questions = load_questions(split="dev")[:80]
    answerable = [q for q in questions if not q.abstain]  # the budget's base, as in calibrate()
    report = calibrate(fresh_answerer, questions, max_false_abstention=0.05)

    assert fresh_answerer.calibration is report.calibration
    assert set(report.calibration.ranker.weights) == set(RANKER_FEATURES)
    # The seed corpus ships training pairs: the pair ranker is fitted on both views of each question.
    assert set(report.calibration.pair_ranker.weights) == set(PAIR_RANKER_FEATURES)
    answerable_with_gold = [q for q in questions if q.gold and not q.abstain]
    assert 0 < report.pair_ranker_views <= 2 * len(answerable_with_gold) and report.pair_ranker_views % 2 == 0
    assert 0.05 <= report.calibration.threshold <= 0.95
    assert report.dev_false_abstention <= 0.05
    abstained = sum(fresh_answerer.run(q.question).abstained for q in answerable)
    assert abstained <= int(0.05 * len(answerable))
    assert report.calibration.provenance["data"] == f"dev split, {len(questions)} questions"
