"""What a route needs from the running app, given to it by parameter (FastAPI dependencies).

The app keeps one :class:`web.service.AnswerService` (and through it the answerer and the index
in service) in its state; routes name what they use with the annotated types below instead of
reaching into ``request.app.state``. Helpers that render pages call the same functions with the
request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Annotated

from fastapi import Depends, Request

from qa.pipeline import Answerer
from qa.store import IndexStore
from web.service import AnswerService


def get_service(request: Request) -> AnswerService:
    """The app's answer service (batching, metrics)."""
    return request.app.state.service


def get_answerer(request: Request) -> Answerer:
    """The app's answerer."""
    return get_service(request).answerer


def get_store(request: Request) -> IndexStore:
    """The index in service now (a reload swaps it; each request reads it once)."""
    return get_answerer(request).store


async def find_documents(answerer: Answerer, doc_ids: Iterable[str | None]) -> dict[str, tuple[IndexStore, int]]:
    """The documents named, each with a store that holds it and its number there; unknown ids
    are left out. Looked up off the event loop: a sharded index fetches them from their shards.

    Args:
        answerer: The app's answerer.
        doc_ids: Document ids (None entries are skipped).

    Returns:
        Document id -> (store, number).
    """
    wanted = sorted({doc_id for doc_id in doc_ids if doc_id is not None})
    if not wanted:
        return {}
    found = await asyncio.to_thread(lambda: {doc_id: answerer.document_view(doc_id) for doc_id in wanted})
    return {doc_id: view for doc_id, view in found.items() if view is not None}


Service = Annotated[AnswerService, Depends(get_service)]
CurrentAnswerer = Annotated[Answerer, Depends(get_answerer)]
Store = Annotated[IndexStore, Depends(get_store)]
