"""Fact dropout (qa/training/fact_dropout.py): each fitting question's dropout view withholds
the training questions of its fact group's gold sentences and keeps every other group's.
Synthetic index and questions, no model."""

from __future__ import annotations

import numpy as np

from qa.pair_memory import PairMemory
from qa.training.dataset import EvalQuestion
from qa.training.fact_dropout import dropout_views
from tests.qa.synthetic import Block, build_store
from verbatim.index_format import BlockKind as K

SENTENCES = ["Take five grams daily.", "Split it into two doses.", "Powder mixes easily.", "Capsules hold fillers."]


def _question(qid: str, gold: str | None) -> EvalQuestion:
    return EvalQuestion(id=qid, split="dev", category="fact", question=f"question {qid}",
                        gold=(gold,) if gold else (), docs=("guide",), disclaimer=False, abstain=gold is None)


def test_each_question_loses_its_groups_training_questions_and_keeps_the_others():
    store = build_store({"guide": [Block(K.PARAGRAPH, SENTENCES)]})
    # One training question per sentence (question k answered by sentence k, vector axis 20 + k).
    memory = PairMemory.from_columns({
        "vectors": np.eye(4, 32, 20, dtype=np.float32),
        "doc_ids": np.array(["guide"] * 4, dtype=str),
        "start": np.array([int(store.sentence_start[k]) for k in range(4)], np.int32),
        "end": np.array([int(store.sentence_end[k]) for k in range(4)], np.int32),
    })
    questions = [
        _question("a", "five grams"), _question("b", "five grams daily"),  # share sentence 0: one group
        _question("c", "two doses"), _question("d", "mixes easily"),
        _question("oos", None),  # out of scope: in no group
    ]
    views = dropout_views(store, memory, questions, groups=2)
    assert views.for_question("oos") is None
    assert views.group_of["a"] == views.group_of["b"]
    for qid, gold_sentence in (("a", 0), ("b", 0), ("c", 1), ("d", 2)):
        seen = views.for_question(qid)
        evidence = seen.evidence(store, np.arange(4), np.eye(1, 32, 20 + gold_sentence, dtype=np.float32)[0])
        assert evidence.missing[gold_sentence] == 1.0, qid  # its own fact has no training question left
        assert evidence.missing[3] == 0.0  # no dev question's fact: kept in every view
    # Dealt largest first to the emptiest group: {a, b} (sentence 0), then {c} and {d} together.
    assert views.group_of == {"a": 0, "b": 0, "c": 1, "d": 1}
    assert [len(m) for m in views.memories] == [3, 2]
    # Each view keeps the other group's training questions.
    a, c = views.for_question("a"), views.for_question("c")
    assert a.evidence(store, np.array([1]), np.eye(1, 32, 21, dtype=np.float32)[0]).missing[0] == 0.0
    assert c.evidence(store, np.array([0]), np.eye(1, 32, 20, dtype=np.float32)[0]).missing[0] == 0.0
