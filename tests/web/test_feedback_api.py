"""``POST /api/feedback`` and the chat page's feedback form: what is stored, what is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from verbatim.feedback_store import FeedbackStore, NewFeedback, open_store, utc_now
from verbatim.settings import Settings
from web.app import create_app

QUESTION = "Who should avoid glutamine?"


@pytest.fixture(scope="module")
def asked(client) -> dict:
    """A real answer with at least two passages (its spans are what the page sends)."""
    body = client.post("/api/ask", json={"question": QUESTION, "top_k": 3}).json()
    assert not body["abstained"] and len(body["passages"]) >= 2, body
    return body


def span(passage: dict) -> dict:
    return {"doc_id": passage["doc_id"], "start": passage["highlight_start"], "end": passage["highlight_end"]}


@pytest.fixture(scope="module")
def store(corpus_settings) -> FeedbackStore:
    """A second handle on the file the app writes (as the CLI would open it)."""
    handle = FeedbackStore(corpus_settings.data_dir)
    yield handle
    handle.close()


def document_text(client, doc_id: str) -> str:
    return client.get(f"/api/documents/{doc_id}").json()["text"]


def test_helpful_is_stored_with_the_answer_span_its_text_and_the_index_build(client, asked, store, answerer):
    answer = span(asked["passages"][0])
    response = client.post("/api/feedback", json={"question": f"  {QUESTION} ", "verdict": "helpful", "answer": answer})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending" and isinstance(body["id"], int)
    record = store.get(body["id"])
    assert record.question == QUESTION and record.verdict == "helpful" and record.reason is None
    assert record.answer.quote == document_text(client, answer["doc_id"])[answer["start"] : answer["end"]]
    assert record.answer.quote == asked["answer"]
    assert record.index_build == answerer.store.path.name
    assert record.chosen is None and record.status == "pending"


def test_not_helpful_with_a_reason_and_the_passage_that_answered_it(client, asked, store):
    chosen = span(asked["passages"][1])
    payload = {
        "question": QUESTION,
        "verdict": "not_helpful",
        "reason": "wrong_passage",
        "answer": span(asked["passages"][0]),
        "chosen": chosen,
        "read_as": "who should not take glutamine",
        "history": [{"question": "what is glutamine?", "answer": "an amino acid"}],
    }
    response = client.post("/api/feedback", json=payload)
    assert response.status_code == 201, response.text
    record = store.get(response.json()["id"])
    assert (record.verdict, record.reason, record.read_as) == ("not_helpful", "wrong_passage", payload["read_as"])
    assert record.chosen.quote == document_text(client, chosen["doc_id"])[chosen["start"] : chosen["end"]]
    assert record.history == payload["history"]


def test_an_abstention_can_be_rated_without_an_answer_span(client, store):
    response = client.post("/api/feedback", json={"question": "Is glutamine sold in Peru?", "verdict": "not_helpful", "reason": "should_answer"})
    assert response.status_code == 201, response.text
    assert store.get(response.json()["id"]).answer is None


GOOD = {"question": QUESTION, "verdict": "not_helpful", "reason": "other"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"question": None}, "question"),
        ({"question": "   "}, "question"),
        ({"question": "x" * 1001}, "question"),
        ({"question": "bad \x00 byte"}, "question"),
        ({"verdict": "meh"}, "verdict"),
        ({"verdict": None}, "verdict"),
        ({"reason": "boring"}, "reason"),
        ({"verdict": "helpful", "reason": "other"}, "body"),
        ({"answer": {"doc_id": "no-such-document", "start": 0, "end": 10}}, "answer"),
        ({"answer": {"doc_id": "@doc", "start": 10, "end": 10}}, "answer"),
        ({"answer": {"doc_id": "@doc", "start": 0, "end": 10**7}}, "answer"),
        ({"answer": {"doc_id": "@doc", "start": -1, "end": 10}}, "answer.start"),
        ({"answer": {"doc_id": "@doc", "start": "0", "end": 10}}, "answer.start"),
        ({"answer": {"doc_id": "@doc", "start": 0, "end": 6000}}, "answer"),
        ({"answer": {"doc_id": "@doc", "start": 0}}, "answer.end"),
        ({"answer": {"doc_id": "@doc", "start": 0, "end": 5, "quote": "made up"}}, "answer.quote"),
        ({"chosen": {"doc_id": "no-such-document", "start": 0, "end": 10}}, "chosen"),
        ({"history": [{}] * 21}, "history"),
        ({"history": "not a list"}, "history"),
        ({"read_as": "r" * 2001}, "read_as"),
        ({"extra": 1}, "extra"),
    ],
)
def test_malformed_feedback_is_a_4xx_json_error_that_names_the_field(client, store, change, field):
    doc_id = client.get("/api/documents").json()[0]["id"]
    payload = {**GOOD, **change}
    for key in ("answer", "chosen"):
        if isinstance(payload.get(key), dict) and payload[key].get("doc_id") == "@doc":
            payload[key] = {**payload[key], "doc_id": doc_id}
    payload = {key: value for key, value in payload.items() if value is not None}
    before = store.count()
    response = client.post("/api/feedback", json=payload)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] and any(problem["field"] == field for problem in body["detail"]), body
    assert store.count() == before


def test_a_body_that_is_not_json_too_big_or_of_another_type_is_refused(client, store, corpus_settings):
    before = store.count()
    assert client.post("/api/feedback", content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    assert client.post("/api/feedback", content=b"question=x", headers={"content-type": "application/x-www-form-urlencoded"}).status_code == 415
    huge = {**GOOD, "history": ["x" * corpus_settings.max_body_bytes]}
    assert client.post("/api/feedback", json=huge).status_code == 413
    assert client.get("/api/feedback").status_code == 405
    assert store.count() == before


def test_the_route_is_rate_limited_like_ask(corpus_settings, answerer):
    settings = Settings.from_env(index_dir=corpus_settings.index_dir, data_dir=corpus_settings.data_dir, rate_limit_per_minute=2)
    with TestClient(create_app(settings, answerer=answerer)) as limited:
        codes = [limited.post("/api/feedback", json=GOOD).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        assert limited.post("/feedback", data={"question": QUESTION, "verdict": "helpful"}).status_code == 429


def test_a_full_disk_gives_503_on_feedback_while_questions_are_answered(corpus_settings, answerer, tmp_path):
    settings = Settings.from_env(index_dir=corpus_settings.index_dir, data_dir=tmp_path)
    app = create_app(settings, answerer=answerer)
    with TestClient(app) as isolated:
        assert isolated.post("/api/feedback", json=GOOD).status_code == 201
        # SQLite's own size cap on this connection makes the next page allocation fail with
        # SQLITE_FULL, exactly as a full disk does.
        connection = app.state.feedback_store._connect()
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")
        refused = None
        for _ in range(40):
            response = isolated.post("/api/feedback", json={**GOOD, "question": "q" * 1000})
            if response.status_code != 201:
                refused = response
                break
        assert refused is not None and refused.status_code == 503, "the capped store never filled up"
        assert "data folder" in refused.json()["error"] and refused.headers["retry-after"]
        answered = isolated.post("/api/ask", json={"question": QUESTION})
        assert answered.status_code == 200 and answered.json()["answer"]
        # The failed connection was dropped: with room again (a fresh connection has no cap),
        # feedback is stored again without a restart.
        assert isolated.post("/api/feedback", json=GOOD).status_code == 201


# -- the form post (no JavaScript) --------------------------------------------------------------


def test_the_form_post_stores_feedback_and_says_so(client, asked, store):
    first = asked["passages"][0]
    form = {
        "question": QUESTION,
        "verdict": "helpful",
        "answer_doc": first["doc_id"],
        "answer_start": str(first["highlight_start"]),
        "answer_end": str(first["highlight_end"]),
    }
    before = store.count()
    page = client.post("/feedback", data=form)
    assert page.status_code == 201 and "your feedback was saved" in page.text
    assert store.count() == before + 1


def test_a_broken_form_post_stores_nothing_and_says_so(client, store):
    before = store.count()
    page = client.post("/feedback", data={"question": QUESTION, "verdict": "helpful", "answer_doc": "nope", "answer_start": "0", "answer_end": "5"})
    assert page.status_code == 422 and "nothing was stored" in page.text
    assert store.count() == before


def test_the_answer_page_offers_feedback_with_the_consent_line(client):
    page = client.post("/", data={"question": QUESTION}).text
    assert "Sending feedback stores your question with it" in page
    assert 'name="verdict" value="helpful"' in page and "Not helpful" in page
    assert "This one answered it" in page and 'value="wrong_passage"' in page
    # The script's templates carry the same controls.
    assert 'id="feedback-template"' in client.get("/").text


def test_the_server_applies_the_retention_when_it_starts(corpus_settings, answerer, tmp_path):
    store = open_store(tmp_path)  # no retention: both records are kept on writing
    old = store.add(NewFeedback("an old question?", "helpful"), now=utc_now() - timedelta(days=40))
    recent = store.add(NewFeedback("a recent question?", "helpful"), now=utc_now() - timedelta(days=2))
    store.close()
    settings = Settings.from_env(index_dir=corpus_settings.index_dir, data_dir=tmp_path, feedback_days=30)
    with TestClient(create_app(settings, answerer=answerer)) as served:
        assert served.get("/healthz").status_code == 200
        reopened = FeedbackStore(tmp_path)
        assert reopened.get(old) is None and reopened.get(recent) is not None
        reopened.close()
