"""The feedback store: what people said about answers, in one SQLite file in the data folder.

Used by the web app (``POST /api/feedback`` adds records), the CLI (``verbatim feedback``
reviews, exports, purges and deletes them) and the eval (accepted questions as their own
category); it imports nothing from any of them.

The file is ``<data_dir>/feedback.sqlite3`` (``VERBATIM_DATA``, default ``data/``), kept apart
from the index: an ingest never touches it and deleting the index loses no feedback. SQLite in
WAL mode lets one writer and many readers work at once, from threads and from processes on the
same machine (the server and the CLI), and a process killed mid-write leaves the last committed
transaction intact. ``synchronous=NORMAL`` makes a commit durable against a killed process (the
write-ahead log is in the operating system's hands when ``commit`` returns); a power cut may
lose the last few commits but never corrupts the file.

The schema is versioned (table ``schema_version``); :data:`MIGRATIONS` lists the statements
that bring a file from each version to the next, applied in one transaction on open. A file
from a newer Verbatim is refused rather than guessed at.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

STORE_FILE = "feedback.sqlite3"
VERDICTS = ("helpful", "not_helpful")
REASONS = ("wrong_passage", "should_abstain", "should_answer", "missing_safety_notice", "other")
STATUSES = ("pending", "accepted", "rejected")
BUSY_TIMEOUT_MS = 10_000
# Automatic purges run at start-up and then at most this often (each is one indexed DELETE).
PURGE_EVERY_SECONDS = 3600.0

# MIGRATIONS[n] brings a file from schema version n to n + 1. Append, never edit.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE feedback (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            question TEXT NOT NULL,
            verdict TEXT NOT NULL CHECK (verdict IN ('helpful', 'not_helpful')),
            reason TEXT CHECK (reason IS NULL OR reason IN
                ('wrong_passage', 'should_abstain', 'should_answer', 'missing_safety_notice', 'other')),
            answer TEXT,
            chosen TEXT,
            read_as TEXT,
            history TEXT,
            index_build TEXT,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
            reviewed_at TEXT
        )""",
        "CREATE INDEX feedback_created_at ON feedback (created_at)",
        "CREATE INDEX feedback_status ON feedback (status, id)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class FeedbackStoreError(Exception):
    """The store cannot be used as asked (newer schema, unknown record)."""


class FeedbackStoreUnavailable(FeedbackStoreError):
    """The data folder cannot be written (read-only, full disk, missing permissions)."""


@dataclass(frozen=True)
class Span:
    """A stretch of a document's canonical text, with the text itself.

    Attributes:
        doc_id: Document id.
        start: Start offset in the canonical text.
        end: End offset.
        quote: ``canonical[start:end]`` when the feedback was sent.
    """

    doc_id: str
    start: int
    end: int
    quote: str


@dataclass(frozen=True)
class NewFeedback:
    """Feedback as a person sent it (validated), before it has an id.

    Attributes:
        question: The question asked, as typed.
        verdict: ``helpful`` or ``not_helpful``.
        reason: Why not helpful (one of :data:`REASONS`), or None.
        answer: The answer's span (the first passage's highlight), None for an abstention.
        chosen: The span of another passage shown that answered the question ("This one
            answered it"), or None.
        read_as: How the question was read in the conversation (follow-ups), if any.
        history: The conversation as sent to ``/api/ask``, if any.
        index_build: Name of the index build that gave the answer.
    """

    question: str
    verdict: str
    reason: str | None = None
    answer: Span | None = None
    chosen: Span | None = None
    read_as: str | None = None
    history: list[Any] | None = None
    index_build: str | None = None


@dataclass(frozen=True)
class FeedbackRecord(NewFeedback):
    """A stored feedback record.

    Attributes:
        id: Record id (what ``POST /api/feedback`` returns).
        created_at: When it was stored (UTC, ISO 8601).
        status: ``pending``, ``accepted`` or ``rejected``.
        reviewed_at: When a maintainer decided (UTC, ISO 8601), or None.
    """

    id: int = 0
    created_at: str = ""
    status: str = "pending"
    reviewed_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as one JSON object (the export format)."""
        return asdict(self)


def utc_now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _span_json(span: Span | None) -> str | None:
    return None if span is None else json.dumps(asdict(span), ensure_ascii=False)


def _span(text: str | None) -> Span | None:
    if text is None:
        return None
    raw = json.loads(text)
    return Span(doc_id=str(raw["doc_id"]), start=int(raw["start"]), end=int(raw["end"]), quote=str(raw["quote"]))


def _record(row: sqlite3.Row) -> FeedbackRecord:
    return FeedbackRecord(
        id=row["id"],
        created_at=row["created_at"],
        question=row["question"],
        verdict=row["verdict"],
        reason=row["reason"],
        answer=_span(row["answer"]),
        chosen=_span(row["chosen"]),
        read_as=row["read_as"],
        history=json.loads(row["history"]) if row["history"] is not None else None,
        index_build=row["index_build"],
        status=row["status"],
        reviewed_at=row["reviewed_at"],
    )


def _unavailable(error: sqlite3.Error, path: Path) -> FeedbackStoreUnavailable:
    return FeedbackStoreUnavailable(f"the feedback store {path} cannot be written ({error})")


# SQLite's result codes for "cannot write here" (read-only file or folder, full disk, no file).
_UNAVAILABLE_CODES = {
    getattr(sqlite3, name)
    for name in ("SQLITE_READONLY", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_PERM", "SQLITE_AUTH")
    if hasattr(sqlite3, name)
}


def _is_unavailable(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _UNAVAILABLE_CODES
    return isinstance(error, sqlite3.OperationalError)


class FeedbackStore:
    """The feedback records of one data folder.

    The connection is opened on first use (so a read-only or full data folder does not stop a
    server from starting and answering questions; each call then raises
    :class:`FeedbackStoreUnavailable` until the folder is writable again). One connection is
    shared by the threads of a process behind a lock; other processes open their own.

    Args:
        data_dir: The data folder (created when missing).
        retention_days: Records older than this are purged automatically (on open, then at
            most hourly while adding); 0 keeps them.
    """

    def __init__(self, data_dir: Path, retention_days: int = 0) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / STORE_FILE
        self.retention_days = retention_days
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._last_purge = 0.0

    # -- connection and schema ----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None:
            return self._connection
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as error:
            raise FeedbackStoreUnavailable(f"the feedback store {self.path} cannot be opened ({error})") from error
        connection.row_factory = sqlite3.Row
        try:
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = connection.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise FeedbackStoreUnavailable(f"the feedback store {self.path} cannot use WAL mode (got {mode})")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
            self._migrate(connection)
        except sqlite3.Error as error:
            connection.close()
            if _is_unavailable(error):
                raise _unavailable(error, self.path) from error
            raise
        except FeedbackStoreError:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _migrate(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = connection.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if row is None:
                connection.execute("INSERT INTO schema_version (version) VALUES (0)")
            if version > SCHEMA_VERSION:
                raise FeedbackStoreError(
                    f"{self.path} has schema version {version}, newer than this Verbatim's {SCHEMA_VERSION}; "
                    "upgrade Verbatim to read it"
                )
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    connection.execute(statement)
            connection.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        """The schema version of the open file."""
        return int(self._run(lambda db: db.execute("SELECT version FROM schema_version").fetchone()[0]))

    def close(self) -> None:
        """Close the connection (the next call reopens it)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _run(self, work):
        """Run ``work(connection)`` under the lock, mapping "cannot write" errors."""
        with self._lock:
            connection = self._connect()
            try:
                return work(connection)
            except sqlite3.Error as error:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                if _is_unavailable(error):
                    # Drop the connection: the folder may be fixed, and a fresh open retries.
                    connection.close()
                    self._connection = None
                    raise _unavailable(error, self.path) from error
                raise

    # -- writing ------------------------------------------------------------------------------

    def add(self, feedback: NewFeedback, now: datetime | None = None) -> int:
        """Store one record (status ``pending``).

        Args:
            feedback: The validated feedback.
            now: Time of the record (default: now).

        Returns:
            The new record's id.

        Raises:
            FeedbackStoreUnavailable: The data folder cannot be written.
        """
        moment = now or utc_now()
        self._purge_if_due()

        def insert(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO feedback (created_at, question, verdict, reason, answer, chosen, read_as, history, index_build)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _iso(moment),
                    feedback.question,
                    feedback.verdict,
                    feedback.reason,
                    _span_json(feedback.answer),
                    _span_json(feedback.chosen),
                    feedback.read_as,
                    None if feedback.history is None else json.dumps(feedback.history, ensure_ascii=False),
                    feedback.index_build,
                ),
            )
            return int(cursor.lastrowid)

        return self._run(insert)

    def set_status(self, record_id: int, status: str, now: datetime | None = None) -> None:
        """Record a maintainer's decision.

        Raises:
            FeedbackStoreError: Unknown record or status.
        """
        if status not in STATUSES:
            raise FeedbackStoreError(f"status must be one of {', '.join(STATUSES)}")
        reviewed = None if status == "pending" else _iso(now or utc_now())
        changed = self._run(
            lambda db: db.execute("UPDATE feedback SET status = ?, reviewed_at = ? WHERE id = ?", (status, reviewed, record_id)).rowcount
        )
        if not changed:
            raise FeedbackStoreError(f"no feedback record {record_id}")

    def delete(self, record_id: int) -> bool:
        """Delete one record.

        Returns:
            Whether it existed.
        """
        return bool(self._run(lambda db: db.execute("DELETE FROM feedback WHERE id = ?", (record_id,)).rowcount))

    def purge_older_than(self, days: float, now: datetime | None = None) -> int:
        """Delete every record stored more than ``days`` days ago.

        Returns:
            How many were deleted.
        """
        cutoff = _iso((now or utc_now()) - timedelta(days=days))
        return int(self._run(lambda db: db.execute("DELETE FROM feedback WHERE created_at < ?", (cutoff,)).rowcount))

    def purge_expired(self) -> int:
        """Apply the retention: delete records older than ``retention_days`` (0: keep all).

        Returns:
            How many were deleted.
        """
        if self.retention_days <= 0:
            return 0
        self._last_purge = time.monotonic()
        return self.purge_older_than(self.retention_days)

    def _purge_if_due(self) -> None:
        if self._last_purge and time.monotonic() - self._last_purge < PURGE_EVERY_SECONDS:
            return
        self.purge_expired()

    # -- reading ------------------------------------------------------------------------------

    def get(self, record_id: int) -> FeedbackRecord | None:
        """One record, or None."""
        row = self._run(lambda db: db.execute("SELECT * FROM feedback WHERE id = ?", (record_id,)).fetchone())
        return _record(row) if row else None

    def count(self, status: str | None = None) -> int:
        """Records stored (of one status, or all)."""
        if status is None:
            return int(self._run(lambda db: db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]))
        return int(self._run(lambda db: db.execute("SELECT COUNT(*) FROM feedback WHERE status = ?", (status,)).fetchone()[0]))

    def records(self, status: str | None = None, since: date | None = None) -> Iterator[FeedbackRecord]:
        """Records in id order, optionally of one status and stored on or after a day (UTC).

        Read in pages, so exporting a large store does not hold the lock or the memory.
        """
        last = 0
        since_text = since.isoformat() if since else ""
        while True:
            clauses, values = ["id > ?", "created_at >= ?"], [last, since_text]
            if status is not None:
                clauses.append("status = ?")
                values.append(status)
            query = f"SELECT * FROM feedback WHERE {' AND '.join(clauses)} ORDER BY id LIMIT 500"  # noqa: S608 - fixed clauses
            rows = self._run(lambda db, q=query, v=tuple(values): db.execute(q, v).fetchall())
            if not rows:
                return
            for row in rows:
                yield _record(row)
            last = rows[-1]["id"]

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok" when the file is sound)."""
        return str(self._run(lambda db: db.execute("PRAGMA integrity_check").fetchone()[0]))


def open_store(data_dir: Path, retention_days: int = 0) -> FeedbackStore:
    """A store of ``data_dir`` (opened, migrated and purged now, so problems show at once).

    Raises:
        FeedbackStoreUnavailable: The data folder cannot be written.
    """
    store = FeedbackStore(data_dir, retention_days)
    store.purge_expired()
    store.schema_version()
    return store
