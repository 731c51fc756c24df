"""``POST /api/ask``: the JSON question-answering endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Request

from web.schemas import AskRequest, AskResponse, ErrorOut
from web.service import answer_to_response

router = APIRouter(tags=["ask"])


@router.post(
    "/api/ask",
    response_model=AskResponse,
    responses={413: {"model": ErrorOut}, 422: {"model": ErrorOut}, 429: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    summary="Answer a question with verbatim quotes from the sources",
)
async def ask(payload: AskRequest, request: Request) -> AskResponse:
    """Answer one question.

    Args:
        payload: Question and number of passages.
        request: The request (gives access to the shared answerer).

    Returns:
        The answer, its passages, confidence and safety disclaimer.
    """
    answer = await request.app.state.service.ask(payload.question, payload.top_k)
    return answer_to_response(answer)
