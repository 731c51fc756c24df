"""Feedback under load, under SIGKILL and on a read-only data folder: a real ``verbatim serve``
process on loopback and the separate load process ``eval.feedback_load`` (bounded: 1,000 posts
at concurrency 16, a few seconds each)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from eval.bench.loadtest import serve
from verbatim.feedback_store import STORE_FILE, NewFeedback, open_store

REPO = Path(__file__).resolve().parents[2]
POSTS = 1000
CONCURRENCY = 16


def _env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "VERBATIM_DATA": str(data_dir), "VERBATIM_RATE_LIMIT": "0"}
    env.pop("VERBATIM_ADMIN_TOKEN", None)
    return env


def server(index_dir: Path, data_dir: Path, prefix: list[str] | None = None):
    """``verbatim serve`` in its own process until the block ends (or the test kills it), with
    the load test's own :func:`eval.bench.loadtest.serve`.

    Yields:
        ``(url, process)`` once ``/healthz`` answers.
    """
    return serve(index_dir, 120.0, data_dir.parent / f"{data_dir.name}-server.log", env=_env(data_dir), prefix=prefix or ())


def load(url: str, requests: int = POSTS) -> subprocess.Popen:
    """The load process (started, not waited for)."""
    command = [sys.executable, "-m", "eval.feedback_load", "--url", url, "--requests", str(requests), "--concurrency", str(CONCURRENCY)]
    return subprocess.Popen(command, env=_env(Path("unused")), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def summary_of(process: subprocess.Popen, timeout: float = 120.0) -> dict:
    stdout, stderr = process.communicate(timeout=timeout)
    assert stdout.strip(), stderr[-2000:]
    return json.loads(stdout)


def rows(data_dir: Path) -> list[int]:
    """Ids stored so far (none while the server has not created the table yet)."""
    try:
        with contextlib.closing(sqlite3.connect(data_dir / STORE_FILE, timeout=10)) as connection:
            return [row[0] for row in connection.execute("SELECT id FROM feedback ORDER BY id")]
    except sqlite3.OperationalError:
        return []


@pytest.fixture(scope="module")
def served(corpus_settings, tmp_path_factory):
    """One server for the load and the kill test (its start-up is most of their time)."""
    data_dir = tmp_path_factory.mktemp("feedback-load")
    with server(corpus_settings.index_dir, data_dir) as (url, process):
        yield url, process, data_dir


@pytest.mark.slow
def test_a_thousand_posts_at_concurrency_16_are_all_stored(served):
    url, _process, data_dir = served
    before = rows(data_dir)
    summary = summary_of(load(url))
    assert summary["errors"] == 0 and summary["created"] == POSTS, summary["error_kinds"]
    stored = sorted(set(rows(data_dir)) - set(before))
    assert len(stored) == POSTS and sorted(summary["ids"]) == stored
    store = open_store(data_dir)
    assert store.integrity_check() == "ok"
    store.close()


@pytest.mark.slow
def test_sigkill_under_load_loses_at_most_the_requests_in_flight(served):
    url, process, data_dir = served
    before = set(rows(data_dir))
    generator = load(url)
    deadline = time.monotonic() + 60
    while len(rows(data_dir)) < len(before) + 200:
        assert time.monotonic() < deadline and generator.poll() is None, "the load ended before the kill"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    summary = summary_of(generator)
    assert 0 < summary["created"] < POSTS, summary  # the kill landed mid-load
    stored = set(rows(data_dir)) - before
    confirmed = set(summary["ids"])
    # Every post the server confirmed is on disk; anything else stored was in flight.
    assert confirmed <= stored
    assert len(stored - confirmed) <= CONCURRENCY
    store = open_store(data_dir)  # opens cleanly (WAL recovered), keeps working
    assert store.integrity_check() == "ok"
    assert store.add(NewFeedback("after the crash?", "helpful")) > max(stored)
    store.close()


def _read_only_prefix(data_dir: Path) -> list[str]:
    """A command prefix under which ``data_dir`` is read-only for the server process.

    As root, permissions do not stop writes: the server runs in its own mount namespace with the
    folder bind-mounted read-only. Otherwise the folder and the file lose their write bits.
    """
    if os.geteuid() != 0:
        data_dir.chmod(0o555)
        for path in data_dir.iterdir():
            path.chmod(0o444)
        return []
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a read-only folder as root here (unshare: {probe.stderr.decode().strip()})")
    return ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(data_dir)]


@pytest.mark.slow
def test_a_read_only_data_folder_gives_503_on_feedback_while_ask_answers(corpus_settings, tmp_path):
    store = open_store(tmp_path)  # a store with a record, then the folder turns read-only
    store.add(NewFeedback("before the folder turned read-only?", "helpful"))
    store.close()
    prefix = _read_only_prefix(tmp_path)
    try:
        with server(corpus_settings.index_dir, tmp_path, prefix) as (url, _process):
            refused = httpx.post(f"{url}/api/feedback", json={"question": "is it stored?", "verdict": "helpful"}, timeout=30)
            assert refused.status_code == 503, refused.text
            assert "data folder is not writable" in refused.json()["error"] and refused.headers["retry-after"]
            answered = httpx.post(f"{url}/api/ask", json={"question": "Who should avoid glutamine?"}, timeout=60)
            assert answered.status_code == 200 and answered.json()["answer"]
            page = httpx.post(f"{url}/feedback", data={"question": "is it stored?", "verdict": "helpful"}, timeout=30)
            assert page.status_code == 503 and "Nothing was stored" in page.text
    finally:
        tmp_path.chmod(0o755)
        for path in tmp_path.iterdir():
            path.chmod(0o644)
    assert len(rows(tmp_path)) == 1
