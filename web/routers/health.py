"""``GET /healthz`` (liveness and what is being served) and ``GET /readyz`` (readiness)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from web.dependencies import Store
from web.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="Liveness, and the index in service")
async def health(request: Request, store: Store) -> HealthOut:
    """Status of the service (no paths of the machine: the build is named by its id).

    Returns:
        Counts of the loaded index, the model, the build id and time.
    """
    info = store.info()
    return HealthOut(
        status="ok",
        documents=info.documents,
        chunks=info.chunks,
        sentences=info.sentences,
        model=info.model,
        index_built_at=info.built_at,
        index_build=store.path.name,
        vector_index=info.vector_index,
        replica=getattr(request.app.state, "replica", None),
    )


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Not ready (starting or stopping)."}},
    summary="Readiness: the model and index are loaded and a first answer was computed",
)
async def ready(request: Request) -> JSONResponse:
    """Whether to send traffic here: 200 once ready, 503 while starting or stopping.

    Returns:
        ``{"ready": bool}``.
    """
    is_ready = bool(getattr(request.app.state, "ready", False))
    return JSONResponse(ReadyOut(ready=is_ready).model_dump(), status_code=200 if is_ready else 503)


