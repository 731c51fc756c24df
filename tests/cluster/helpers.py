"""What the cluster tests share: running the CLI as an operator does, and comparing builds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from eval.bench.local_cluster import nice_command
from qa.pipeline import Answerer
from tests.conftest import REPO
from verbatim import index_format
from verbatim.settings import Settings
from web.schemas import answer_to_response

# Niceness of the cluster's nodes and of the `verbatim` commands the tests run (the machine is
# shared): 10, or the test session's own when it is run niced further.
NICENESS = 10
# Manifest entries that name the moment or the machine of a build, not its content.
VOLATILE = {"built_at", "build_seconds", "files"}


def run_cli(*arguments: str, env_extra: dict[str, str] | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    """``verbatim ...`` in a fresh process (as an operator runs it), niced (:data:`NICENESS`)."""
    env = dict(os.environ, PYTHONPATH=str(REPO), RAY_USAGE_STATS_ENABLED="0", **(env_extra or {}))
    return subprocess.run(
        [*nice_command(NICENESS), sys.executable, "-m", "verbatim.cli", *arguments],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )


def assert_same_build(expected_dir: Path, actual_dir: Path, embedder) -> None:
    """Same manifest (hashes, counts, documents), same tables, vectors within 1e-5."""
    expected = index_format.load_build(expected_dir, embedder.name, None)  # each index names its own model
    actual = index_format.load_build(actual_dir, embedder.name, None)
    strip = lambda manifest: {key: value for key, value in manifest.items() if key not in VOLATILE}  # noqa: E731
    assert strip(actual.manifest) == strip(expected.manifest)
    for table in ("blocks", "sentences", "chunks"):
        expected_table, actual_table = getattr(expected, table), getattr(actual, table)
        assert expected_table.keys() == actual_table.keys()
        for column in expected_table:
            np.testing.assert_array_equal(actual_table[column], expected_table[column], err_msg=f"{table}.{column}")
    assert actual.documents == expected.documents
    assert actual.vocabulary == expected.vocabulary
    for name in ("sentence_vectors", "chunk_vectors", "sentence_hubness"):
        np.testing.assert_allclose(getattr(actual, name), getattr(expected, name), atol=1e-5, rtol=0, err_msg=name)


def responses(answerer: Answerer, questions: list[str]) -> list[dict]:
    """What the API would return for each question."""
    return [answer_to_response(answerer.run(question)).model_dump() for question in questions]


def conversation_responses(answerer: Answerer, questions: list[str]) -> list[dict]:
    """What the API returns for each turn of a conversation, each turn's history kept as a client
    keeps it (the first passage's highlighted span)."""
    from eval.dialogs import turn_of

    history, found = [], []
    for question in questions:
        answer = answerer.run(question, history=history)
        found.append(answer_to_response(answer).model_dump())
        history.append(turn_of(question, answer))
    return found


def dialog_questions() -> list[tuple[str, list[str]]]:
    """The dialog eval set's conversations: (id, questions)."""
    from eval.dialogs import load_dialogs

    return [(dialog.id, [turn.question for turn in dialog.turns]) for dialog in load_dialogs()]


def warm_answerer(index_dir: Path, embedder) -> Answerer:
    """An answerer over ``index_dir``, its model and index loaded."""
    answerer = Answerer(Settings.from_env(index_dir=index_dir), embedder=embedder)
    answerer.warm_up()
    return answerer


class WholeIndex:
    """A warm answerer over a whole (unsharded) build and the responses it gave, kept for the
    session: several tests compare the cluster's answers with the same build's answers to the same
    questions, so each question is answered, and the build loaded, once.

    Args:
        index_dir: The build's index folder (read only).
        embedder: The session's warm model.
    """

    def __init__(self, index_dir: Path, embedder) -> None:
        self.index_dir = index_dir
        self.answerer = warm_answerer(index_dir, embedder)
        self._responses: dict[str, dict] = {}

    def responses(self, questions: list[str]) -> list[dict]:
        """What the API would return for each question (no history)."""
        for question in dict.fromkeys(questions):
            if question not in self._responses:
                self._responses[question] = answer_to_response(self.answerer.run(question)).model_dump()
        return [self._responses[question] for question in questions]


def assert_same_answers(whole: WholeIndex, other: Answerer, questions: list[str]) -> None:
    """Every question gets the same response (answer, passages, offsets, confidence) from both."""
    for question, wanted, found in zip(questions, whole.responses(questions), responses(other, questions), strict=True):
        assert found == wanted, question


def eval_questions() -> list[str]:
    """The seed corpus's eval questions (all splits)."""
    rows = (json.loads(line) for line in (REPO / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip())
    return [row["question"] for row in rows]


def medquad_questions(index_dir: Path, count: int) -> list[str]:
    """Questions about the titles of a MedQuAD build's first and last documents."""
    titles = [document["title"] for document in index_format.read_manifest(index_dir)["documents"]]
    questions = [f"What is {title}?" for title in titles[: count // 2]]
    return questions + [f"How is {title} treated?" for title in titles[-(count - count // 2) :]]
