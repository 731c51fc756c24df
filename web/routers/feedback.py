"""``POST /api/feedback`` and the chat page's feedback form (``POST /feedback``, no JavaScript).

A person rates an answer ("Helpful" / "Not helpful" with a reason, or "This one answered it" on
another passage shown). The record stores the question text: the chat page says so next to
the buttons, and nothing is stored until one is pressed. Spans are checked against the loaded
documents (the document exists, the offsets are in range) and stored with their text and the
index build that served the answer. The store (``verbatim/feedback_store.py``) lives in the data
folder; when that folder cannot be written the feedback routes answer 503 and questions are
answered as before.
"""

from __future__ import annotations

import asyncio
import json
import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import ValidationError

from qa.pipeline import Answerer
from verbatim.feedback_store import FeedbackStore, FeedbackStoreUnavailable, NewFeedback, Span
from web.dependencies import CurrentAnswerer, find_documents
from web.errors import error_response
from web.routers.pages import render_chat_page
from web.schemas import ErrorOut, FeedbackCreated, FeedbackRequest, FeedbackSpanIn

logger = logging.getLogger(__name__)

router = APIRouter(tags=["feedback"])

# An answer span is a highlight inside one passage; nothing longer is ever shown as one.
MAX_SPAN_CHARS = 5000
UNAVAILABLE = "feedback cannot be stored right now (the server's data folder is not writable); answers are not affected"
RETRY_AFTER_SECONDS = "60"


class SpanProblem(ValueError):
    """A span that does not lie in a loaded document."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def resolve_span(documents: dict, span: FeedbackSpanIn | None, field: str) -> Span | None:
    """Check a span against the loaded documents and attach its text.

    Args:
        documents: The documents named (:func:`web.dependencies.find_documents`).
        span: The span sent, or None.
        field: Its name in the request (for the error).

    Returns:
        The span with its verbatim text, or None.

    Raises:
        SpanProblem: Unknown document, empty or reversed range, past the end, too long.
    """
    if span is None:
        return None
    found = documents.get(span.doc_id)
    if found is None:
        raise SpanProblem(field, "unknown document id")
    store, number = found
    text = store.documents[number].text
    if span.end <= span.start:
        raise SpanProblem(field, "end must be greater than start")
    if span.end > len(text):
        raise SpanProblem(field, f"end is past the end of the document ({len(text)} characters)")
    if span.end - span.start > MAX_SPAN_CHARS:
        raise SpanProblem(field, f"a span is at most {MAX_SPAN_CHARS} characters")
    return Span(doc_id=span.doc_id, start=span.start, end=span.end, quote=text[span.start : span.end])


async def to_record(answerer: Answerer, payload: FeedbackRequest) -> NewFeedback:
    """The record to store for a validated request (spans resolved, build id attached).

    Raises:
        SpanProblem: A span is not in the loaded documents.
    """
    index_store = answerer.store
    documents = await find_documents(answerer, (span.doc_id for span in (payload.answer, payload.chosen) if span is not None))
    return NewFeedback(
        question=payload.question,
        verdict=payload.verdict,
        reason=payload.reason,
        answer=resolve_span(documents, payload.answer, "answer"),
        chosen=resolve_span(documents, payload.chosen, "chosen"),
        read_as=payload.read_as,
        history=payload.history,
        index_build=index_store.path.name,
    )


async def store_feedback(request: Request, record: NewFeedback) -> int:
    """Store a record off the event loop.

    Raises:
        FeedbackStoreUnavailable: The data folder cannot be written.
    """
    store: FeedbackStore = request.app.state.feedback_store
    try:
        return await asyncio.to_thread(store.add, record)
    except FeedbackStoreUnavailable as error:
        # The reason (read-only, disk full) helps the operator; the question is never logged.
        logger.error("feedback not stored: %s", error)
        raise


@router.post(
    "/api/feedback",
    status_code=201,
    response_model=FeedbackCreated,
    responses={422: {"model": ErrorOut}, 503: {"model": ErrorOut, "description": "The data folder cannot be written."}},
    summary="Rate an answer (stores the question text with the rating)",
)
async def post_feedback(payload: FeedbackRequest, request: Request, answerer: CurrentAnswerer) -> FeedbackCreated | JSONResponse:
    """Store feedback on one answer for a maintainer to review.

    Args:
        payload: The rating, the question and the spans it is about.
        request: The request (the loaded index, the feedback store).

    Returns:
        The record id (201), a 422 for a span outside the documents, or a 503 when the data
        folder cannot be written.
    """
    try:
        record = await to_record(answerer, payload)
    except SpanProblem as problem:
        return error_response(422, str(problem), [{"field": problem.field, "message": problem.message, "type": "span"}])
    try:
        record_id = await store_feedback(request, record)
    except FeedbackStoreUnavailable:
        return error_response(503, UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_SECONDS})
    return FeedbackCreated(id=record_id, status="pending")


# -- the chat page's form (works without JavaScript) ----------------------------------------------


def _form_span(form, prefix: str) -> dict | None:
    doc_id = str(form.get(f"{prefix}_doc") or "")
    if not doc_id:
        return None
    start, end = str(form.get(f"{prefix}_start") or ""), str(form.get(f"{prefix}_end") or "")
    # Not digits: left as text so validation names the field instead of guessing a number.
    return {
        "doc_id": doc_id,
        "start": int(start) if start.isdigit() else start,
        "end": int(end) if end.isdigit() else end,
    }


def _form_history(form) -> object:
    text = str(form.get("history") or "")
    if not text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text  # not JSON (or nested past reason): left as text so validation names the field


def form_payload(form) -> dict:
    """The ``/api/feedback`` body that the chat page's feedback form stands for.

    Args:
        form: The posted form (``question``, ``verdict``, ``reason``, ``answer_doc``/``_start``/
            ``_end``, ``chosen_doc``/``_start``/``_end``, ``read_as``, ``history``: for a follow-up,
            the turns it was sent with as JSON text).

    Returns:
        A dict for :class:`FeedbackRequest`.
    """
    return {
        "question": str(form.get("question") or ""),
        "verdict": str(form.get("verdict") or ""),
        "reason": str(form.get("reason")) if form.get("reason") else None,
        "answer": _form_span(form, "answer"),
        "chosen": _form_span(form, "chosen"),
        "read_as": str(form.get("read_as")) if form.get("read_as") else None,
        "history": _form_history(form),
    }


@router.post("/feedback", response_class=HTMLResponse, include_in_schema=False)
async def feedback_form(request: Request, answerer: CurrentAnswerer) -> HTMLResponse:
    """The feedback form of a server-rendered answer (browsers without JavaScript).

    Args:
        request: The posted form.

    Returns:
        The chat page saying whether the feedback was saved.
    """
    form = await request.form()
    try:
        payload = FeedbackRequest.model_validate(form_payload(form))
        record = await to_record(answerer, payload)
    except (ValidationError, SpanProblem):
        return render_chat_page(request, notice="That feedback could not be read, so nothing was stored.", status=422)
    try:
        record_id = await store_feedback(request, record)
    except FeedbackStoreUnavailable:
        return render_chat_page(request, notice="Feedback can't be saved right now. Nothing was stored; please try again later.", status=503)
    return render_chat_page(request, notice=f"Thank you: your feedback was saved (number {record_id}).", status=201)
