"""The JSON API: invariants of answers, validation errors, documents and health."""

from __future__ import annotations

import pytest

QUESTIONS = [
    "How much glutamine should I take for gut health?",
    "Who should avoid glutamine?",
    "What did the 2023 systematic review find?",
    "How long until I see results for gut issues?",
    "What is the capital of France?",
]


@pytest.fixture(scope="module")
def documents(client):
    return {d["id"]: client.get(f"/api/documents/{d['id']}").json() for d in client.get("/api/documents").json()}


@pytest.mark.parametrize("question", QUESTIONS)
def test_answers_are_verbatim_slices(client, documents, question):
    response = client.post("/api/ask", json={"question": question})
    assert response.status_code == 200
    body = response.json()
    if body["abstained"]:
        assert body["answer"] == "" and body["passages"] == []
        return
    assert body["passages"], "an answer always has its passage"
    for passage in body["passages"]:
        assert documents[passage["doc_id"]]["text"][passage["start"] : passage["end"]] == passage["quote"]
    assert body["answer"] in body["passages"][0]["quote"]
    assert 0.0 <= body["confidence"] <= 1.0


def test_dosing_question_quotes_the_dose(client):
    body = client.post("/api/ask", json={"question": "How much glutamine should I take for gut health?"}).json()
    assert not body["abstained"]
    assert "5 grams twice daily" in body["answer"] or "5-15 grams daily" in body["answer"]


def test_out_of_domain_question_abstains(client):
    body = client.post("/api/ask", json={"question": "What is the capital of France?"}).json()
    assert body["abstained"] is True
    assert body["answer"] == "" and body["passages"] == []


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"question": ""},
        {"question": "   "},
        {"question": "x" * 1001},
        {"question": "ok", "top_k": 0},
        {"question": "ok", "top_k": 11},
        {"question": 42},
        {"question": "ok", "top_k": "three"},
    ],
)
def test_invalid_requests_are_422_with_a_message(client, payload):
    response = client.post("/api/ask", json=payload)
    assert response.status_code == 422
    assert response.json()["error"]


def test_unknown_document_is_404(client):
    response = client.get("/api/documents/no-such-document")
    assert response.status_code == 404
    assert "no-such-document" in response.json()["error"]


def test_health_reports_the_index(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["documents"] == 2
    assert body["chunks"] > 0
    assert body["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert body["index_build"] and "/" not in body["index_build"]
    assert not any(isinstance(value, str) and value.startswith("/") for value in body.values()), body


def test_ready_once_loaded_and_warm(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True}


def test_not_ready_before_start_up(corpus_settings):
    from fastapi.testclient import TestClient

    from web.app import create_app

    app = create_app(corpus_settings)
    # Without the lifespan (no `with`), nothing is loaded: not ready.
    assert TestClient(app).get("/readyz").status_code == 503


EVIDENCE_KINDS = {"caution", "study", "recommendation", "anecdote", "background"}
EVIDENCE_DESIGNS = {None, "systematic review or meta-analysis", "randomized trial", "observational or case report", "animal or in vitro"}


def test_every_passage_says_what_kind_of_evidence_it_is(client):
    body = client.post("/api/ask", json={"question": "Can I take glutamine if I have liver disease?", "top_k": 5}).json()
    assert body["passages"]
    for passage in body["passages"]:
        assert set(passage["evidence"]) == {"kind", "design"}
        assert passage["evidence"]["kind"] in EVIDENCE_KINDS and passage["evidence"]["design"] in EVIDENCE_DESIGNS
    assert body["passages"][0]["evidence"]["kind"] == "caution"
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert "evidence" in schema["PassageOut"]["required"]
