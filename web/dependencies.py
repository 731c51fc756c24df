"""What a route needs from the running app, given to it by parameter (FastAPI dependencies).

The app keeps one :class:`web.service.AnswerService` (and through it the answerer and the index
in service) in its state; routes name what they use with the annotated types below instead of
reaching into ``request.app.state``. Helpers that render pages call the same functions with the
request.
"""

from __future__ import annotations

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


Service = Annotated[AnswerService, Depends(get_service)]
CurrentAnswerer = Annotated[Answerer, Depends(get_answerer)]
Store = Annotated[IndexStore, Depends(get_store)]
