"""What a maintainer's review makes of feedback: training pairs and candidate eval questions.

An accepted record whose question was answered by a span people pointed at ("This one answered
it", or a "helpful" answer) becomes a training pair in ``<data_dir>/feedback.pairs.jsonl``, in
the pairs format ingest reads beside the corpus's own pairs (``"source": "feedback"``; the quote
and offsets are the stored span's). An accepted "not helpful" record becomes a candidate eval
question in ``<data_dir>/feedback.eval_candidates.jsonl``, in the eval set's row format with no
gold fact: the maintainer adds one (or marks it an abstention) before it counts, and nothing is
ever added to ``eval/questions.jsonl`` or its test split by this module.

Both files live in the data folder, never in the repository: they hold people's questions.
Writes are appends of whole lines, fsynced; a record's line is keyed by its id (``fb-<id>``), so
accepting twice writes once and ``delete`` can take a record out of every file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verbatim.feedback_store import FeedbackRecord, FeedbackStore, FeedbackStoreError

PAIRS_FILE = "feedback.pairs.jsonl"
CANDIDATES_FILE = "feedback.eval_candidates.jsonl"
# People phrase questions in their own words; the pairs format's "lay" style says so.
FEEDBACK_PAIR_STYLE = "lay"
FEEDBACK_CATEGORY = "feedback"


def pairs_path(data_dir: Path) -> Path:
    """The training pairs made from accepted feedback."""
    return Path(data_dir) / PAIRS_FILE


def candidates_path(data_dir: Path) -> Path:
    """The candidate eval questions made from accepted "not helpful" feedback."""
    return Path(data_dir) / CANDIDATES_FILE


def line_id(record_id: int) -> str:
    """The id a record's lines carry in the derived files."""
    return f"fb-{record_id:06d}"


def training_pair(record: FeedbackRecord) -> dict[str, Any] | None:
    """The training pair an accepted record gives, if any.

    The span people chose ("This one answered it") wins; otherwise a "helpful" verdict vouches
    for the answer's own span. A "not helpful" record without a chosen span gives none.

    Args:
        record: A feedback record.

    Returns:
        One pairs-file object, or None.
    """
    span = record.chosen or (record.answer if record.verdict == "helpful" else None)
    if span is None:
        return None
    return {
        "id": line_id(record.id),
        "question": record.question,
        "doc_id": span.doc_id,
        "start": span.start,
        "end": span.end,
        "quote": span.quote,
        "style": FEEDBACK_PAIR_STYLE,
        "source": "feedback",
    }


def eval_candidate(record: FeedbackRecord) -> dict[str, Any] | None:
    """The candidate eval question an accepted "not helpful" record gives, if any.

    The row has the eval set's fields with an empty ``gold``: the maintainer writes the gold fact
    (or sets ``abstain``) before the row is scored. ``abstain`` and ``disclaimer`` start from the
    reason given; ``feedback`` keeps what was shown, to help write the gold fact.

    Args:
        record: A feedback record.

    Returns:
        One eval row, or None.
    """
    if record.verdict != "not_helpful":
        return None
    return {
        "id": line_id(record.id),
        "split": FEEDBACK_CATEGORY,
        "category": FEEDBACK_CATEGORY,
        "question": record.question,
        "gold": [],
        "docs": [record.chosen.doc_id] if record.chosen else [],
        "disclaimer": record.reason == "missing_safety_notice",
        "abstain": record.reason == "should_abstain",
        "safety_topics": [],
        "feedback": {
            "reason": record.reason,
            "answer": record.answer.quote if record.answer else None,
            "chosen": record.chosen.quote if record.chosen else None,
            "read_as": record.read_as,
            "index_build": record.index_build,
        },
    }


def _ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    ids = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            ids.add(str(json.loads(line).get("id")))
    return ids


def _append(path: Path, row: dict[str, Any]) -> bool:
    """Append one JSON line unless a line with the same id is there. Returns whether written."""
    if row["id"] in _ids(path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _drop_lines(path: Path, row_id: str) -> int:
    """Rewrite ``path`` without the lines of ``row_id`` (atomically). Returns lines removed."""
    if not path.exists():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.strip() or str(json.loads(line).get("id")) != row_id]
    removed = len(lines) - len(kept)
    if removed:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.writelines(kept)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    return removed


@dataclass(frozen=True)
class Decision:
    """What accepting or rejecting a record did.

    Attributes:
        record_id: The record.
        status: ``accepted`` or ``rejected``.
        pair: The training pair written (None when the record gives none or it was there).
        candidate: The candidate eval question written (likewise).
    """

    record_id: int
    status: str
    pair: dict[str, Any] | None = None
    candidate: dict[str, Any] | None = None


def accept(store: FeedbackStore, record_id: int, data_dir: Path) -> Decision:
    """Accept a record: write its pair and/or eval candidate, then mark it accepted.

    The files are written first, so a crash in between leaves the record pending and a second
    accept writes nothing twice.

    Raises:
        FeedbackStoreError: Unknown record.
    """
    record = store.get(record_id)
    if record is None:
        raise FeedbackStoreError(f"no feedback record {record_id}")
    pair, candidate = training_pair(record), eval_candidate(record)
    wrote_pair = pair is not None and _append(pairs_path(data_dir), pair)
    wrote_candidate = candidate is not None and _append(candidates_path(data_dir), candidate)
    store.set_status(record_id, "accepted")
    return Decision(record_id, "accepted", pair if wrote_pair else None, candidate if wrote_candidate else None)


def reject(store: FeedbackStore, record_id: int) -> Decision:
    """Reject a record (nothing is derived from it)."""
    store.set_status(record_id, "rejected")
    return Decision(record_id, "rejected")


def delete_everywhere(store: FeedbackStore, record_id: int, data_dir: Path) -> tuple[bool, int]:
    """Delete a record and every line derived from it (a person's request to be forgotten).

    Returns:
        Whether the record existed, and how many derived lines were removed.
    """
    existed = store.delete(record_id)
    derived = sum(_drop_lines(path, line_id(record_id)) for path in (pairs_path(data_dir), candidates_path(data_dir)))
    return existed, derived
