"""The conversation set (``eval/dialogs.jsonl``) and the follow-up scorer (``eval/dialogs.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.dialogs import DEFAULT_TRAIN_DIALOGS, Dialog, DialogTurn, load_dialogs, score_dialogs, turn_of
from qa.training.dataset import normalise
from qa.types import Answer, Passage

CORPUS = Path(__file__).resolve().parents[2] / "corpus"


def _assert_well_formed_with_verbatim_gold(dialogs: list[Dialog]) -> None:
    """Two or three turns each, ids used once, and every answerable turn's gold in the sources."""
    assert all(2 <= len(d.turns) <= 3 for d in dialogs)
    assert len({d.id for d in dialogs}) == len(dialogs)
    text = normalise(" ".join(path.read_text(encoding="utf-8") for path in sorted(CORPUS.glob("*.txt"))))
    for dialog in dialogs:
        for turn in dialog.turns:
            assert turn.abstain or turn.gold, f"{dialog.id}: an answerable turn needs gold"
            for fact in turn.gold:
                assert normalise(fact) in text, f"{dialog.id}: {fact!r} is not in the sources"


def test_the_set_is_large_split_and_its_gold_is_verbatim():
    dialogs = load_dialogs()
    assert len(dialogs) >= 80
    assert {d.split for d in dialogs} == {"dev", "test"}
    _assert_well_formed_with_verbatim_gold(dialogs)


def test_the_training_conversations_are_their_own_split_with_verbatim_gold():
    train = load_dialogs(DEFAULT_TRAIN_DIALOGS)
    assert len(train) >= 60
    assert {d.split for d in train} == {"train"}
    assert not {d.id for d in train} & {d.id for d in load_dialogs()}
    kinds = {turn.followup for d in train for turn in d.turns[1:]}
    assert kinds == {"carried", "more", "sources", None}
    _assert_well_formed_with_verbatim_gold(train)


@pytest.mark.parametrize(
    ("dialogs", "message"),
    [
        ([Dialog("x", "dev", (DialogTurn("q", ("glutamine",), False, False),))], None),  # one turn
        ([Dialog("x", "dev", (DialogTurn("q", (), False, False), DialogTurn("more", (), False, True, "more")))], "needs gold"),
        ([Dialog("x", "dev", (DialogTurn("q", ("moon cheese",), False, False), DialogTurn("more", (), False, True, "more")))],
         "not in the sources"),
    ],
)
def test_the_set_check_fails_on_a_bad_conversation(dialogs, message):
    with pytest.raises(AssertionError, match=message):
        _assert_well_formed_with_verbatim_gold(dialogs)


def test_malformed_conversations_are_refused(tmp_path):
    one_turn = tmp_path / "one.jsonl"
    one_turn.write_text(json.dumps({"id": "x", "split": "dev", "turns": [{"question": "q"}]}) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="at least two turns"):
        load_dialogs(one_turn)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "x", "split": "dev"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="broken.jsonl:1"):
        load_dialogs(broken)


def test_history_entries_are_what_a_client_keeps():
    passage = Passage("doc", "T", "S", "abcdef", 10, 16, 0.9, 12, 14)
    answered = Answer("q", "cd", False, 0.9, [passage], answer_doc_id="doc", answer_start=12, answer_end=14)
    assert turn_of("q", answered).doc_id == "doc" and (turn_of("q", answered).start, turn_of("q", answered).end) == (12, 14)
    abstained = Answer("q", "", True, 0.1, [])
    assert not turn_of("q", abstained).answered


def test_scoring_a_small_conversation(answerer):
    dialogs = [
        Dialog("t1", "dev", (
            DialogTurn("Who should avoid glutamine?", ("liver disease",), True, False),
            DialogTurn("tell me more", ("ammonia", "Liver disease", "Kidney issues", "medications", "cancers"), True, False, "more"),
        )),
        Dialog("t2", "dev", (
            DialogTurn("Does glutamine cure baldness?", (), False, True),
            DialogTurn("tell me more", (), False, True, "more"),
        )),
    ]
    scores = score_dialogs(answerer, dialogs)
    assert scores.turns == 2 and scores.answerable == 1 and scores.unanswerable == 1
    assert scores.abstained == 1 and scores.repeats == 0 and scores.violations == 0
    assert scores.disclaimer_expected == 1 and scores.disclaimer_right == 1
    assert scores.by_kind["more"][0] == 2
