"""``GET /docs`` (Swagger UI) and ``GET /redoc`` (ReDoc) that work on an offline host.

FastAPI's stock pages load their scripts from a public CDN and start them with an inline script,
so they are blank without internet and need a looser Content-Security-Policy. These pages load
the same tools from the ``fastapi-offline`` package (its ``static`` folder, mounted at
``/docs-assets``; Swagger UI and ReDoc keep their licenses in their files' headers) and start
Swagger UI from ``/static/api-docs.js``, so they run under the strict policy of every other page
(ReDoc's inline styles excepted: ``web.security.REDOC_CSP``).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.security import REDOC_CSP

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_URL = "/docs-assets"

router = APIRouter(include_in_schema=False)

SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} - API docs</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{openapi}"></div>
  <script src="{assets}/swagger-ui-bundle.js"></script>
  <script src="/static/api-docs.js"></script>
</body>
</html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title} - API reference</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
</head>
<body>
  <redoc spec-url="{openapi}"></redoc>
  <script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""


def _page(template: str, request: Request, policy: str | None = None) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return HTMLResponse(
        template.format(
            title=escape(request.app.title),
            assets=escape(root + ASSETS_URL),
            openapi=escape(root + (request.app.openapi_url or "/openapi.json")),
        ),
        # A policy set here wins over the middleware's strict default.
        headers={"Content-Security-Policy": policy} if policy else None,
    )


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Interactive API docs (Swagger UI), served from the package."""
    return _page(SWAGGER_PAGE, request)


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    """The API reference (ReDoc), served from the package."""
    return _page(REDOC_PAGE, request, policy=REDOC_CSP)
