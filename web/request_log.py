"""One structured log line per request, its ``X-Request-ID``, and the HTTP metrics.

:class:`RequestLogMiddleware` wraps every route (whatever router adds it): it takes the client's
``X-Request-ID`` when it is a sane token or makes one, returns it in the response headers, and
when the response is done writes one ``verbatim.request`` record (time, request id, method,
route template, status, latency) and counts the request in the metrics. A handler that answers a
question through :class:`web.service.AnswerService` adds the answer's outcome to that record
(abstained, reason code, safety topics, confidence, passage doc ids) by way of
:func:`note_answer`, which needs no access to the request.

People ask about their own health, so the question's text is never logged by default: only its
length and a keyed hash (HMAC-SHA-256, so equal questions can be matched within one key's
lifetime but a guessed question cannot be checked without the key). ``VERBATIM_LOG_QUESTIONS``
turns text logging on.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import logging
import re
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.types import Answer
from web.metrics import ServiceMetrics

REQUEST_LOGGER = "verbatim.request"
REQUEST_ID_HEADER = "x-request-id"
# A client's id is echoed back and logged: only short plain tokens, never arbitrary text.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED_ROUTE = "<unmatched>"

logger = logging.getLogger(REQUEST_LOGGER)


@dataclass
class RequestRecord:
    """What one request's log line holds beyond the HTTP basics.

    Attributes:
        request_id: The request's id (the client's or a new one).
        answer: The outcome of the question answered during the request, if any.
    """

    request_id: str
    answer: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class QuestionPrivacy:
    """How questions appear in logs.

    Attributes:
        hash_key: Key of the question hash.
        log_text: Also log the text (an operator's explicit choice).
    """

    hash_key: bytes
    log_text: bool = False

    @classmethod
    def from_settings(cls, hash_key: str | None, log_text: bool) -> QuestionPrivacy:
        """A new random key when none is configured (hashes then match within this process only)."""
        key = hash_key.encode("utf-8") if hash_key else secrets.token_bytes(32)
        return cls(key, log_text)

    def describe(self, question: str) -> dict[str, Any]:
        """The log fields of a question: its length and keyed hash (and text when turned on)."""
        digest = hmac.new(self.hash_key, question.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
        fields: dict[str, Any] = {"question_chars": len(question), "question_hash": digest}
        if self.log_text:
            fields["question"] = question
        return fields


_current: contextvars.ContextVar[tuple[RequestRecord, QuestionPrivacy] | None] = contextvars.ContextVar(
    "verbatim_request", default=None
)


def note_answer(question: str, answer: Answer) -> None:
    """Add an answer's outcome to the current request's log line (no-op outside a request).

    Args:
        question: The question as asked (logged as length and hash unless text logging is on).
        answer: The answer.
    """
    current = _current.get()
    if current is None:
        return
    record, privacy = current
    record.answer = {
        **privacy.describe(question),
        "abstained": answer.abstained,
        "reason_code": answer.reason_code.value if answer.reason_code is not None else None,
        "safety_topics": list(answer.safety_topics),
        "confidence": round(float(answer.confidence), 4),
        "passage_doc_ids": [passage.doc_id for passage in answer.passages],
    }


def leaf_routes(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """The routes with a path template, looking inside included routers."""
    leaves: list[BaseRoute] = []
    for route in routes:
        if isinstance(getattr(route, "path", None), str):
            leaves.append(route)
        # FastAPI keeps an included router's own routes on it (``original_router``).
        included = getattr(route, "original_router", None)
        if included is not None:
            leaves.extend(leaf_routes(included.routes))
    return leaves


def route_template(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """The route's path template (``/api/documents/{doc_id}``), never the raw path.

    Args:
        scope: The request's scope (routing stores the matched route in it).
        routes: Leaf routes of the app (:func:`leaf_routes`), matched here when a middleware
            answered before routing, so a 429 or 413 still counts under its route.

    Returns:
        The template, or ``<unmatched>``.
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route.path  # type: ignore[attr-defined]
        if match == Match.PARTIAL and partial is None:  # the path matched, the method did not
            partial = route.path  # type: ignore[attr-defined]
    return partial or UNMATCHED_ROUTE


class RequestLogMiddleware:
    """Request id, one log record and the HTTP metrics for every request.

    Args:
        app: The wrapped app.
        privacy: How questions appear in the log.
        metrics: Where requests are counted (optional).
        routes: The app's routes (to name the route of a request refused before routing); read
            at the first request, once every router is included.
    """

    def __init__(
        self, app: ASGIApp, privacy: QuestionPrivacy, metrics: ServiceMetrics | None = None,
        routes: Sequence[BaseRoute] = (),
    ) -> None:
        self.app = app
        self.privacy = privacy
        self.metrics = metrics
        self.routes = routes
        self._leaves: list[BaseRoute] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        supplied = next((value.decode("latin-1") for key, value in scope["headers"] if key == b"x-request-id"), "")
        request_id = supplied if VALID_REQUEST_ID.fullmatch(supplied) else uuid.uuid4().hex
        record = RequestRecord(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        token = _current.set((record, self.privacy))
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)
            seconds = time.perf_counter() - started
            if self._leaves is None:
                self._leaves = leaf_routes(self.routes)
            route = route_template(scope, self._leaves)
            if self.metrics is not None:
                self.metrics.observe_request(scope["method"], route, status, seconds)
            fields = {
                "request_id": request_id,
                "method": scope["method"],
                "route": route,
                "status": status,
                "latency_ms": round(seconds * 1000, 2),
                **record.answer,
            }
            logger.info("%s %s %d", scope["method"], route, status, extra={"fields": fields})
