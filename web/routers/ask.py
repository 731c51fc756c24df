"""``POST /api/ask``: the JSON question-answering endpoint."""

from __future__ import annotations

from fastapi import APIRouter

from qa.followup import Turn
from qa.store import IndexStore
from web.dependencies import Service, find_documents
from web.errors import error_response
from web.schemas import AskRequest, AskResponse, ErrorOut, HistoryTurn, answer_to_response

router = APIRouter(tags=["ask"])


def history_problems(history: list[HistoryTurn], documents: dict[str, tuple[IndexStore, int]]) -> list[dict]:
    """What is wrong with a conversation's turns against the index in service.

    Args:
        history: Turns that passed the schema.
        documents: Their documents in the index (:func:`web.dependencies.find_documents`).

    Returns:
        One ``{"loc", "msg"}`` per unknown document or span outside its document (empty: fine).
    """
    problems = []
    for number, turn in enumerate(history):
        if turn.doc_id is None:
            continue
        found = documents.get(turn.doc_id)
        if found is None:
            problems.append({"loc": ["body", "history", number, "doc_id"], "msg": f"no document with id '{turn.doc_id}'"})
        elif turn.end is not None and turn.end > len(found[0].documents[found[1]].text):
            problems.append({"loc": ["body", "history", number, "end"], "msg": "span ends outside the document"})
    return problems


def to_turns(history: list[HistoryTurn]) -> list[Turn]:
    """The answerer's view of validated turns."""
    return [Turn(turn.question, turn.doc_id, turn.start, turn.end) for turn in history]


@router.post(
    "/api/ask",
    response_model=AskResponse,
    responses={413: {"model": ErrorOut}, 422: {"model": ErrorOut}, 429: {"model": ErrorOut}, 503: {"model": ErrorOut}},
    summary="Answer a question with verbatim quotes from the sources",
)
async def ask(payload: AskRequest, service: Service) -> AskResponse:
    """Answer one question, optionally as a follow-up to the earlier turns of its conversation.

    Args:
        payload: Question, number of passages and the conversation's earlier turns.
        service: The app's answer service.

    Returns:
        The answer, its passages, confidence, safety disclaimer and how it was read.
    """
    documents = await find_documents(service.answerer, (turn.doc_id for turn in payload.history))
    if problems := history_problems(payload.history, documents):
        return error_response(422, "invalid conversation history", problems)
    answer = await service.ask(payload.question, payload.top_k, to_turns(payload.history))
    return answer_to_response(answer)
