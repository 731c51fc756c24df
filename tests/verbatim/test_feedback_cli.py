"""``verbatim feedback review | export | purge | delete``, run as a maintainer would (a real
process, the review answered on standard input)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from verbatim import feedback_loop
from verbatim.feedback_store import NewFeedback, Span, open_store, utc_now

REPO = Path(__file__).resolve().parents[2]
ANSWER = Span("glutamine-faq", 10, 30, "the answer sentence.")
OTHER = Span("glutamine-benefits-research", 100, 120, "the better passage..")


def verbatim(data_dir: Path, *words: str, answers: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "VERBATIM_DATA": str(data_dir), "VERBATIM_FEEDBACK_DAYS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "verbatim.cli", "feedback", *words], input=answers, env=env, cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A store with three pending records: helpful, "this one answered it", should abstain."""
    store = open_store(tmp_path)
    store.add(NewFeedback("how much a day?", "helpful", answer=ANSWER, index_build="b1"), now=utc_now() - timedelta(days=40))
    store.add(NewFeedback("is it safe for kids?", "not_helpful", "wrong_passage", answer=ANSWER, chosen=OTHER, index_build="b1"))
    store.add(NewFeedback("is glutamine sold in Peru?", "not_helpful", "should_abstain", answer=ANSWER, index_build="b1"))
    store.close()
    return tmp_path


def test_review_accepts_and_rejects_one_record_at_a_time(data_dir):
    # accept #1, a typo that is asked again, accept #2, reject #3
    result = verbatim(data_dir, "review", answers="a\nx\na\nr\n")
    assert result.returncode == 0, result.stderr
    assert "3 record(s) waiting" in result.stdout and "please answer a, r, s or q" in result.stdout
    assert "2 accepted, 1 rejected, 0 skipped; 0 still pending" in result.stdout
    assert "is it safe for kids?" in result.stdout and "the better passage" in result.stdout
    pairs = [json.loads(line) for line in feedback_loop.pairs_path(data_dir).read_text().splitlines()]
    assert [(p["question"], p["quote"], p["source"]) for p in pairs] == [
        ("how much a day?", ANSWER.quote, "feedback"),
        ("is it safe for kids?", OTHER.quote, "feedback"),
    ]
    candidates = [json.loads(line) for line in feedback_loop.candidates_path(data_dir).read_text().splitlines()]
    assert [c["question"] for c in candidates] == ["is it safe for kids?"]  # the rejected one gives nothing
    # Nothing is left to review; quitting or running out of input leaves records pending.
    assert "No feedback waiting" in verbatim(data_dir, "review").stdout


def test_review_stops_at_quit_or_end_of_input_and_keeps_the_rest_pending(data_dir):
    assert "0 accepted, 0 rejected, 1 skipped; 3 still pending" in verbatim(data_dir, "review", answers="s\nq\n").stdout
    assert "1 accepted, 0 rejected, 0 skipped; 2 still pending" in verbatim(data_dir, "review", answers="a\n").stdout


def test_export_writes_json_lines_filtered_by_day(data_dir):
    everything = verbatim(data_dir, "export")
    assert everything.returncode == 0, everything.stderr
    rows = [json.loads(line) for line in everything.stdout.splitlines()]
    assert [row["id"] for row in rows] == [1, 2, 3] and rows[1]["chosen"]["quote"] == OTHER.quote
    today = utc_now().date().isoformat()
    assert [json.loads(line)["id"] for line in verbatim(data_dir, "export", "--since", today).stdout.splitlines()] == [2, 3]
    assert verbatim(data_dir, "export", "--since", "yesterday").returncode == 2


def test_purge_and_delete(data_dir):
    verbatim(data_dir, "review", answers="a\na\n")
    purged = verbatim(data_dir, "purge", "--older-than", "30")
    assert purged.returncode == 0 and "purged 1 record(s)" in purged.stdout
    deleted = verbatim(data_dir, "delete", "2")
    assert deleted.returncode == 0 and "deleted record 2 and 2 line(s)" in deleted.stdout, deleted.stdout
    assert [json.loads(line)["id"] for line in verbatim(data_dir, "export").stdout.splitlines()] == [3]
    # The purged record's reviewed pair stays (purge is about raw records); delete takes all.
    assert [json.loads(line)["id"] for line in feedback_loop.pairs_path(data_dir).read_text().splitlines()] == ["fb-000001"]
    missing = verbatim(data_dir, "delete", "99")
    assert missing.returncode == 1 and "no feedback record 99" in missing.stderr
