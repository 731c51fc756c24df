"""A tiny run of the load test: a real server process and the separate load generator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eval.bench.loadtest import require_loopback

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_tiny_load_test_has_no_errors_and_reports_its_figures(corpus_settings):
    command = [sys.executable, "-m", "eval.bench.loadtest", "--requests", "200", "--concurrency", "8", "--warmup", "20",
               "--index", str(corpus_settings.index_dir), "--max-rss-growth", "100"]
    result = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert summary["errors"] == 0 and summary["load"]["requests"] == 200
    for field in ("p50_ms", "p95_ms", "p99_ms", "requests_per_second", "rss_after_warmup_mb", "rss_at_end_mb", "rss_growth_pct"):
        assert summary[field] is not None and summary[field] >= 0 or field == "rss_growth_pct", field
    assert summary["p50_ms"] <= summary["p95_ms"] <= summary["p99_ms"]


@pytest.mark.parametrize("url", ["http://10.0.0.1:8000", "http://example.com", "http://192.168.1.2"])
def test_only_loopback_targets_are_allowed(url):
    with pytest.raises(SystemExit, match="only loopback"):
        require_loopback(url)
    require_loopback("http://127.0.0.1:8000")
