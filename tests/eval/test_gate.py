"""The regression gate: the QA pipeline must meet every bar of eval/thresholds.toml on the test split.

Runs by default (``make test``). Bars below the QA issue's are regression floors (the issue's
bar is the threshold's ``target``, reported by ``verbatim eval``).
"""

from __future__ import annotations

import pytest

from eval.dataset import load_questions
from eval.metrics import load_thresholds
from eval.runner import InProcessTarget, run_eval


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
