"""Offline evaluation: the question set, the runner, reports, calibration and benchmarks."""
