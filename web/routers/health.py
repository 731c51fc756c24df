"""``GET /healthz``: liveness and what is being served."""

from __future__ import annotations

from fastapi import APIRouter, Request

from web.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, summary="Service status and the loaded index")
async def health(request: Request) -> HealthOut:
    """Status of the service.

    Returns:
        Counts of the loaded index, the model and the build time.
    """
    info = request.app.state.service.answerer.store.info()
    return HealthOut(
        status="ok",
        documents=info.documents,
        chunks=info.chunks,
        sentences=info.sentences,
        model=info.model,
        index_built_at=info.built_at,
        index_path=info.path,
        vector_index=info.vector_index,
    )
