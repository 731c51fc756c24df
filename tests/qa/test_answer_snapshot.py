"""Every answer of the eval sets, compared with a stored snapshot (issue 23).

The snapshot (``tests/qa/answer_snapshot.jsonl``, one line per question) holds, for every
question of the dev and test splits, the reworded questions, the safety probes, the casual out-of-scope questions and every turn of
the follow-up conversations: whether it abstained and why (reason code), the answer's span, the
confidence (3 decimals), the disclaimer and its topics, how a follow-up was read, and every
passage (span, highlight, score to 3 decimals, evidence kind). A change meant to leave answers
alone must leave this test passing; a change that moves answers on purpose regenerates the file
in the same commit (and says so in its message):

    VERBATIM_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/qa/test_answer_snapshot.py

The diff of the file then shows which answers moved.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from eval.dialogs import load_dialogs, turn_of
from qa.training.dataset import load_questions
from qa.types import Answer

SNAPSHOT = Path(__file__).with_name("answer_snapshot.jsonl")
EVAL = Path(__file__).resolve().parents[2] / "eval"
QUESTION_SETS = {
    "eval": EVAL / "questions.jsonl",  # dev and test splits
    "reworded": EVAL / "reworded_questions.jsonl",
    "probe": EVAL / "safety_probes.jsonl",
    "casual": EVAL / "out_of_scope_casual.jsonl",
}
DIALOGS = EVAL / "dialogs.jsonl"
UPDATE = os.environ.get("VERBATIM_UPDATE_SNAPSHOT") == "1"


def _record(key: str, answer: Answer) -> dict:
    """What the snapshot keeps of one answer (floats to 3 decimals, compared within one rounding step: ``same``)."""
    return {
        "key": key,
        "abstained": answer.abstained,
        "reason_code": None if answer.reason_code is None else str(answer.reason_code),
        "answer": None if answer.abstained else [answer.answer_doc_id, answer.answer_start, answer.answer_end],
        "confidence": round(float(answer.confidence), 3),
        "disclaimer": answer.disclaimer is not None,
        "safety_topics": sorted(answer.safety_topics),
        "followup": answer.followup,
        "read_as": answer.read_as,
        "passages": [
            [p.doc_id, p.start, p.end, p.highlight_start, p.highlight_end, round(float(p.score), 3),
             None if p.evidence is None else p.evidence.kind]
            for p in answer.passages
        ],
    }


# A float stored to 3 decimals may round the other way on another host when it lies on the
# boundary (0.5555 -> 0.556 or 0.555): one step of the rounding is not a moved answer.
ROUNDING_STEP = 0.001


def same(new, old) -> bool:
    """Whether a record (or one of its fields) equals the stored one, floats within one rounding step."""
    if isinstance(new, float) and isinstance(old, float):
        return abs(new - old) <= ROUNDING_STEP * 1.01
    if isinstance(new, list) and isinstance(old, list):
        return len(new) == len(old) and all(same(a, b) for a, b in zip(new, old, strict=True))
    if isinstance(new, dict) and isinstance(old, dict):
        return new.keys() == old.keys() and all(same(new[key], old[key]) for key in new)
    return new == old


def _answer_everything(answerer) -> list[dict]:
    records = []
    for name, path in QUESTION_SETS.items():
        for question in load_questions(path):
            records.append(_record(f"{name}/{question.id}", answerer.run(question.question)))
    for dialog in load_dialogs(DIALOGS):
        history = []
        for position, turn in enumerate(dialog.turns):
            answer = answerer.run(turn.question, history=history)
            records.append(_record(f"dialog/{dialog.id}/{position}", answer))
            history.append(turn_of(turn.question, answer))
    return records


@pytest.mark.slow
def test_every_answer_matches_the_snapshot(answerer):
    records = _answer_everything(answerer)
    if UPDATE:
        SNAPSHOT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    stored = [json.loads(line) for line in SNAPSHOT.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert [r["key"] for r in records] == [r["key"] for r in stored], (
        "the question sets changed: regenerate the snapshot (see this module's docstring)"
    )
    moved = [
        f"{new['key']}: " + ", ".join(f"{field} {old[field]!r} -> {new[field]!r}" for field in new if not same(new[field], old[field]))
        for new, old in zip(records, stored, strict=True)
        if not same(new, old)
    ]
    assert not moved, f"{len(moved)} answers moved (regenerate on purpose only; see the docstring):\n" + "\n".join(moved[:20])


def test_a_float_one_rounding_step_away_is_the_same_answer():
    stored = {"confidence": 0.974, "passages": [["doc", 1, 9, 2, 5, 0.556, "caution"]], "abstained": False}
    assert same({**stored, "passages": [["doc", 1, 9, 2, 5, 0.555, "caution"]]}, stored)
    assert not same({**stored, "passages": [["doc", 1, 9, 2, 5, 0.554, "caution"]]}, stored)
    assert not same({**stored, "passages": [["doc", 1, 9, 2, 6, 0.556, "caution"]]}, stored)  # a moved span
    assert not same({**stored, "abstained": True}, stored)
    assert not same({**stored, "confidence": 0.972}, stored)
    assert not same({**stored, "passages": []}, stored)
