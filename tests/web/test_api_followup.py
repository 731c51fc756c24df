"""``POST /api/ask`` with a conversation's ``history``: validation, the new fields, invariants."""

from __future__ import annotations

import html
import json
import re

import pytest

from verbatim.feedback_store import FeedbackStore

FIRST = "Can glutamine help with leaky gut?"


@pytest.fixture(scope="module")
def documents(client):
    return {d["id"]: client.get(f"/api/documents/{d['id']}").json() for d in client.get("/api/documents").json()}


@pytest.fixture(scope="module")
def first_turn(client):
    body = client.post("/api/ask", json={"question": FIRST}).json()
    passage = body["passages"][0]
    return {"question": FIRST, "doc_id": passage["doc_id"], "start": passage["highlight_start"], "end": passage["highlight_end"]}


def test_without_history_the_answer_is_as_before_with_the_new_fields(client):
    without = client.post("/api/ask", json={"question": FIRST}).json()
    empty = client.post("/api/ask", json={"question": FIRST, "history": []}).json()
    assert without == empty
    assert without["followup"] is None and without["read_as"] == FIRST


def test_a_follow_up_is_read_against_the_history(client, documents, first_turn):
    body = client.post("/api/ask", json={"question": "tell me more", "history": [first_turn]}).json()
    assert body["followup"] == "more" and body["read_as"] != body["question"]
    assert not body["abstained"]
    passage = body["passages"][0]
    assert documents[passage["doc_id"]]["text"][passage["start"] : passage["end"]] == passage["quote"]
    assert body["answer"] in passage["quote"]
    assert (passage["highlight_start"], passage["highlight_end"]) != (first_turn["start"], first_turn["end"])


def test_sources_shows_each_document(client, documents, first_turn):
    body = client.post("/api/ask", json={"question": "what does the other article say?", "history": [first_turn]}).json()
    assert body["followup"] == "sources"
    assert len({p["doc_id"] for p in body["passages"][:2]}) == 2
    for passage in body["passages"]:
        assert documents[passage["doc_id"]]["text"][passage["start"] : passage["end"]] == passage["quote"]
    assert body["answer"] in body["passages"][0]["quote"]


def test_an_abstained_turn_is_sent_with_nulls(client):
    history = [{"question": "Does glutamine cure baldness?", "doc_id": None, "start": None, "end": None}]
    body = client.post("/api/ask", json={"question": "tell me more", "history": history}).json()
    assert body["abstained"] and body["answer"] == "" and body["passages"] == []


def test_five_turns_of_1000_characters_fit_in_the_body_limit(client):
    turn = {"question": "é" * 999 + "?", "doc_id": None, "start": None, "end": None}
    response = client.post("/api/ask", json={"question": "x" * 1000, "history": [turn] * 5})
    assert response.status_code == 200


def _turn(**changes):
    turn = {"question": FIRST, "doc_id": "glutamine-clinician-guide", "start": 0, "end": 10}
    turn.update(changes)
    return turn


@pytest.mark.parametrize(
    "history",
    [
        [_turn()] * 6,  # more than five turns
        [_turn(question="")],
        [_turn(question="x" * 1001)],
        [_turn(start=None)],  # partly null
        [_turn(end=5, start=5)],  # empty span
        [_turn(start=-1)],
        [_turn(start="0")],  # strict integers
        [_turn(extra=1)],
        [_turn(doc_id="no-such-document")],
        [_turn(end=10_000_000)],  # outside the document
        "not a list",
        [["a", "b"]],
    ],
)
def test_malformed_history_is_422(client, history):
    response = client.post("/api/ask", json={"question": "tell me more", "history": history})
    assert response.status_code == 422
    assert "error" in response.json()


# -- feedback on a follow-up carries how it was read and the turns it was sent with ------------


def _conversation(page: str) -> str:
    """The rendered conversation, without the empty forms of the script's <template>s."""
    return page[page.index('id="conversation"') : page.index('<template id="coverage-template"')]


def _hidden(page: str, name: str) -> list[str]:
    return [html.unescape(value) for value in re.findall(rf'<input type="hidden" name="{name}" value="([^"]*)">', page)]


def test_the_form_feedback_on_a_follow_up_carries_read_as_and_history(client, first_turn, corpus_settings):
    fields = {
        "question": "tell me more",
        "history_question": first_turn["question"],
        "history_doc_id": first_turn["doc_id"],
        "history_start": str(first_turn["start"]),
        "history_end": str(first_turn["end"]),
    }
    page = client.post("/", data=fields)
    assert page.status_code == 200
    shown = _conversation(page.text)
    api = client.post("/api/ask", json={"question": "tell me more", "history": [first_turn]}).json()
    assert api["followup"] == "more"
    # Every feedback form of the answer carries them (Helpful, Not helpful, This one answered it).
    forms = shown.count('action="/feedback"')
    assert forms >= 2
    assert _hidden(shown, "read_as") == [api["read_as"]] * forms
    assert [json.loads(value) for value in _hidden(shown, "history")] == [[first_turn]] * forms
    main = api["passages"][0]
    helpful = {
        "question": "tell me more",
        "verdict": "helpful",
        "answer_doc": main["doc_id"],
        "answer_start": str(main["highlight_start"]),
        "answer_end": str(main["highlight_end"]),
        "read_as": _hidden(shown, "read_as")[0],
        "history": _hidden(shown, "history")[0],
    }
    saved = client.post("/feedback", data=helpful)
    assert saved.status_code == 201, saved.text
    store = FeedbackStore(corpus_settings.data_dir)
    try:
        record = max(store.records(), key=lambda r: r.id)
    finally:
        store.close()
    assert (record.question, record.read_as, record.history) == ("tell me more", api["read_as"], [first_turn])


def test_the_form_feedback_on_a_question_asked_as_is_carries_neither(client):
    page = _conversation(client.post("/", data={"question": FIRST}).text)
    assert _hidden(page, "read_as") and set(_hidden(page, "read_as")) == {""}
    assert set(_hidden(page, "history")) == {""}


def test_a_feedback_form_with_history_that_is_not_json_stores_nothing(client):
    page = client.post("/feedback", data={"question": FIRST, "verdict": "helpful", "history": "[not json"})
    assert page.status_code == 422 and "nothing was stored" in page.text
