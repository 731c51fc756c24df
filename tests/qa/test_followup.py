"""The follow-up component (``qa/followup.py``): cue reading on small synthetic inputs, the
"tell me more" neighbourhood on the corpus index, and the answerer's conversation path."""

from __future__ import annotations

import numpy as np
import pytest

from qa.calibration import LinearModel
from qa.followup import (
    CARRIED,
    DECISION_FEATURES,
    MORE,
    SOURCES,
    FollowupCues,
    FollowupModel,
    FollowupResolver,
    Turn,
    asks_why,
    neighbourhood,
)

SUBJECT = frozenset({"glutamine"})


@pytest.fixture(scope="module")
def resolver() -> FollowupResolver:
    return FollowupResolver(FollowupCues.load())


# -- cues on synthetic questions -------------------------------------------------------------------


@pytest.mark.parametrize("question", ["tell me more", "Tell me more!", "ok so why?", "go on", "source?", "How so?", "why not?"])
def test_more_cues(resolver, question):
    assert resolver.is_more(question)


@pytest.mark.parametrize("question", ["Why does glutamine help the gut?", "tell me more about kidney damage and dosing", "more glutamine?"])
def test_a_more_cue_with_a_topic_of_its_own_is_not_more(resolver, question):
    assert not resolver.is_more(question)


@pytest.mark.parametrize("question", ["what does the other article say?", "Do the sources agree?", "do the two articles disagree?"])
def test_sources_cues(resolver, question):
    assert resolver.is_sources(question)


def test_without_history_the_question_stands(resolver):
    plan = resolver.run("How much glutamine for gut health?", [], SUBJECT)
    assert plan.kind is None and plan.read_as == "How much glutamine for gut health?"


def test_plans_by_kind(resolver):
    history = [Turn("Can glutamine help with leaky gut?", "doc", 10, 40)]
    more = resolver.run("tell me more", history, SUBJECT)
    assert more.kind == MORE and more.anchor == history[0] and "leaky gut" in more.read_as
    sources = resolver.run("what does the other article say?", history, SUBJECT)
    assert sources.kind == SOURCES and sources.other_document and "leaky gut" in sources.read_as
    carried = resolver.run("how much should I take for that?", history, SUBJECT)
    assert carried.kind == CARRIED
    assert carried.read_as == "how much should I take for leaky gut?"
    assert carried.combined == "Can glutamine help with leaky gut? how much should I take for that?"


def test_a_self_contained_new_question_is_not_carried(resolver):
    history = [Turn("Is glutamine safe with liver disease?", "doc", 10, 40)]
    assert resolver.run("Where is glutamine made in the body?", history, SUBJECT).kind is None
    assert resolver.run("and where is it made?", history, SUBJECT).kind == CARRIED


def test_a_more_question_after_an_abstention_has_no_anchor(resolver):
    plan = resolver.run("tell me more", [Turn("Does glutamine cure baldness?")], SUBJECT)
    assert plan.kind == MORE and plan.anchor is None


def test_the_topic_comes_from_the_last_self_contained_question(resolver):
    history = [
        Turn("How much glutamine should I take for gut health?", "d", 0, 5),
        Turn("what about athletes?", "d", 6, 9),
        Turn("tell me more", "d", 9, 12),
    ]
    assert resolver.context_question(history, SUBJECT) == "How much glutamine should I take for gut health? athletes"
    assert resolver.context_question(history[:1] + [Turn("What foods contain glutamine?")], SUBJECT) == "What foods contain glutamine?"


def test_readings_of_an_ellipsis(resolver):
    context = "How much glutamine should I take for gut health?"
    assert resolver.frame_reading("what about for athletes?", context, SUBJECT) == "How much glutamine should I take for athletes?"
    assert resolver.frame_reading("Is it safe?", context, SUBJECT) is None  # no topic of its own to put in
    assert resolver.carried_reading("is it safe for kids?", context, SUBJECT) == "is it safe for kids (gut health)?"
    plan = resolver.run("what about for athletes?", [Turn(context, "d", 0, 5)], SUBJECT)
    readings = resolver.carried_readings(plan, SUBJECT)
    assert readings[0] == plan.read_as
    assert readings == [plan.read_as, "How much glutamine should I take for athletes?"]


def test_why_questions(resolver):
    assert asks_why("Why?") and asks_why("source?") and not asks_why("tell me more")


def test_followup_model_round_trip_and_decision(tmp_path):
    model = FollowupModel(LinearModel(-1.0, {"opener": 3.0}), threshold=0.5, provenance={"data": "synthetic"})
    path = tmp_path / "followup.toml"
    path.write_text(model.to_toml(), encoding="utf-8")
    loaded = FollowupModel.load(path)
    assert set(loaded.model.weights) == set(DECISION_FEATURES)
    assert loaded.carry({"opener": 1.0}) and not loaded.carry({"opener": 0.0})
    assert loaded.provenance == {"data": "synthetic"}


# -- on the corpus index -----------------------------------------------------------------------------


def _answer_turn(answerer, question):
    answer = answerer.run(question)
    return answer, Turn(question, answer.answer_doc_id, answer.answer_start, answer.answer_end)


def test_more_never_quotes_the_earlier_answer_and_stays_in_its_document(answerer):
    answer, turn = _answer_turn(answerer, "What did the marathon study find?")
    vector = answerer.prepare("What did the marathon study find? tell me more").vector
    first, last = neighbourhood(answerer.store, turn, why=False, question_vector=vector)
    store = answerer.store
    start, end = int(store.sentence_start[first]), int(store.sentence_end[last])
    assert end <= turn.start or start >= turn.end
    assert store.documents[int(store.sentence_doc[first])].doc_id == turn.doc_id
    assert np.all(store.sentence_doc[first : last + 1] == store.sentence_doc[first])


def test_no_history_is_the_same_code_path(answerer):
    question = "How much glutamine should I take for gut health?"
    plain = answerer.run(question)
    direct = answerer.answer_query(answerer.prepare(question), question=question)
    assert (plain.answer, plain.passages, plain.disclaimer, plain.confidence) == (
        direct.answer, direct.passages, direct.disclaimer, direct.confidence)
    assert plain.followup is None and plain.read_as is None


def test_a_conversation_keeps_the_invariants(answerer):
    first, turn = _answer_turn(answerer, "Is glutamine safe with liver disease?")
    assert first.disclaimer
    history = [turn]
    for question in ("tell me more", "what does the other article say?", "how much should I take for that?"):
        answer = answerer.run(question, history=history)
        assert answer.read_as
        if answer.abstained:
            assert answer.answer == "" and answer.passages == []
            continue
        for passage in answer.passages:
            text = answerer.store.documents[answerer.store.doc_index[passage.doc_id]].text
            assert text[passage.start : passage.end] == passage.quote
        assert answer.answer in answer.passages[0].quote
        assert (answer.answer_doc_id, answer.answer_start, answer.answer_end) != (turn.doc_id, turn.start, turn.end)
    more = answerer.run("tell me more", history=history)
    assert more.followup == MORE and more.disclaimer, "a follow-up on a safety topic keeps the disclaimer"
    sources = answerer.run("what does the other article say?", history=history)
    if not sources.abstained:
        assert sources.followup == SOURCES and len({p.doc_id for p in sources.passages[:2]}) == 2
        assert sources.passages[0].doc_id != turn.doc_id


def test_more_after_an_abstention_abstains(answerer):
    answer = answerer.run("tell me more", history=[Turn("Does glutamine cure baldness?")])
    assert answer.abstained and answer.followup == MORE and answer.passages == []
