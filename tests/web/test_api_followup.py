"""``POST /api/ask`` with a conversation's ``history``: validation, the new fields, invariants."""

from __future__ import annotations

import pytest

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
