"""JSON error responses: every failure a client can cause is a clear 4xx, nothing leaks internals.

All errors share one shape, ``{"error": "<one line a person can read>", "detail": ...}``
(:class:`web.schemas.ErrorOut`). Validation problems list each field; an unexpected exception
is logged on the server and answered with a generic 500 that names no file, class or value.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from qa.sharded import ShardUnavailableError
from web.schemas import ErrorOut

logger = logging.getLogger("verbatim.web")

INTERNAL_ERROR = "internal server error; the problem was logged on the server"


def _documented(codes: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorOut, "description": description} for code, description in codes.items()}


# Errors any route can return (request guard, catch-all), for the OpenAPI schema.
COMMON_ERRORS = {
    400: "Malformed request (invalid Content-Length).",
    413: "Request body over the size limit.",
    500: "Unexpected failure; logged on the server, no details returned.",
}
# Errors of /api/ routes in addition: body format checks and the optional rate limit.
API_ERRORS = {
    **COMMON_ERRORS,
    400: "Body is not UTF-8 JSON.",
    415: "Body sent with a Content-Type other than application/json.",
    429: "Over the per-client rate limit (see Retry-After).",
}


def common_error_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for routes outside ``/api/``."""
    return _documented(COMMON_ERRORS)


def api_error_responses() -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for ``/api/`` routes."""
    return _documented(API_ERRORS)


def error_response(status_code: int, message: str, detail: Any = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """The one JSON error shape of the API.

    Args:
        status_code: HTTP status.
        message: One readable line.
        detail: Optional structured detail (e.g. one entry per invalid field).
        headers: Extra headers (``Retry-After``, ``WWW-Authenticate``, ``Allow``).

    Returns:
        The response.
    """
    content: dict[str, Any] = {"error": message}
    if detail is not None:
        content["detail"] = detail
    return JSONResponse(status_code=status_code, content=content, headers=headers)


def _field_problem(error: dict) -> dict:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    # The offending input is never echoed back: it may be huge or contain markup.
    return {"field": location or "body", "message": message, "type": str(error.get("type", ""))}


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 listing every invalid field (400 when the body is not JSON at all)."""
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        reasons = "; ".join(str(error.get("ctx", {}).get("error", "")) for error in errors if error.get("ctx"))
        return error_response(400, f"request body is not valid JSON{': ' + reasons if reasons else ''}")
    problems = [_field_problem(error) for error in errors]
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems) or "invalid request"
    return error_response(422, summary, problems)


async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """404, 405 and other HTTP errors as JSON."""
    message = str(exc.detail) if exc.detail else "error"
    return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Catch-all: log the failure, answer a generic 500 without internals.

    The traceback itself is logged by the server (Starlette re-raises after this response).
    """
    logger.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return error_response(500, INTERNAL_ERROR)


async def shard_unavailable(request: Request, exc: ShardUnavailableError) -> JSONResponse:
    """503 when a shard of a sharded index did not answer (the message names the shard and the
    redeploy command, nothing else)."""
    logger.error("shard %d unavailable on %s %s", exc.shard, request.method, request.url.path)
    return error_response(503, str(exc), headers={"Retry-After": "10"})


def install_error_handlers(app: FastAPI) -> None:
    """Register the JSON error handlers on an app.

    Args:
        app: The FastAPI application.
    """
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ShardUnavailableError, shard_unavailable)
    app.add_exception_handler(Exception, unexpected_error)
