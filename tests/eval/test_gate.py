"""The regression gate: the QA pipeline must meet every bar of eval/thresholds.toml on the test split.

Runs by default (``make test``). Bars below the QA issue's are regression floors (the issue's
bar is the threshold's ``target``, reported by ``verbatim eval``).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from eval.metrics import load_thresholds
from eval.runner import InProcessTarget, run_eval
from qa.calibration import MODEL_HASH_KEY
from qa.training.calibrate import calibration_mismatch
from qa.training.dataset import load_questions


@pytest.mark.gate
def test_test_split_meets_every_threshold(answerer):
    result = run_eval(
        InProcessTarget(answerer), load_questions(split="test"), load_thresholds(), split="test", compare_modes=False,
        show_progress=False,
    )
    assert result.overall["questions"] == len(load_questions(split="test"))
    missed = [
        f"{check.threshold.metric} = {check.value if check.value is None else round(check.value, 4)} "
        f"(bar {'>=' if check.threshold.bound == 'min' else '<='} {check.threshold.bar})"
        for check in result.failed_checks
    ]
    assert not missed, "thresholds missed on the test split: " + "; ".join(missed)


@pytest.mark.gate
def test_the_calibration_was_fitted_with_the_index_model(answerer):
    assert calibration_mismatch(answerer) is None


def test_a_calibration_of_another_model_is_reported_with_the_commands_to_run(fresh_answerer):
    provenance = {**fresh_answerer.calibration.provenance, MODEL_HASH_KEY: "sha256:" + "0" * 64}
    fresh_answerer.calibration = replace(fresh_answerer.calibration, provenance=provenance)
    message = calibration_mismatch(fresh_answerer)
    assert message is not None and "sha256:" + "0" * 64 in message
    assert f"verbatim eval --calibrate --index {fresh_answerer.settings.index_dir}" in message
