"""Security headers on every response.

The chat page shows text taken from documents and from users; escaping is the first defence and
this Content-Security-Policy is the second: even if markup slipped through, the browser runs no
inline script, no inline event handler and no script from anywhere but ``/static``.

The interactive API docs (``/docs``, ``/redoc``) load Swagger UI and ReDoc from the package and
start them without inline script (``web/routers/api_docs.py``), so they run under the same policy;
the one exception is ReDoc's inline styles (``REDOC_CSP``), which that page sets itself.
"""

from __future__ import annotations

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

# ReDoc (``/redoc``) styles itself with styled-components, which writes <style> elements, and runs
# its search index in a worker it makes from a blob: the two relaxations, for that page only. Its
# scripts stay 'self' only; the page shows no document or user text.
REDOC_CSP = STRICT_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'") + "; worker-src 'self' blob:"

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
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = {"content-security-policy": STRICT_CSP, **COMMON_HEADERS}

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
