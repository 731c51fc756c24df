"""What an operator relies on: request ids and private log lines, metrics, readiness, CORS, and a
client address only trusted proxies can set."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from qa.types import ReasonCode
from tests.web.live_server import serve_in_thread
from verbatim.cli.serve_cmd import server_config
from verbatim.logs import configure_logging
from verbatim.settings import Settings
from web.app import create_app

# A question with a word no test log could contain by accident.
PRIVATE_QUESTION = "Can I take glutamine with my liver disease, says Quibbleworth?"


@pytest.fixture
def json_log():
    """The process log as ``verbatim serve`` writes it (JSON lines), captured in a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def request_lines(stream: io.StringIO) -> list[dict]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line["logger"] == "verbatim.request"]


# -- request ids and log lines -------------------------------------------------------------------


def test_one_json_line_per_request_with_its_id_and_without_the_question(make_client, json_log):
    client = make_client()
    response = client.post("/api/ask", json={"question": PRIVATE_QUESTION}, headers={"X-Request-ID": "lb-42.a"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "lb-42.a"
    client.get("/api/documents")

    lines = request_lines(json_log)
    assert len(lines) == 2, lines
    ask = lines[0]
    assert ask["request_id"] == "lb-42.a"
    assert (ask["method"], ask["route"], ask["status"]) == ("POST", "/api/ask", 200)
    assert ask["latency_ms"] > 0 and ask["time"].endswith("Z")
    body = response.json()
    assert ask["abstained"] == body["abstained"]
    assert ask["reason_code"] == body["reason_code"]
    assert ask["safety_topics"] == body["safety_topics"] and "liver" in " ".join(ask["safety_topics"])
    assert ask["confidence"] == pytest.approx(body["confidence"], abs=1e-4)
    assert ask["passage_doc_ids"] == [passage["doc_id"] for passage in body["passages"]]
    assert ask["question_chars"] == len(PRIVATE_QUESTION)
    assert len(ask["question_hash"]) == 16
    assert (lines[1]["route"], lines[1]["status"]) == ("/api/documents", 200)
    assert "passage_doc_ids" not in lines[1]
    # Nowhere in the whole log: not the question, not its words (the free-text reason may quote
    # them, so it is not logged either).
    assert "Quibbleworth" not in json_log.getvalue()


def test_a_request_id_is_made_when_missing_or_unusable(make_client, json_log):
    client = make_client()
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 32 and int(made, 16) >= 0
    replaced = client.get("/healthz", headers={"X-Request-ID": "no spaces <script>"}).headers["x-request-id"]
    assert len(replaced) == 32 and "<" not in replaced
    assert [line["request_id"] for line in request_lines(json_log)] == [made, replaced]


def test_errors_and_unknown_paths_get_a_line_and_an_id(make_client, json_log):
    client = make_client()
    assert client.post("/api/ask", json={}).status_code == 422
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and missing.headers["x-request-id"]
    lines = request_lines(json_log)
    assert [(line["route"], line["status"]) for line in lines] == [("/api/ask", 422), ("<unmatched>", 404)]


def test_a_request_refused_before_routing_is_logged_under_its_route(make_client, json_log):
    client = make_client(rate_limit_per_minute=1)
    assert [client.get("/api/documents/x").status_code for _ in range(2)] == [404, 429]
    lines = request_lines(json_log)
    assert [(line["route"], line["status"]) for line in lines] == [("/api/documents/{doc_id}", 404)] * 1 + [
        ("/api/documents/{doc_id}", 429)
    ]


def test_question_text_is_logged_only_when_turned_on(make_client, json_log):
    client = make_client(log_questions=True, log_hash_key="k")
    client.post("/api/ask", json={"question": PRIVATE_QUESTION})
    (line,) = request_lines(json_log)
    assert line["question"] == PRIVATE_QUESTION
    expected = hmac.new(b"k", PRIVATE_QUESTION.encode(), hashlib.sha256).hexdigest()[:16]
    assert line["question_hash"] == expected


def test_the_chat_forms_failure_path_does_not_log_the_question(make_client, json_log, monkeypatch):
    client = make_client()

    async def broken(question: str, top_k: int, history=None):
        raise RuntimeError("the answerer broke")

    monkeypatch.setattr(client.app.state.service, "ask", broken)
    response = client.post("/", data={"question": PRIVATE_QUESTION})
    assert response.status_code == 500
    log = json_log.getvalue()
    assert "the answerer broke" in log  # the failure itself is logged, with its traceback
    assert "Quibbleworth" not in log
    assert request_lines(json_log)[-1]["status"] == 500


def test_text_logs_for_a_terminal():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        assert configure_logging("text", "info", stream=stream) == "text"
        logging.getLogger("verbatim.request").info("GET /healthz 200", extra={"fields": {"status": 200}})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    line = stream.getvalue().strip()
    assert "INFO" in line and line.endswith("GET /healthz 200 status=200")
    assert configure_logging.__module__ == "verbatim.logs"


# -- reason codes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "code"),
    [
        ("What is the capital of France?", ReasonCode.UNKNOWN_TERMS),
        ("hello", ReasonCode.NOTHING_TO_LOOK_UP),
    ],
)
def test_abstentions_carry_a_reason_code(client, question, code):
    body = client.post("/api/ask", json={"question": question}).json()
    assert body["abstained"] and body["reason"]
    assert body["reason_code"] == code.value


def test_answers_have_no_reason_code(client):
    body = client.post("/api/ask", json={"question": "How much glutamine should I take for gut health?"}).json()
    assert not body["abstained"] and body["reason_code"] is None


def test_the_schema_lists_the_reason_codes(client):
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert set(schema["ReasonCode"]["enum"]) == {code.value for code in ReasonCode}


# -- metrics -------------------------------------------------------------------------------------

FAMILIES = {
    "verbatim_http_requests", "verbatim_http_request_duration_seconds", "verbatim_answers", "verbatim_disclaimers",
    "verbatim_batch_queue_depth", "verbatim_batch_size", "verbatim_embed_seconds", "verbatim_index_build_info",
    "verbatim_index_documents", "verbatim_index_chunks", "verbatim_ready", "process_resident_memory_bytes",
}


def scrape(client: TestClient, **headers: str) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    families: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        samples = families.setdefault(family.name, {})
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return families


def value(families, family: str, sample: str, **labels: str) -> float:
    return families.get(family, {}).get((sample, tuple(sorted(labels.items()))), 0.0)


def test_metrics_are_off_by_default(client):
    assert client.get("/metrics").status_code == 404


def test_metric_families_and_that_they_move_after_questions(make_client, corpus_settings):
    client = make_client(metrics=True)
    before = scrape(client)
    assert set(before) >= FAMILIES, FAMILIES - set(before)
    assert value(before, "verbatim_ready", "verbatim_ready") == 1
    assert value(before, "verbatim_index_documents", "verbatim_index_documents") == 2
    assert value(before, "verbatim_index_chunks", "verbatim_index_chunks") > 0
    (build,) = before["verbatim_index_build_info"]
    assert dict(build[1])["build"] == client.get("/healthz").json()["index_build"]

    assert not client.post("/api/ask", json={"question": "Who should avoid glutamine if they have liver disease?"}).json()["abstained"]
    assert client.post("/api/ask", json={"question": "What is the capital of France?"}).json()["abstained"]
    after = scrape(client)

    requests = "verbatim_http_requests_total"
    assert value(after, "verbatim_http_requests", requests, method="POST", route="/api/ask", status="200") == 2
    assert value(after, "verbatim_http_requests", requests, method="GET", route="/metrics", status="200") >= 1
    assert value(
        after, "verbatim_http_request_duration_seconds", "verbatim_http_request_duration_seconds_count",
        method="POST", route="/api/ask", status="200",
    ) == 2
    answers = "verbatim_answers_total"
    assert value(after, "verbatim_answers", answers, outcome="answered", reason_code="none") == 1
    assert value(after, "verbatim_answers", answers, outcome="abstained", reason_code="unknown_terms") == 1
    assert sum(after["verbatim_disclaimers"].values()) > sum(before.get("verbatim_disclaimers", {}).values())
    assert value(after, "verbatim_batch_size", "verbatim_batch_size_count", stage="embed") == 2
    assert value(after, "verbatim_batch_size", "verbatim_batch_size_count", stage="answer") == 2
    assert value(after, "verbatim_embed_seconds", "verbatim_embed_seconds_count") == 2
    assert value(after, "verbatim_batch_queue_depth", "verbatim_batch_queue_depth", stage="embed") == 0
    # Labels hold route templates, never raw paths or question words.
    client.get("/api/documents/glutamine-clinician-guide")
    labels = json.dumps(list(scrape(client)["verbatim_http_requests"]))
    assert "/api/documents/{doc_id}" in labels and "clinician" not in labels and "France" not in labels


def test_metrics_with_a_token(make_client):
    client = make_client(metrics=True, metrics_token="s3cret")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert "verbatim_ready" in scrape(client, Authorization="Bearer s3cret")


# -- CORS ----------------------------------------------------------------------------------------

PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}


def test_cors_is_off_by_default(client):
    response = client.post("/api/ask", json={"question": "glutamine dose?"}, headers={"Origin": "https://clinic.example"})
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in client.options("/api/ask", headers={"Origin": "https://clinic.example", **PREFLIGHT}).headers


def test_cors_for_named_origins(make_client):
    client = make_client(cors_origins="https://clinic.example, https://intranet.example:8443")
    preflight = client.options("/api/ask", headers={"Origin": "https://clinic.example", **PREFLIGHT})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://clinic.example"
    answer = client.post("/api/ask", json={"question": "glutamine dose?"}, headers={"Origin": "https://intranet.example:8443"})
    assert answer.headers["access-control-allow-origin"] == "https://intranet.example:8443"
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()
    other = client.options("/api/ask", headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in client.get("/api/documents", headers={"Origin": "https://evil.example"}).headers


# -- the client's address ------------------------------------------------------------------------


def test_verbatim_serve_leaves_proxy_headers_to_the_app(corpus_settings):
    config = server_config(object(), corpus_settings)
    assert config.proxy_headers is False  # uvicorn would trust 127.0.0.1 by default


def _statuses(url: str, forwarded_for: list[str]) -> list[int]:
    with httpx.Client(base_url=url, timeout=30) as http:
        return [http.get("/api/documents", headers={"X-Forwarded-For": value}).status_code for value in forwarded_for]


def _serve(corpus_settings, answerer, **changes):
    settings = Settings.from_env(
        index_dir=corpus_settings.index_dir, corpus_dir=corpus_settings.corpus_dir, rate_limit_per_minute=6, **changes
    )
    app = create_app(settings, answerer=answerer)
    return serve_in_thread(app, config=server_config(app, settings, log_level="warning"))


def test_invented_addresses_from_loopback_do_not_change_the_rate_limit_key(corpus_settings, answerer):
    invented = [f"198.51.100.{number}" for number in range(1, 9)]
    with _serve(corpus_settings, answerer, forwarded_allow_ips="") as url:
        statuses = _statuses(url, invented)
    assert statuses == [200] * 6 + [429] * 2, statuses


def test_a_trusted_proxy_keys_on_the_client_it_appends(corpus_settings, answerer):
    real, other = "203.0.113.7", "203.0.113.99"
    # The client invents an address; the proxy (loopback, trusted) appends the real one.
    spoofed = [f"198.51.100.{number}, {real}" for number in range(1, 9)]
    with _serve(corpus_settings, answerer, forwarded_allow_ips="127.0.0.1") as url:
        statuses = _statuses(url, spoofed)
        assert _statuses(url, [f"198.51.100.50, {other}"]) == [200]  # another client: its own bucket
    assert statuses == [200] * 6 + [429] * 2, statuses
