"""``POST /api/admin/reload``: switch to the index's live build without a restart.

Disabled (404) unless ``VERBATIM_ADMIN_TOKEN`` is set; then it needs
``Authorization: Bearer <token>``, compared in constant time. The new build is loaded off the
event loop while the old one keeps answering; the swap is atomic (see ``Answerer.reload``), so
no request fails in between. A Ray Serve replica (``verbatim serve --ray``, whole or sharded
index) refuses it with a 409 naming the redeploy, which reaches every replica.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from verbatim import index_format
from web.dependencies import CurrentAnswerer
from web.schemas import ErrorOut

router = APIRouter(tags=["admin"])

REDEPLOY = (
    "on Ray Serve a reload would reach only the replica that got it; run `verbatim serve --index DIR --ray ADDRESS "
    "--replicas N` again: the deployment update makes every replica load the live build"
)


class ReloadOut(BaseModel):
    """Outcome of a reload."""

    status: str = Field(description="'reloaded', or 'unchanged' when the live build is already in service.")
    build: str = Field(description="Name of the build now in service.")
    previous_build: str = Field(description="Name of the build served before.")
    documents: int
    chunks: int
    sentences: int
    seconds: float = Field(description="Time taken to load and verify the build.")


def _authorised(request: Request, token: str) -> bool:
    scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    # compare_digest on bytes takes the same time wherever the first difference is.
    return hmac.compare_digest(supplied.strip().encode("utf-8"), token.encode("utf-8"))


@router.post(
    "/api/admin/reload",
    response_model=ReloadOut,
    responses={401: {"model": ErrorOut}, 404: {"model": ErrorOut}, 409: {"model": ErrorOut}},
    summary="Serve the index's live build (after an ingest) without a restart",
)
async def reload_index(request: Request, answerer: CurrentAnswerer) -> ReloadOut:
    """Load the live build of the index folder and switch to it.

    Args:
        request: The request (bearer token, the shared answerer).

    Returns:
        The build now in service and its counts.

    Raises:
        HTTPException: 404 when disabled, 401 without the right token, 409 when the live build
            cannot be loaded (the previous one stays in service) or when the app is a Ray Serve
            replica (the message names the redeploy command that reaches every replica).
    """
    token = request.app.state.settings.admin_token
    if not token:
        raise HTTPException(status_code=404, detail="admin API is disabled (set VERBATIM_ADMIN_TOKEN to enable it)")
    if not _authorised(request, token):
        raise HTTPException(
            status_code=401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
    if getattr(request.app.state, "replica", None) is not None:
        # One Ray Serve replica got this request; the others would keep the old build.
        raise HTTPException(status_code=409, detail=REDEPLOY)
    previous = answerer.store
    started = time.perf_counter()
    try:
        live = index_format.current_build(Path(answerer.settings.index_dir))
        if live is not None and previous.path == live:
            store, status = previous, "unchanged"
        else:
            store, status = await asyncio.to_thread(answerer.reload), "reloaded"
    except index_format.IndexError_ as error:
        raise HTTPException(
            status_code=409, detail=f"reload failed, still serving {previous.path.name}: {error}"
        ) from error
    info = store.info()
    return ReloadOut(
        status=status,
        build=store.path.name,
        previous_build=previous.path.name,
        documents=info.documents,
        chunks=info.chunks,
        sentences=info.sentences,
        seconds=round(time.perf_counter() - started, 3),
    )
