import pytest

from eval.bench.followup_latency import summarise


def test_summarise_gives_milliseconds_and_the_ratio_of_medians():
    figures = summarise(3, [0.010, 0.020, 0.030], [0.010, 0.030, 0.050, 0.070, 0.090])
    assert figures.followups == 3
    assert figures.single_p50 == pytest.approx(20.0)
    assert figures.followup_p50 == pytest.approx(50.0)
    assert figures.followup_p90 == pytest.approx(82.0)
    assert figures.ratio == pytest.approx(2.5)
