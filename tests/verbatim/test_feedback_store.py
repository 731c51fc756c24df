"""The feedback store (SQLite, WAL, versioned schema) and what review makes of its records."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from verbatim import feedback_loop
from verbatim.feedback_store import (
    SCHEMA_VERSION,
    STORE_FILE,
    FeedbackStore,
    FeedbackStoreError,
    NewFeedback,
    Span,
    open_store,
    utc_now,
)
from verbatim.settings import Settings

ANSWER = Span("glutamine-faq", 10, 30, "the answer sentence.")
OTHER = Span("glutamine-benefits-research", 100, 140, "the passage that answered it instead....")


def feedback(**changes) -> NewFeedback:
    values = {"question": "how much glutamine a day?", "verdict": "helpful", "answer": ANSWER, "index_build": "build-1"}
    return NewFeedback(**{**values, **changes})


@pytest.fixture
def store(tmp_path):
    handle = open_store(tmp_path)
    yield handle
    handle.close()


def test_a_new_store_is_in_wal_mode_at_the_current_schema_version(store, tmp_path):
    assert (tmp_path / STORE_FILE).exists()
    assert store.schema_version() == SCHEMA_VERSION
    with sqlite3.connect(tmp_path / STORE_FILE) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_record_round_trips_with_every_field(store):
    record_id = store.add(feedback(verdict="not_helpful", reason="wrong_passage", chosen=OTHER, read_as="r", history=[{"q": 1}]))
    record = store.get(record_id)
    assert (record.question, record.verdict, record.reason, record.read_as, record.history) == (
        "how much glutamine a day?", "not_helpful", "wrong_passage", "r", [{"q": 1}]
    )
    assert record.answer == ANSWER and record.chosen == OTHER and record.index_build == "build-1"
    assert record.status == "pending" and record.reviewed_at is None and record.created_at
    assert json.loads(json.dumps(record.to_json()))["answer"]["quote"] == ANSWER.quote


def test_an_old_file_is_migrated_and_a_newer_one_is_refused(tmp_path):
    # Version 0: a file made before the schema existed (only the version table, empty).
    with sqlite3.connect(tmp_path / STORE_FILE) as raw:
        raw.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    store = open_store(tmp_path)
    assert store.schema_version() == SCHEMA_VERSION and store.add(feedback()) == 1
    store.close()
    with sqlite3.connect(tmp_path / STORE_FILE) as raw:
        raw.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(FeedbackStoreError, match="newer than this Verbatim"):
        open_store(tmp_path)


def test_the_database_refuses_values_the_api_never_sends(store):
    with pytest.raises(sqlite3.IntegrityError):
        store.add(feedback(verdict="great"))
    with pytest.raises(FeedbackStoreError):
        store.set_status(999, "accepted")


def test_purge_and_retention_remove_only_old_records(tmp_path):
    store = open_store(tmp_path, retention_days=30)
    old = store.add(feedback(), now=utc_now() - timedelta(days=45))
    middle = store.add(feedback(), now=utc_now() - timedelta(days=10))
    new = store.add(feedback())
    assert store.purge_older_than(5) == 2 and store.get(old) is None and store.get(middle) is None and store.get(new)
    store.close()
    # Retention is applied when a store is opened (server start, any CLI command).
    store = FeedbackStore(tmp_path)
    store.add(feedback(), now=utc_now() - timedelta(days=45))
    store.close()
    store = open_store(tmp_path, retention_days=30)
    assert [record.id for record in store.records()] == [new]
    assert store.get(old) is None
    store.close()


def test_records_filter_by_status_and_day_and_page_through_everything(store):
    ids = [store.add(feedback(), now=utc_now() - timedelta(days=3)) for _ in range(3)]
    ids += [store.add(feedback()) for _ in range(600)]
    store.set_status(ids[0], "accepted")
    assert len(list(store.records())) == 603
    assert [r.id for r in store.records(status="accepted")] == [ids[0]]
    assert len(list(store.records(since=utc_now().date()))) == 600


def test_threads_and_a_second_process_handle_write_at_once(tmp_path):
    first, second = FeedbackStore(tmp_path), FeedbackStore(tmp_path)  # two connections, as two processes have

    def write(handle):
        for _ in range(100):
            handle.add(feedback())

    threads = [threading.Thread(target=write, args=(handle,)) for handle in (first, first, second, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert first.count() == 400 and second.integrity_check() == "ok"
    first.close()
    second.close()


def test_a_data_folder_that_is_a_file_makes_the_store_unavailable_not_broken(tmp_path):
    from verbatim.feedback_store import FeedbackStoreUnavailable

    blocked = tmp_path / "data"
    blocked.write_text("not a folder")
    store = FeedbackStore(blocked)
    with pytest.raises(FeedbackStoreUnavailable):
        store.add(feedback())


# -- review outcomes ------------------------------------------------------------------------------


def test_accepting_helpful_writes_a_pair_of_the_answer_span(store, tmp_path):
    record_id = store.add(feedback())
    decision = feedback_loop.accept(store, record_id, tmp_path)
    assert decision.candidate is None and store.get(record_id).status == "accepted"
    rows = [json.loads(line) for line in feedback_loop.pairs_path(tmp_path).read_text().splitlines()]
    assert rows == [
        {
            "id": f"fb-{record_id:06d}", "question": "how much glutamine a day?", "doc_id": ANSWER.doc_id,
            "start": ANSWER.start, "end": ANSWER.end, "quote": ANSWER.quote, "style": "lay", "source": "feedback",
        }
    ]
    # Accepting again (e.g. after a crash between the file and the status) writes nothing twice.
    assert feedback_loop.accept(store, record_id, tmp_path).pair is None
    assert len(feedback_loop.pairs_path(tmp_path).read_text().splitlines()) == 1


def test_accepting_this_one_answered_it_pairs_the_chosen_span_and_makes_an_eval_candidate(store, tmp_path):
    record_id = store.add(feedback(verdict="not_helpful", reason="wrong_passage", chosen=OTHER))
    decision = feedback_loop.accept(store, record_id, tmp_path)
    assert decision.pair["quote"] == OTHER.quote and decision.pair["doc_id"] == OTHER.doc_id
    candidate = json.loads(feedback_loop.candidates_path(tmp_path).read_text())
    assert candidate["gold"] == [] and candidate["split"] == "feedback" and candidate["docs"] == [OTHER.doc_id]
    assert candidate["feedback"]["answer"] == ANSWER.quote


def test_accepting_not_helpful_without_a_span_gives_only_a_candidate_and_rejecting_gives_nothing(store, tmp_path):
    abstain = store.add(feedback(verdict="not_helpful", reason="should_abstain"))
    rejected = store.add(feedback())
    assert feedback_loop.accept(store, abstain, tmp_path).pair is None
    assert json.loads(feedback_loop.candidates_path(tmp_path).read_text())["abstain"] is True
    feedback_loop.reject(store, rejected)
    assert store.get(rejected).status == "rejected" and not feedback_loop.pairs_path(tmp_path).exists()


def test_delete_everywhere_removes_the_record_and_its_lines(store, tmp_path):
    keep = store.add(feedback())
    gone = store.add(feedback(verdict="not_helpful", reason="wrong_passage", chosen=OTHER))
    for record_id in (keep, gone):
        feedback_loop.accept(store, record_id, tmp_path)
    assert feedback_loop.delete_everywhere(store, gone, tmp_path) == (True, 2)
    assert store.get(gone) is None and store.get(keep)
    assert [json.loads(line)["id"] for line in feedback_loop.pairs_path(tmp_path).read_text().splitlines()] == [f"fb-{keep:06d}"]
    assert feedback_loop.candidates_path(tmp_path).read_text() == ""


def test_the_data_folder_and_retention_come_from_the_environment(monkeypatch, tmp_path):
    assert (Settings().data_dir, Settings().feedback_days) == (Path("data"), 90)
    monkeypatch.setenv("VERBATIM_DATA", str(tmp_path))
    monkeypatch.setenv("VERBATIM_FEEDBACK_DAYS", "7")
    settings = Settings.from_env()
    assert (settings.data_dir, settings.feedback_days) == (tmp_path, 7)
    assert Settings.from_env(data_dir=str(tmp_path / "flag")).data_dir == tmp_path / "flag"
