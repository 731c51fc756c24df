"""The HTML pages: the chat (``GET /``, and ``POST /`` for browsers without JavaScript) and the
document view (``GET /documents/{doc_id}``).

Every piece of document or user text reaches the templates as plain strings and is escaped by
Jinja's autoescaping; highlights are computed here as before/marked/after strings, never as
markup. The page's script (``web/static/chat.js``) renders answers from ``POST /api/ask`` with
the same rules, reading the few shared settings (confidence wording, safety labels) from data
attributes this module writes; both show the excerpt of each quote that the API's answer carries
(``web/excerpt.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated
from urllib.parse import quote as url_quote

import jinja2
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from qa.confidence import CONFIDENCE_LEVELS, ConfidenceLevel, describe_confidence
from web.dependencies import Service, find_documents, get_answerer
from web.evidence_view import EvidenceChip, chip_texts, chips_json, document_tags, evidence_chip
from web.excerpt import Excerpt, ExcerptWindow, cut_excerpt
from web.routers.ask import history_problems, to_turns
from web.schemas import (
    MAX_HISTORY_TURNS,
    AskRequest,
    AskResponse,
    HistoryTurn,
    PassageOut,
    answer_to_response,
)

logger = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

WEB_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

# Caps so an index of thousands of documents (MedQuAD) still gives a short hint and footer.
MAX_LISTED_SOURCES = 12
MAX_LISTED_SECTIONS = 8


# -- highlights as plain strings ---------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A run of document text with one kind of highlight.

    Attributes:
        text: The text.
        kind: ``""`` (plain), ``"quote"`` (inside the quoted passage) or ``"mark"`` (the answer).
        anchor: This segment is where the document view scrolls to (``id="quote"``).
        tag: Evidence kind of the sentence this segment starts (the document view tags it), or "".
    """

    text: str
    kind: str = ""
    anchor: bool = False
    tag: str = ""


def split_segments(text: str, start: int, end: int, quote: tuple[int, int] | None, mark: tuple[int, int] | None) -> list[Segment]:
    """Split ``text[start:end]`` into plain, quoted and marked runs.

    Args:
        text: The whole document text.
        start: Start of the span to split.
        end: End of the span.
        quote: Quoted range (absolute offsets), if any.
        mark: Highlighted range (absolute offsets), if any.

    Returns:
        Segments whose texts concatenate to ``text[start:end]``.
    """
    ranges = [r for r in (quote, mark) if r is not None and r[0] < r[1]]
    cuts = sorted({start, end, *(edge for r in ranges for edge in r if start < edge < end)})
    segments: list[Segment] = []
    for low, high in zip(cuts, cuts[1:], strict=False):
        if mark is not None and mark[0] <= low and high <= mark[1] and mark[0] < mark[1]:
            kind = "mark"
        elif quote is not None and quote[0] <= low and high <= quote[1] and quote[0] < quote[1]:
            kind = "quote"
        else:
            kind = ""
        if segments and segments[-1].kind == kind:
            segments[-1] = Segment(segments[-1].text + text[low:high], kind)
        else:
            segments.append(Segment(text[low:high], kind))
    return segments


# -- view models -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassageView:
    """A passage as the chat shows it."""

    title: str
    section: str
    href: str
    excerpt: Excerpt
    # The answer span (for the feedback form): the passage's highlight in its document.
    doc_id: str = ""
    highlight_start: int = 0
    highlight_end: int = 0
    evidence: EvidenceChip | None = None


@dataclass(frozen=True)
class TurnView:
    """One question and its reply (an answer, an abstention or an error)."""

    question: str
    answer: str = ""
    abstained: bool = False
    confidence: ConfidenceLevel | None = None
    disclaimer: str | None = None
    topics: list[str] = field(default_factory=list)
    main: PassageView | None = None
    supporting: list[PassageView] = field(default_factory=list)
    reason: str | None = None
    error: str | None = None
    read_as: str | None = None
    # What the feedback forms send with a follow-up (how it was read, the turns it was read
    # against, as JSON); both "" for a question answered as asked.
    feedback_read_as: str = ""
    feedback_history: str = ""
    beside: PassageView | None = None  # another source's passage shown side by side (issue 26)


@dataclass(frozen=True)
class SourceView:
    """A source document in the footer and the "what the sources cover" hint."""

    title: str
    href: str
    sections: list[str]
    more_sections: int


@dataclass(frozen=True)
class Coverage:
    """What the loaded index covers, capped for display."""

    sources: list[SourceView]
    more_sources: int


def document_href(doc_id: str, start: int | None = None, end: int | None = None, hl_start: int | None = None, hl_end: int | None = None) -> str:
    """Link to the document view, optionally highlighting a quote and the answer inside it."""
    href = f"/documents/{url_quote(doc_id, safe='')}"
    if start is None or end is None:
        return href
    href += f"?start={start}&end={end}"
    if hl_start is not None and hl_end is not None:
        href += f"&hl_start={hl_start}&hl_end={hl_end}"
    return href + "#quote"


def passage_view(passage: PassageOut) -> PassageView:
    """The chat's view of an API passage."""
    return PassageView(
        title=passage.title,
        section=passage.section if passage.section != passage.title else "",
        href=document_href(passage.doc_id, passage.start, passage.end, passage.highlight_start, passage.highlight_end),
        excerpt=cut_excerpt(
            passage.quote, passage.start, passage.highlight_start, passage.highlight_end,
            ExcerptWindow(**passage.excerpt.model_dump()),
        ),
        doc_id=passage.doc_id,
        highlight_start=passage.highlight_start,
        highlight_end=passage.highlight_end,
        evidence=evidence_chip(passage.evidence),
    )


def turn_view(response: AskResponse, label: Callable[[str], str], history: list[HistoryTurn] | None = None) -> TurnView:
    """The chat's view of an API answer.

    Args:
        response: The same response ``POST /api/ask`` returns.
        label: Maps a safety topic id to its label.
        history: The earlier turns the question was sent with (follow-ups).

    Returns:
        The turn to render.
    """
    passages = [passage_view(p) for p in response.passages]
    beside = response.beside  # the API's answer carries the pair, so the chat's script shows the same
    return TurnView(
        question=response.question,
        answer=response.answer,
        abstained=response.abstained,
        confidence=None if response.abstained else describe_confidence(response.confidence),
        disclaimer=response.disclaimer,
        topics=[label(topic) for topic in response.safety_topics],
        main=passages[0] if passages else None,
        supporting=[view for index, view in enumerate(passages[1:], start=1) if index != beside],
        reason=response.reason,
        beside=passages[beside] if beside is not None else None,
        read_as=read_as_shown(response),
        **feedback_context(response, history or []),
    )


# -- conversation context (follow-ups; the no-JavaScript form carries the turns in hidden fields) --


def read_as_shown(response: AskResponse) -> str | None:
    """The "Read as" line under a follow-up, when it was read as another question."""
    if response.followup and response.read_as and response.read_as != response.question:
        return response.read_as
    return None


def feedback_context(response: AskResponse, history: list[HistoryTurn]) -> dict[str, str]:
    """What feedback on this answer carries besides the question: for a follow-up, how it was
    read and the turns it was read against (``web/static/feedback.js`` sends the same); nothing
    for a question answered as asked, so its feedback stores only that question."""
    if not response.followup:
        return {"feedback_read_as": "", "feedback_history": ""}
    turns = [turn.model_dump() for turn in history]
    return {"feedback_read_as": response.read_as, "feedback_history": json.dumps(turns, ensure_ascii=False) if turns else ""}


@dataclass(frozen=True)
class EarlierTurnView:
    """An earlier turn of the no-JavaScript conversation: its question and what it quoted.

    Attributes:
        question: The question.
        doc_id: Document of its answer ("" when it abstained).
        start: Answer start (None when abstained).
        end: Answer end.
        quote: The answer, cut from the document by those offsets ("" when abstained).
    """

    question: str
    doc_id: str
    start: int | None
    end: int | None
    quote: str


def form_history(questions: list[str], doc_ids: list[str], starts: list[str], ends: list[str]) -> list[HistoryTurn]:
    """The earlier turns posted by the form's hidden fields, validated like the API's.

    Args:
        questions: ``history_question`` fields, oldest first.
        doc_ids: ``history_doc_id`` fields ("" for an abstained turn).
        starts: ``history_start`` fields.
        ends: ``history_end`` fields.

    Returns:
        The last :data:`~web.schemas.MAX_HISTORY_TURNS` turns.

    Raises:
        ValueError: Fields that do not line up or do not validate.
    """
    if not len(questions) == len(doc_ids) == len(starts) == len(ends):
        raise ValueError("the conversation's hidden fields do not line up")
    turns = []
    for question, doc_id, start, end in list(zip(questions, doc_ids, starts, ends, strict=True))[-MAX_HISTORY_TURNS:]:
        answered = bool(doc_id)
        if answered and not (start.isdigit() and end.isdigit()):
            raise ValueError("an earlier turn's offsets are not numbers")
        try:
            turns.append(HistoryTurn(
                question=question,
                doc_id=doc_id if answered else None,
                start=int(start) if answered else None,
                end=int(end) if answered else None,
            ))
        except ValidationError as error:
            raise ValueError("an earlier turn is not valid") from error
    return turns


def earlier_views(history: list[HistoryTurn], documents: dict) -> list[EarlierTurnView]:
    """Views of validated earlier turns (the quote is cut from the index, never taken from the form).

    Args:
        history: The turns.
        documents: Their documents (:func:`web.dependencies.find_documents`).

    Returns:
        One view per turn.
    """
    views = []
    for turn in history:
        quote = ""
        if turn.doc_id is not None and turn.start is not None and turn.end is not None:
            store, number = documents[turn.doc_id]
            quote = store.documents[number].text[turn.start : turn.end]
        views.append(EarlierTurnView(turn.question, turn.doc_id or "", turn.start, turn.end, quote))
    return views


def next_history(history: list[HistoryTurn], question: str, response: AskResponse) -> list[HistoryTurn]:
    """The turns the form carries after this answer (the last five)."""
    first = response.passages[0] if response.passages and not response.abstained else None
    turn = (
        HistoryTurn(question=question, doc_id=first.doc_id, start=first.highlight_start, end=first.highlight_end)
        if first is not None and first.highlight_end > first.highlight_start
        else HistoryTurn(question=question)
    )
    return [*history, turn][-MAX_HISTORY_TURNS:]


def coverage(answerer) -> Coverage:
    """Documents of the loaded index and their section titles, capped for display (a sharded
    index's first documents come from their shards once, then from the answerer's cache)."""
    sources = []
    for entry in answerer.document_entries(MAX_LISTED_SOURCES):
        store, number = answerer.document_view(entry.doc_id)
        document = store.documents[number]
        titles = [s.title for s in document.sections if s.title and s.title != document.title]
        sources.append(
            SourceView(
                title=document.title,
                href=document_href(document.doc_id),
                sections=titles[:MAX_LISTED_SECTIONS],
                more_sections=max(0, len(titles) - MAX_LISTED_SECTIONS),
            )
        )
    return Coverage(sources=sources, more_sources=max(0, answerer.document_count() - MAX_LISTED_SOURCES))


# -- rendering ---------------------------------------------------------------------------------


@cache
def _asset_versions() -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        for path in STATIC_DIR.iterdir()
        if path.is_file()
    }


def asset_url(name: str) -> str:
    """URL of a static file with a content hash, so browsers never run a stale script."""
    version = _asset_versions().get(name)
    return f"/static/{name}?v={version}" if version else f"/static/{name}"


@cache
def _templates() -> Jinja2Templates:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["asset"] = asset_url
    return Jinja2Templates(env=environment)


def _page_context(request: Request) -> dict:
    answerer = get_answerer(request)
    policy = answerer.policy
    return {
        "coverage": coverage(answerer),
        "confidence_levels": json.dumps([[level.minimum, level.key, level.words] for level in CONFIDENCE_LEVELS]),
        "safety_labels": json.dumps({topic.id: topic.label for topic in policy.topics}),
        "evidence_chips": chips_json(),
    }


def _chat_page(
    request: Request,
    turns: list[TurnView],
    draft: str = "",
    form_error: str | None = None,
    status: int = 200,
    notice: str | None = None,
    earlier: list[EarlierTurnView] | None = None,
    history: list[HistoryTurn] | None = None,
) -> HTMLResponse:
    context = {
        **_page_context(request), "turns": turns, "draft": draft, "form_error": form_error, "notice": notice,
        "earlier": earlier or [], "history": history or [],
    }
    return _templates().TemplateResponse(request, "chat.html", context, status_code=status)


def render_chat_page(request: Request, notice: str | None = None, status: int = 200) -> HTMLResponse:
    """The empty chat page with a one-line notice above the conversation (e.g. after feedback).

    Args:
        request: The request.
        notice: The line to show (plain text).
        status: HTTP status.

    Returns:
        The page.
    """
    return _chat_page(request, turns=[], notice=notice, status=status)


@router.get("/", response_class=HTMLResponse)
async def chat_page(request: Request) -> HTMLResponse:
    """The chat page (answers are fetched by its script from ``POST /api/ask``)."""
    return _chat_page(request, turns=[])


@router.post("/", response_class=HTMLResponse)
async def chat_form(
    request: Request,
    service: Service,
    question: str = Form(""),
    history_question: Annotated[list[str] | None, Form()] = None,
    history_doc_id: Annotated[list[str] | None, Form()] = None,
    history_start: Annotated[list[str] | None, Form()] = None,
    history_end: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse:
    """The chat page with one answer, for browsers without JavaScript (a plain form post).

    Args:
        request: The request.
        service: The app's answer service.
        question: The form's question field.
        history_question: Earlier questions of the conversation (hidden fields), oldest first.
        history_doc_id: Their answers' documents ("" for an abstention).
        history_start: Their answers' start offsets.
        history_end: Their answers' end offsets.

    Returns:
        The page with the earlier turns and the answer rendered, or with the error and the
        question kept in the box.
    """
    try:
        history = form_history(history_question or [], history_doc_id or [], history_start or [], history_end or [])
        documents = await find_documents(service.answerer, (turn.doc_id for turn in history))
        if history_problems(history, documents):
            raise ValueError("an earlier turn points outside the sources")
    except ValueError:
        # A tampered or stale conversation (the index changed): start a new one, keep the question.
        return _chat_page(request, turns=[], draft=question, status=422,
                          form_error="The conversation could not be continued. Please ask again.")
    earlier = earlier_views(history, documents)
    try:
        payload = AskRequest(question=question)
    except ValidationError as error:
        message = "; ".join(str(e.get("msg", "invalid question")).removeprefix("Value error, ") for e in error.errors())
        message = message[:1].upper() + message[1:]
        return _chat_page(request, turns=[], draft=question, form_error=message, status=422, earlier=earlier, history=history)
    try:
        answer = await service.ask(payload.question, payload.top_k, to_turns(history))
    except Exception:  # the page must come back with a message, not a stack trace
        # Never the question itself: people ask about their own health (the request's log line
        # has its length and keyed hash).
        logger.exception("answering a %d-character question from the HTML form failed", len(payload.question))
        failed = TurnView(question=payload.question, error="Something went wrong while answering. Please try again.")
        return _chat_page(request, turns=[failed], draft=question, status=500, earlier=earlier, history=history)
    response = answer_to_response(answer)
    view = turn_view(response, service.answerer.policy.label, history)
    return _chat_page(request, turns=[view], earlier=earlier, history=next_history(history, payload.question, response))


# -- document view -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentBlock:
    """A section of the document view: its heading line and its body, as segments.

    Attributes:
        anchor: Element id (the table of contents links to it).
        title: Section title ("" for text outside any section).
        heading: The heading line as it appears in the text (empty when the text has none).
        body: The rest of the section.
    """

    anchor: str
    title: str
    heading: list[Segment]
    body: list[Segment]


def _offset(value: str | None, limit: int) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return min(int(value), limit)


def _range(start: str | None, end: str | None, limit: int) -> tuple[int, int] | None:
    low, high = _offset(start, limit), _offset(end, limit)
    if low is None or high is None or high <= low:
        return None
    return low, high


def document_blocks(
    document, quote: tuple[int, int] | None, mark: tuple[int, int] | None, tags: Sequence[tuple[int, int, str]] = ()
) -> list[DocumentBlock]:
    """Cut a document into section blocks covering all of its text, with highlights.

    Args:
        document: An index document (text and sections).
        quote: Quoted range to shade, if any.
        mark: Range to highlight strongly (the answer), if any.
        tags: ``(start, end, kind)`` of sentences to tag with their evidence kind.

    Returns:
        Blocks whose heading and body texts concatenate to the whole document text, less the
        line breaks around headings and between sections (the layout draws those); the first
        marked run (or, without a mark, the first quoted run) carries the scroll anchor.
    """
    text = document.text
    spans: list[tuple[int, int, str]] = []
    position = 0
    for section in sorted(document.sections, key=lambda s: s.start):
        low, high = max(section.start, position), min(section.end, len(text))
        if high <= low:
            continue
        if low > position and text[position:low].strip():
            spans.append((position, low, ""))
        spans.append((low, high, section.title))
        position = high
    if position < len(text) and text[position:].strip():
        spans.append((position, len(text), ""))

    target = "mark" if mark else "quote" if quote else None
    blocks = []
    for number, (low, high, title) in enumerate(spans, start=1):
        heading_end = low + len(title) if title and text.startswith(title, low) else low
        body_start = heading_end
        if heading_end > low:
            # The line breaks under a heading are drawn by the heading element itself.
            while body_start < high and text[body_start] in "\r\n":
                body_start += 1
        body_end = high
        while body_end > body_start and text[body_end - 1] in "\r\n":
            body_end -= 1
        parts = [split_segments(text, low, heading_end, quote, mark), split_segments(text, body_start, body_end, quote, mark)]
        if tags:
            parts = [_tag_segments(parts[0], low, tags), _tag_segments(parts[1], body_start, tags)]
        for part in parts:
            for index, segment in enumerate(part):
                if target is not None and segment.kind == target:
                    part[index] = Segment(segment.text, segment.kind, anchor=True)
                    target = None
        blocks.append(DocumentBlock(anchor=f"section-{number}", title=title, heading=parts[0], body=parts[1]))
    return blocks


def _tag_segments(segments: list[Segment], start: int, tags: Sequence[tuple[int, int, str]]) -> list[Segment]:
    """Cut plain segments (starting at offset ``start``) where a tagged sentence starts, and mark
    the segment that starts it with its evidence kind. The quoted and highlighted runs stay whole
    (one ``#quote`` element); only a sentence starting where they start is tagged there."""
    starts = {low: kind for low, _, kind in tags}
    result: list[Segment] = []
    position = start
    for segment in segments:
        end = position + len(segment.text)
        inner = sorted(offset for offset in starts if position < offset < end) if not segment.kind else []
        cuts = [position, *inner, end]
        for low, high in zip(cuts, cuts[1:], strict=False):
            piece = segment.text[low - position : high - position]
            result.append(Segment(piece, segment.kind, segment.anchor and low == position, starts.get(low, "")))
        position = end
    return result


@router.get("/documents/{doc_id}", response_class=HTMLResponse)
async def document_page(
    request: Request,
    doc_id: str,
    start: str | None = None,
    end: str | None = None,
    hl_start: str | None = None,
    hl_end: str | None = None,
) -> HTMLResponse:
    """A whole document with a quoted range (and the answer inside it) highlighted.

    Args:
        request: The request.
        doc_id: Document id (a sharded index's document comes from its shard).
        start: Start of the quoted range (ignored when missing or invalid).
        end: End of the quoted range.
        hl_start: Start of the answer inside the quote.
        hl_end: End of the answer.

    Returns:
        The document page, or a 404 page for an unknown id.
    """
    found = (await find_documents(get_answerer(request), [doc_id])).get(doc_id)
    context = _page_context(request)
    if found is None:
        return _templates().TemplateResponse(request, "not_found.html", {**context, "doc_id": doc_id}, status_code=404)
    store, number = found
    document = store.documents[number]
    quote = _range(start, end, len(document.text))
    mark = _range(hl_start, hl_end, len(document.text))
    if quote and mark:
        mark = (max(mark[0], quote[0]), min(mark[1], quote[1])) if mark[0] < quote[1] and mark[1] > quote[0] else None
    blocks = document_blocks(document, quote, mark, document_tags(store, number))
    section_title = ""
    if quote:
        for section in document.sections:
            if section.start <= quote[0] < section.end:
                section_title = section.title
    context.update(
        document=document,
        blocks=blocks,
        has_highlight=quote is not None,
        section_title=section_title if section_title != document.title else "",
        toc=[block for block in blocks if block.title] if len([b for b in blocks if b.title]) > 1 else [],
        evidence_chips=chip_texts(),
    )
    return _templates().TemplateResponse(request, "document.html", context)
