"""API hardening: every malformed request is a clear JSON 4xx, limits hold, nothing leaks.

Runs against the real app (real model, real index of the seed corpus) through the ASGI test
client, plus a real uvicorn server for what only a socket can send (chunked bodies).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading

import pytest

from tests.web.live_server import serve_in_thread
from verbatim.settings import Settings
from web.app import create_app
from web.errors import INTERNAL_ERROR
from web.limits import RateLimiter, RequestBodyGuard, TokenBuckets
from web.schemas import MAX_QUESTION_CHARS

JSON = {"content-type": "application/json"}
LEAK_MARKERS = ("Traceback", 'File "', "site-packages", "Exception", ".py")


def assert_clear_error(response, status: int) -> dict:
    """The response is ``status`` with the JSON error shape and no internals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"].strip()
    for marker in LEAK_MARKERS:
        assert marker not in response.text, f"{marker!r} leaked into {response.text!r}"
    return body


# -- malformed bodies --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "headers", "status", "says"),
    [
        (b"hello", JSON, 400, "not valid JSON"),
        (b'{"question": "glutamine?"', JSON, 400, "not valid JSON"),
        (b'{"question": "caf\xe9 glutamine"}', JSON, 400, "not valid UTF-8"),
        (b'\xff\xfe{\x00"\x00q\x00', JSON, 400, "not valid UTF-8"),
        (b"[" * 5000 + b"]" * 5000, JSON, 400, "nested too deeply"),
        (b'{"question": "glutamine?"}', {"content-type": "text/plain"}, 415, "application/json"),
        (b'{"question": "glutamine?"}', {}, 415, "Content-Type"),
        (b"question=glutamine", {"content-type": "application/x-www-form-urlencoded"}, 415, "application/json"),
        (b'{"question": "glutamine?"}', {"content-type": "application/json; charset=latin-1"}, 415, "UTF-8"),
    ],
    ids=["not-json", "truncated-json", "latin1-bytes", "utf16-bytes", "deep-nesting", "text-plain",
         "no-content-type", "form", "other-charset"],
)
def test_malformed_bodies_are_clear_4xx(client, content, headers, status, says):
    body = assert_clear_error(client.post("/api/ask", content=content, headers=headers), status)
    assert says in body["error"]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "How much glutamine?",
        {"question": None},
        {"question": ["How much glutamine?"]},
        {"question": {"text": "How much glutamine?"}},
        {"question": "How much glutamine?", "top_k": None},
        {"question": "How much glutamine?", "top_k": 2.5},
        {"question": "How much glutamine?", "top_k": -1},
        {"question": "How much glutamine?", "extra": 1},
        {"top_k": 3},
        {"question": "\t\n  \r"},
        {"question": "What\u0000 is glutamine?"},
        {"question": "What is \u0007glutamine?"},
        {"question": "What is \u009bglutamine?"},
        {"question": "x" * (MAX_QUESTION_CHARS + 1)},
    ],
    ids=["null", "array", "string", "question-null", "question-list", "question-object", "top_k-null",
         "top_k-fraction", "top_k-negative", "extra-field", "missing-question", "whitespace", "nul",
         "bell", "c1-control", "too-long"],
)
def test_wrong_types_and_values_are_422_naming_the_field(client, payload):
    body = assert_clear_error(client.post("/api/ask", json=payload), 422)
    assert isinstance(body["detail"], list) and body["detail"]
    assert all({"field", "message", "type"} <= set(problem) for problem in body["detail"])


def test_error_messages_do_not_echo_the_input(client):
    marker = "<script>alert('echo')</script>"
    response = client.post("/api/ask", json={"question": marker + "\u0000"})
    assert_clear_error(response, 422)
    assert "<script>" not in response.text


def test_question_length_limit_is_on_the_trimmed_text(client):
    at_limit = "glutamine " * (MAX_QUESTION_CHARS // 10)
    assert len(at_limit.strip()) <= MAX_QUESTION_CHARS
    assert client.post("/api/ask", json={"question": "   " + at_limit + "   "}).status_code == 200
    assert_clear_error(client.post("/api/ask", json={"question": "g" * (MAX_QUESTION_CHARS + 1)}), 422)


@pytest.mark.parametrize(
    "question",
    [
        "Is glutamine safe for my gut? 🤔💊",
        "👍",
        "ما هي الجرعة المناسبة من الجلوتامين؟",
        "מה המינון של גלוטמין?",
        "How much \u202eglutamine\u202c should I take?",
        "Glutamine\u200b dose?",
    ],
    ids=["emoji", "emoji-only", "arabic", "hebrew", "bidi-override", "zero-width"],
)
def test_emoji_and_right_to_left_questions_are_answered(client, question):
    response = client.post("/api/ask", json={"question": question})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["question"] == question.strip()
    if body["abstained"]:
        assert body["answer"] == "" and body["passages"] == []
    else:
        assert body["answer"] in body["passages"][0]["quote"]


def test_emoji_question_still_finds_the_answer(client):
    body = client.post("/api/ask", json={"question": "💊 How much glutamine should I take for gut health? 🤔"}).json()
    assert not body["abstained"]
    assert "grams" in body["answer"]


# -- body size ---------------------------------------------------------------------------------


def test_body_over_the_limit_is_413_before_validation(client, corpus_settings):
    limit = corpus_settings.max_body_bytes
    payload = json.dumps({"question": "q" * limit}).encode()
    body = assert_clear_error(client.post("/api/ask", content=payload, headers=JSON), 413)
    assert str(limit) in body["error"]


def test_streamed_body_over_the_limit_is_413(client, corpus_settings):
    def chunks():
        yield b'{"question": "'
        for _ in range(corpus_settings.max_body_bytes // 1024 + 4):
            yield b"g" * 1024
        yield b'"}'

    # A generator body is sent chunked, without Content-Length: the guard must count bytes.
    assert_clear_error(client.post("/api/ask", content=chunks(), headers=JSON), 413)


def test_body_limit_is_configurable(make_client):
    small = make_client(max_body_bytes=64)
    assert small.post("/api/ask", json={"question": "glutamine dose?"}).status_code == 200
    assert_clear_error(small.post("/api/ask", json={"question": "glutamine " * 10}), 413)


def test_guard_never_reads_more_than_the_limit():
    """The guard stops pulling body chunks once the limit is passed (no unbounded buffering)."""
    import asyncio

    pulled = 0

    async def receive():
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}  # endless body

    sent = []

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):  # pragma: no cover - must not be reached
        raise AssertionError("the app must not see an oversized body")

    scope = {"type": "http", "method": "POST", "path": "/api/ask", "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]}
    # A fresh thread has no event loop of its own (the browser tests' Playwright session may
    # keep one running in the main thread).
    worker = threading.Thread(target=asyncio.run, args=(RequestBodyGuard(app, max_body_bytes=16 * 1024)(scope, receive, send),))
    worker.start()
    worker.join(timeout=30)
    assert sent[0]["status"] == 413
    assert pulled == 17  # 17 KB read, then refused


def test_chunked_oversized_body_on_a_real_server(corpus_settings, answerer):
    with serve_in_thread(create_app(corpus_settings, answerer=answerer)) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"g" * 4096
            for _ in range(corpus_settings.max_body_bytes // len(chunk) + 2):  # just over the limit, never ended
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            received = b""
            # The server closes the connection after its 413 (a reset, as body bytes are unread).
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(65536):
                    received += chunk
            reply = received.decode("utf-8", "replace")
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert '"error"' in reply and "Traceback" not in reply


# -- other HTTP errors -------------------------------------------------------------------------


def test_wrong_method_and_unknown_path_are_json(client):
    body = assert_clear_error(client.get("/api/ask"), 405)
    assert body["error"]
    assert_clear_error(client.get("/api/no-such-endpoint"), 404)


def test_unexpected_exception_is_a_generic_500_and_is_logged(make_client, caplog):
    test_client = make_client()

    def explode():
        raise RuntimeError("secret internal detail /etc/verbatim")

    test_client.app.add_api_route("/api/test-explode", explode)
    with caplog.at_level(logging.ERROR, logger="verbatim.web"):
        response = test_client.get("/api/test-explode")
    body = assert_clear_error(response, 500)
    assert body == {"error": INTERNAL_ERROR}
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert any("RuntimeError" in record.getMessage() for record in caplog.records)


# -- documents cannot be read from disk --------------------------------------------------------


@pytest.mark.parametrize(
    "doc_id",
    [
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2e%2e%2f%2e%2e%2fCURRENT",
        "..%252F..%252Fetc%252Fpasswd",
        "%2Fetc%2Fpasswd",
        "..%5C..%5Cmanifest.json",
        "CURRENT",
        "manifest.json",
        "documents.json",
        "glutamine-clinician-guide.txt",
        "..",
        "glutamine-clinician-guide%00",
    ],
)
def test_document_ids_cannot_reach_files(client, corpus_settings, doc_id):
    response = client.get(f"/api/documents/{doc_id}")
    assert_clear_error(response, 404)
    live_build = (corpus_settings.index_dir / "CURRENT").read_text().strip()
    assert "root:" not in response.text and live_build not in response.text


def test_plain_traversal_paths_never_match_the_documents_route(client):
    for path in ("/api/documents/../../etc/passwd", "/api/documents/../documents/../../CURRENT"):
        response = client.get(path)
        assert response.status_code == 404
        assert "root:" not in response.text


# -- admin reload ------------------------------------------------------------------------------


def test_admin_reload_is_disabled_without_a_token(client):
    body = assert_clear_error(client.post("/api/admin/reload", headers={"Authorization": "Bearer anything"}), 404)
    assert "VERBATIM_ADMIN_TOKEN" in body["error"]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token", "Bearer s3cret-token-x", "Basic czNjcmV0LXRva2Vu", "s3cret-token"],
)
def test_admin_reload_needs_the_exact_bearer_token(make_client, authorization):
    admin = make_client(admin_token="s3cret-token")
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = admin.post("/api/admin/reload", headers=headers)
    assert_clear_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


def test_admin_reload_with_the_token_reports_the_build(make_client, corpus_settings):
    admin = make_client(admin_token="s3cret-token")
    response = admin.post("/api/admin/reload", headers={"Authorization": "Bearer s3cret-token"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "unchanged"
    assert body["build"] == (corpus_settings.index_dir / "CURRENT").read_text().strip()
    assert body["documents"] == 2


def test_an_unavailable_shard_is_a_503_naming_the_shard_and_the_redeploy():
    """A sharded index's shard that did not come back (web.ray_shards) is a clear 503, not a 500."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from qa.sharded import ShardUnavailableError
    from web.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/shard")
    async def shard() -> None:
        raise ShardUnavailableError(1, "no reply within 120 s")

    response = TestClient(app, raise_server_exceptions=False).get("/shard")
    assert response.status_code == 503 and response.headers["retry-after"] == "10"
    assert response.json() == {"error": str(ShardUnavailableError(1, "no reply within 120 s"))}
    assert "shard 1" in response.json()["error"] and "verbatim serve --index DIR --ray ADDRESS" in response.json()["error"]


def test_admin_reload_on_a_ray_serve_replica_names_the_redeploy(make_client):
    """A reload would reach one replica only: refused, with the command that reaches them all."""
    admin = make_client(admin_token="s3cret-token")
    admin.app.state.replica = "replica-1 pid 4242 on host"  # as web.ray_serve sets it
    body = assert_clear_error(admin.post("/api/admin/reload", headers={"Authorization": "Bearer s3cret-token"}), 409)
    assert "verbatim serve --index DIR --ray ADDRESS" in body["error"]


def test_admin_token_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("VERBATIM_ADMIN_TOKEN", "from-env")
    assert Settings.from_env().admin_token == "from-env"
    monkeypatch.setenv("VERBATIM_ADMIN_TOKEN", "")
    assert Settings.from_env().admin_token is None


# -- rate limiting -----------------------------------------------------------------------------


def test_rate_limit_is_off_by_default(monkeypatch, client):
    monkeypatch.delenv("VERBATIM_RATE_LIMIT", raising=False)
    assert Settings.from_env().rate_limit_per_minute == 0
    assert RateLimiter not in [middleware.cls for middleware in client.app.user_middleware]
    for _ in range(30):
        assert client.get("/api/documents").status_code == 200


def test_the_haproxy_ingress_refuses_a_per_client_rate_limit(tmp_path):
    """Ray's HAProxy passes no client address: one token bucket for every client is refused."""
    ray_serve = pytest.importorskip("web.ray_serve")
    from ingest.distributed import ClusterError

    limited = Settings.from_env(index_dir=tmp_path, rate_limit_per_minute=10)
    # Refused before any cluster is joined (nothing listens at this address).
    with pytest.raises(ClusterError, match="VERBATIM_RATE_LIMIT.*--ingress proxy"):
        ray_serve.deploy("127.0.0.1:1", limited, replicas=1, ingress="haproxy")
    assert ray_serve.INGRESS_ENV["haproxy"] == {"RAY_SERVE_ENABLE_HA_PROXY": "1"}


def test_rate_limit_answers_429_with_retry_after(make_client):
    limited = make_client(rate_limit_per_minute=3)
    assert RateLimiter in [middleware.cls for middleware in limited.app.user_middleware]
    statuses = [limited.get("/api/documents").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    response = limited.post("/api/ask", json={"question": "How much glutamine?"})
    body = assert_clear_error(response, 429)
    assert "per minute" in body["error"]
    assert 1 <= int(response.headers["retry-after"]) <= 20
    # Pages and health checks are not API calls and stay available.
    assert limited.get("/healthz").status_code == 200


def test_rate_limit_env_variable(monkeypatch):
    monkeypatch.setenv("VERBATIM_RATE_LIMIT", "120")
    assert Settings.from_env().rate_limit_per_minute == 120


def test_token_bucket_refills_and_keeps_clients_apart():
    now = [1000.0]
    buckets = TokenBuckets(per_minute=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(20.0)  # one token per 20 s
    assert buckets.take("b") == 0.0  # another client has its own bucket
    now[0] += 20.0
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0


def test_token_buckets_stay_bounded():
    now = [0.0]
    buckets = TokenBuckets(per_minute=60, max_clients=100, clock=lambda: now[0])
    for number in range(1000):
        now[0] += 0.01
        buckets.take(f"10.0.{number // 256}.{number % 256}")
    assert len(buckets) <= 100


# -- binding -----------------------------------------------------------------------------------


def test_server_binds_loopback_by_default(monkeypatch):
    from verbatim.cli import _settings, build_parser

    monkeypatch.delenv("VERBATIM_HOST", raising=False)
    assert Settings().host == "127.0.0.1"
    assert _settings(build_parser().parse_args(["serve"])).host == "127.0.0.1"
