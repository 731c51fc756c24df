"""Security headers on every response.

The chat page shows text taken from documents and from users; escaping is the first defence and
this Content-Security-Policy is the second: even if markup slipped through, the browser runs no
inline script, no inline event handler and no script from anywhere but ``/static``.

The interactive API docs (``/docs``, ``/redoc``) are FastAPI's stock pages, which load Swagger UI
or ReDoc from a CDN and start it with an inline script; they get a looser policy of their own
(they show no document or user text). Every other path gets the strict one.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT_CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ]
)

API_DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net",
        "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "font-src 'self' https://fonts.gstatic.com",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ]
)

COMMON_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


class SecurityHeadersMiddleware:
    """ASGI middleware that adds the security headers to every HTTP response.

    A pure ASGI middleware (not ``BaseHTTPMiddleware``) so streaming responses and background
    tasks behave exactly as without it. Headers a handler already set are left alone.

    Args:
        app: The wrapped application.
        api_docs_paths: Paths of the stock API documentation pages, which get ``API_DOCS_CSP``.
    """

    def __init__(self, app: ASGIApp, api_docs_paths: Iterable[str | None] = ()) -> None:
        self.app = app
        self.api_docs_paths = frozenset(path for path in api_docs_paths if path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = API_DOCS_CSP if scope.get("path") in self.api_docs_paths else STRICT_CSP
        extra = {"content-security-policy": policy, **COMMON_HEADERS}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.decode("latin-1").lower() for name, _ in headers}
                headers.extend(
                    (name.encode("latin-1"), value.encode("latin-1"))
                    for name, value in extra.items()
                    if name not in present
                )
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
