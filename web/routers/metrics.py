"""``GET /metrics``: the Prometheus text format, when ``VERBATIM_METRICS`` is on.

Off (404, as for any unknown path) by default. When on, it needs
``Authorization: Bearer $VERBATIM_METRICS_TOKEN`` if a token is set; without a token it is served
only by a server bound to loopback (the settings refuse metrics on another interface without a
token), so only the machine itself, or a proxy that is told not to forward ``/metrics``, reaches it.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Every metric family of this process.

    Raises:
        HTTPException: 404 when metrics are off, 401 without the configured bearer token.
    """
    settings = request.app.state.settings
    if not settings.metrics:
        raise HTTPException(status_code=404, detail="metrics are off (set VERBATIM_METRICS=true to serve them)")
    if settings.metrics_token:
        scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            supplied.strip().encode("utf-8"), settings.metrics_token.encode("utf-8")
        ):
            raise HTTPException(status_code=401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
