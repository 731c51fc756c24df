"""The shared helpers of eval, the benchmarks and the load test (eval/stats.py)."""

from __future__ import annotations

import os

import numpy as np

from eval.stats import command_line, min_max, percentile, rss_mb, sample, source_revision


def test_percentile_interpolates_between_ranks():
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.95) == 5.0
    assert percentile([4, 1, 3, 2], 0.5) == 2.5
    assert percentile(list(range(101)), 0.95) == 95
    assert percentile([float(number) for number in range(1, 101)], 0.99) == 99.01


def test_min_max_scales_to_unit_range_and_zeroes_what_is_not_finite():
    assert np.allclose(min_max(np.array([2.0, 4.0, 3.0])), [0.0, 1.0, 0.5])
    assert np.allclose(min_max(np.array([7.0, 7.0])), [1.0, 1.0])
    assert np.allclose(min_max(np.array([1.0, -np.inf, 3.0, np.nan])), [0.0, 0.0, 1.0, 0.0])


def test_sample_is_deterministic_and_independent_of_order():
    items = [f"id{number}" for number in range(20)]
    chosen = sample(items, 5, key=str)
    assert len(chosen) == 5 and chosen == sample(list(reversed(items)), 5, key=str)
    assert sample(items, 0, key=str) == items and sample(items, 50, key=str) == items


def test_memory_revision_and_command_line():
    current, peak = rss_mb(), rss_mb(peak=True)
    assert current is not None and peak is not None and 0 < current <= peak
    assert rss_mb(pid=2**22 + 1) is None or os.path.exists(f"/proc/{2**22 + 1}")
    revision = source_revision()
    assert revision is None or revision.removesuffix("+dirty").isalnum()
    assert command_line(["eval", "--split", "dev", "a b"]) == "verbatim eval --split dev 'a b'"
