"""Request limits: body size and JSON well-formedness, and optional per-client rate limiting.

Both are plain ASGI middleware (no per-request task or thread), so they cost next to nothing on
the hot path:

* :class:`RequestBodyGuard` refuses a body over ``Settings.max_body_bytes`` while reading it
  (the declared ``Content-Length`` is checked first, and the bytes actually streamed are
  counted, so a chunked or lying client cannot make the server buffer more than the limit).
  On ``/api/`` it also requires ``Content-Type: application/json``, UTF-8 and well-formed
  JSON, so each of those mistakes is a clear 4xx instead of a parser error.
* :class:`RateLimiter` gives each client IP a token bucket of ``Settings.rate_limit_per_minute``
  requests to ``/api/`` and to the chat page's form posts (``POST /``, ``POST /feedback``); over budget it answers 429 with ``Retry-After``. Off when the budget
  is 0 (the default).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI

from verbatim.settings import Settings
from web.errors import error_response

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

API_PREFIX = "/api/"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# The chat page's forms outside /api/ (they answer questions or store feedback): rate-limited too.
FORM_POSTS = frozenset({"/", "/feedback"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _is_json_media_type(content_type: str) -> tuple[bool, str | None]:
    """Whether a Content-Type names JSON, and the charset it declares (if any)."""
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    is_json = media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return is_json, charset


class RequestBodyGuard:
    """Bound request bodies and reject malformed JSON bodies on the API with a clear 4xx.

    Args:
        app: The wrapped ASGI app.
        max_body_bytes: Largest accepted body; larger ones get 413.
        json_prefix: Paths under which a non-empty body must be UTF-8 JSON.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int, json_prefix: str = API_PREFIX) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.json_prefix = json_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared_header = _header(scope, b"content-length")
        declared: int | None = None
        if declared_header is not None:
            try:
                declared = int(declared_header)
            except ValueError:
                declared = -1
            if declared < 0:
                await error_response(400, "invalid Content-Length header")(scope, receive, send)
                return
            if declared > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return

        is_api = scope.get("path", "").startswith(self.json_prefix)
        may_have_body = (declared or 0) > 0 or _header(scope, b"transfer-encoding") is not None
        if is_api and may_have_body:
            refusal = self._content_type_problem(_header(scope, b"content-type"))
            if refusal:
                await error_response(415, refusal)(scope, receive, send)
                return

        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left; there is no one to answer
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        if is_api and body:
            problem = self._json_problem(bytes(body))
            if problem:
                await error_response(400, problem)(scope, receive, send)
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"request body is larger than the {self.max_body_bytes}-byte limit"
        await error_response(413, message, headers={"Connection": "close"})(scope, receive, send)

    @staticmethod
    def _content_type_problem(content_type: str | None) -> str | None:
        if not content_type:
            return "missing Content-Type: send the body as application/json"
        is_json, charset = _is_json_media_type(content_type)
        if not is_json:
            media_type = content_type.split(";")[0].strip()[:60]
            return f"unsupported Content-Type '{media_type}': send the body as application/json"
        if charset not in (None, "utf-8", "utf8"):
            return f"unsupported charset '{charset[:30]}': JSON bodies must be UTF-8"
        return None

    @staticmethod
    def _json_problem(body: bytes) -> str | None:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as error:
            return f"request body is not valid UTF-8 (invalid byte at position {error.start})"
        try:
            json.loads(text)
        except json.JSONDecodeError as error:
            return f"request body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        except RecursionError:
            return "request body is not valid JSON: nested too deeply"
        return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already-read body once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class TokenBuckets:
    """One token bucket per client: ``per_minute`` tokens, refilled continuously.

    Args:
        per_minute: Bucket size and refill per minute.
        max_clients: Buckets kept at most; full (idle) buckets are dropped first.
        clock: Monotonic clock in seconds (injectable for tests of the arithmetic).
    """

    def __init__(self, per_minute: int, max_clients: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, client: str) -> float:
        """Spend one token of ``client``.

        Returns:
            0 when allowed, else the seconds until a token is available.
        """
        now = self.clock()
        tokens, last = self._buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._store(client, tokens - 1.0, now)
            return 0.0
        self._store(client, tokens, now)
        return (1.0 - tokens) / self.rate

    def _store(self, client: str, tokens: float, now: float) -> None:
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > self.max_clients:
            self._prune(now)

    def _prune(self, now: float) -> None:
        # A bucket that has refilled completely holds no information: forget it.
        full_after = self.capacity / self.rate
        self._buckets = {key: value for key, value in self._buckets.items() if now - value[1] < full_after}
        while len(self._buckets) > self.max_clients:  # still too many: drop the longest idle
            del self._buckets[min(self._buckets, key=lambda key: self._buckets[key][1])]


class RateLimiter:
    """429 with ``Retry-After`` for clients over their ``/api/`` request budget.

    The client is ``scope["client"]``: the connecting address, or the address a trusted proxy
    reports in ``X-Forwarded-For`` when that proxy is listed in ``VERBATIM_FORWARDED_ALLOW_IPS``
    (the app's outermost middleware rewrites it; no one is trusted by default).

    Args:
        app: The wrapped ASGI app.
        per_minute: Requests per minute per client (burst up to the same number).
        prefix: Paths that are limited.
    """

    def __init__(self, app: ASGIApp, per_minute: int, prefix: str = API_PREFIX) -> None:
        self.app = app
        self.prefix = prefix
        self.buckets = TokenBuckets(per_minute)

    def _limited(self, scope: Scope) -> bool:
        """The API, and the chat page's form posts (a question, or feedback on an answer)."""
        path = scope.get("path", "")
        return path.startswith(self.prefix) or (path in FORM_POSTS and scope.get("method") == "POST")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._limited(scope):
            client = scope.get("client")
            wait = self.buckets.take(client[0] if client else "unknown")
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                message = f"too many requests: over {int(self.buckets.capacity)} per minute; retry in {seconds} s"
                await error_response(429, message, headers={"Retry-After": str(seconds)})(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_limits(app: FastAPI, settings: Settings) -> None:
    """Add the body guard (always) and the rate limiter (when configured) to an app.

    The rate limiter is outermost, so a client over budget is refused before its body is read.

    Args:
        app: The FastAPI application.
        settings: ``max_body_bytes`` and ``rate_limit_per_minute``.
    """
    app.add_middleware(RequestBodyGuard, max_body_bytes=settings.max_body_bytes)
    if settings.rate_limit_per_minute > 0:
        app.add_middleware(RateLimiter, per_minute=settings.rate_limit_per_minute)
