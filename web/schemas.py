"""Pydantic models of the JSON API (request validation and the OpenAPI schema at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator, model_validator

from qa.tunables import TUNABLES
from qa.types import Answer, Passage, ReasonCode
from web.evidence_view import beside_index
from web.excerpt import excerpt_window

MAX_QUESTION_CHARS = 1000
MAX_TOP_K = 10
MAX_HISTORY_TURNS = TUNABLES.followup.max_history_turns  # the turns qa/followup.py reads


def clean_question(value: str) -> str:
    """A question trimmed and checked: 1-1000 characters, no control characters.

    Raises:
        ValueError: With the reason, shown to the client.
    """
    trimmed = value.strip()
    if not trimmed:
        raise ValueError("question must not be empty or only whitespace")
    if len(trimmed) > MAX_QUESTION_CHARS:
        raise ValueError(f"question must be at most {MAX_QUESTION_CHARS} characters (got {len(trimmed)})")
    if any(ord(char) < 32 and char not in "\t\n\r" or 0x7F <= ord(char) < 0xA0 for char in trimmed):
        raise ValueError("question must not contain control characters")
    return trimmed


class HistoryTurn(BaseModel):
    """An earlier turn of the conversation, as the client holds it: the question and the span
    its answer quoted (``passages[0].highlight_start`` / ``highlight_end`` of that response)."""

    model_config = ConfigDict(extra="forbid")

    question: str = Field(..., max_length=MAX_QUESTION_CHARS * 4, description="The earlier question (1-1000 characters).")
    doc_id: str | None = Field(None, max_length=512, description="Document of its answer; null when it abstained.")
    start: int | None = Field(None, ge=0, strict=True, description="Start of its answer in the document's canonical text.")
    end: int | None = Field(None, ge=0, strict=True, description="End of its answer.")

    @field_validator("question")
    @classmethod
    def _trimmed_length(cls, value: str) -> str:
        return clean_question(value)

    @model_validator(mode="after")
    def _span(self) -> HistoryTurn:
        given = [self.doc_id is not None, self.start is not None, self.end is not None]
        if any(given) and not all(given):
            raise ValueError("doc_id, start and end are given together, or all null for an abstained turn")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be greater than start")
        return self


class AskRequest(BaseModel):
    """A question for ``POST /api/ask``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"question": "How much glutamine should I take for gut health?", "top_k": 3}]})

    question: str = Field(
        ...,
        description=f"The question, 1 to {MAX_QUESTION_CHARS} characters after trimming surrounding whitespace.",
        max_length=MAX_QUESTION_CHARS * 4,
        # Documented for clients; enforced by the validator below with a clearer message.
        json_schema_extra={"minLength": 1},
    )
    top_k: int = Field(3, ge=1, le=MAX_TOP_K, strict=True, description="How many passages to return (1-10).")
    history: list[HistoryTurn] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_TURNS,
        description=f"Earlier turns of this conversation, oldest first (at most {MAX_HISTORY_TURNS}); "
        "follow-ups such as \"what about for athletes?\", \"tell me more\" or \"what does the other article say?\" "
        "are read against them. The server keeps no state.",
    )

    @field_validator("question")
    @classmethod
    def _trimmed_length(cls, value: str) -> str:
        return clean_question(value)


class EvidenceOut(BaseModel):
    """What kind of evidence a passage's highlighted span is (see eval/EVIDENCE.md)."""

    kind: Literal["caution", "study", "recommendation", "anecdote", "background"] = Field(
        description="The first kind, in the order caution, study, recommendation, anecdote, background, "
        "among the sentences of the highlighted span."
    )
    design: Literal[
        "systematic review or meta-analysis", "randomized trial", "observational or case report", "animal or in vitro"
    ] | None = Field(None, description="The study design the source states, for a study or a study of a risk.")


class ExcerptOut(BaseModel):
    """The part of a passage's quote the chat shows: the highlight in its paragraph (``web/excerpt.py``)."""

    start: int = Field(ge=0, description="Start of the shown text in the document (at or before highlight_start).")
    end: int = Field(ge=0, description="End of the shown text in the document (at or after highlight_end).")
    clipped_start: bool = Field(description="The paragraph goes on before start (the chat shows an ellipsis).")
    clipped_end: bool = Field(description="The paragraph goes on after end.")


class PassageOut(BaseModel):
    """A verbatim passage: ``quote`` equals the document's canonical text at ``[start:end]``."""

    doc_id: str
    title: str
    section: str = Field(description="Title of the section the passage starts in.")
    quote: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    score: float = Field(ge=0.0, le=1.0, description="How likely this passage holds the answer (0-1).")
    highlight_start: int = Field(ge=0, description="Start of the answer (or best sentence) inside the document.")
    highlight_end: int = Field(ge=0, description="End of the answer (or best sentence) inside the document.")
    evidence: EvidenceOut = Field(description="Evidence kind of the highlighted span.")
    excerpt: ExcerptOut = Field(
        description="What the chat shows of the quote: its text from excerpt.start to excerpt.end, the highlight "
        "marked (the highlight's paragraph, up to 240 characters each side, cut at a word)."
    )


class AskResponse(BaseModel):
    """The answer. When not abstained, ``answer`` is a substring of ``passages[0].quote``;
    when abstained, ``answer`` is empty and ``passages`` is empty."""

    question: str
    answer: str
    abstained: bool
    confidence: float = Field(
        ge=0.0,
        le=1.0,
        description="Calibrated probability that the answer holds what was asked; for an abstention, "
        "the probability that the sources answer the question at all.",
    )
    passages: list[PassageOut]
    disclaimer: str | None
    safety_topics: list[str]
    reason: str | None = Field(None, description="Why the system abstained, when it did, in words.")
    reason_code: ReasonCode | None = Field(
        None, description="Why the system abstained, as one code of a fixed set (null when answered)."
    )
    followup: Literal["carried", "more", "sources"] | None = Field(
        None,
        description="How the question rested on the earlier turns: null (answered as asked), \"carried\" (the "
        "earlier topic named in it), \"more\" (more from around the last answer) or \"sources\" (each document's "
        "best passage: passages[0] holds the answer, passages[1] the other document's).",
    )
    read_as: str = Field("", description="The self-contained question the answer was found for (the question itself "
                         "when nothing was carried over).")

    @computed_field(
        description="Index into passages of the other source's passage the chat shows side by side with "
        "passages[0] (one a study result, the other the clinician's advice or a patient's story; "
        "docs/evidence.md, \"Side by side\"); null when there is no such pair."
    )
    @property
    def beside(self) -> int | None:
        """Decided here once (``web/evidence_view.beside_index``) for the server's page and the chat's script."""
        return beside_index(self.passages)


class DocumentSummary(BaseModel):
    """One source document in ``GET /api/documents``."""

    id: str
    title: str
    length: int = Field(description="Characters of canonical text.")


class SectionOut(BaseModel):
    """A section of a document as a span of its canonical text."""

    title: str
    start: int
    end: int


class DocumentOut(BaseModel):
    """A whole document: every offset in answers indexes into ``text``."""

    id: str
    title: str
    text: str
    sections: list[SectionOut]


class HealthOut(BaseModel):
    """Service status for ``GET /healthz``."""

    status: str
    documents: int
    chunks: int
    sentences: int
    model: str
    index_built_at: str
    index_build: str = Field(description="Id of the index build in service (its folder name, not a path).")
    vector_index: str
    replica: str | None = Field(
        default=None, description="Which Ray Serve replica answered (its id, node and process); null for `verbatim serve`."
    )


class ReadyOut(BaseModel):
    """Readiness for ``GET /readyz``."""

    ready: bool


class ErrorOut(BaseModel):
    """Every error response has this shape."""

    error: str
    detail: list[dict] | str | None = None


# -- feedback (POST /api/feedback) ---------------------------------------------------------------

MAX_READ_AS_CHARS = 2000
MAX_FEEDBACK_HISTORY_TURNS = 20


class FeedbackSpanIn(BaseModel):
    """An answer span: a passage's ``highlight_start``/``highlight_end`` in its document."""

    model_config = ConfigDict(extra="forbid")

    doc_id: str = Field(..., min_length=1, max_length=500)
    start: int = Field(..., ge=0, strict=True)
    end: int = Field(..., ge=0, strict=True)


class FeedbackRequest(BaseModel):
    """Feedback on one answer, sent by the person who asked. It stores the question text."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "question": "How much glutamine should I take for gut health?",
                    "verdict": "not_helpful",
                    "reason": "wrong_passage",
                    "answer": {"doc_id": "glutamine-benefits-research", "start": 1200, "end": 1310},
                    "chosen": {"doc_id": "glutamine-faq", "start": 400, "end": 520},
                    "read_as": None,
                    "history": None,
                }
            ]
        },
    )

    question: str = Field(
        ...,
        max_length=MAX_QUESTION_CHARS * 4,
        description=f"The question as asked, 1 to {MAX_QUESTION_CHARS} characters after trimming.",
        json_schema_extra={"minLength": 1},
    )
    verdict: Literal["helpful", "not_helpful"]
    reason: Literal["wrong_passage", "should_abstain", "should_answer", "missing_safety_notice", "other"] | None = Field(
        None, description="Why the answer was not helpful (only with verdict not_helpful)."
    )
    answer: FeedbackSpanIn | None = Field(None, description="The answer's span (first passage's highlight); null for an abstention.")
    chosen: FeedbackSpanIn | None = Field(None, description='Another passage shown that answered the question ("This one answered it").')
    read_as: str | None = Field(None, max_length=MAX_READ_AS_CHARS, description="How a follow-up question was read, as /api/ask reported it.")
    history: list[Any] | None = Field(None, max_length=MAX_FEEDBACK_HISTORY_TURNS, description="The conversation as sent to /api/ask.")

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        return clean_question(value)

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackRequest:
        if self.verdict == "helpful" and self.reason is not None:
            raise ValueError("reason is only given with verdict not_helpful")
        if self.chosen is not None and self.answer is not None and self.chosen == self.answer:
            raise ValueError("chosen must be another passage than the answer")
        return self


class FeedbackCreated(BaseModel):
    """The stored record."""

    id: int = Field(description="Record id (for `verbatim feedback delete ID`).")
    status: str = Field(description="'pending': a maintainer reviews it before anything learns from it.")


# -- built from the answerer's types ---------------------------------------------------------


def evidence_out(passage: Passage) -> EvidenceOut:
    """The API shape of a passage's evidence kind (background when the index gave none)."""
    evidence = passage.evidence
    return EvidenceOut(kind=evidence.kind, design=evidence.design) if evidence else EvidenceOut(kind="background")


def excerpt_out(passage: Passage) -> ExcerptOut:
    """The API shape of the part of a passage's quote the chat shows."""
    window = excerpt_window(passage.quote, passage.start, passage.highlight_start, passage.highlight_end)
    return ExcerptOut(
        start=window.start, end=window.end, clipped_start=window.clipped_start, clipped_end=window.clipped_end
    )


def answer_to_response(answer: Answer) -> AskResponse:
    """The API shape of an answer."""
    return AskResponse(
        question=answer.question,
        answer=answer.answer,
        abstained=answer.abstained,
        confidence=max(0.0, min(1.0, answer.confidence)),
        passages=[
            PassageOut(
                doc_id=p.doc_id, title=p.title, section=p.section, quote=p.quote, start=p.start, end=p.end,
                score=p.score, highlight_start=p.highlight_start, highlight_end=p.highlight_end,
                evidence=evidence_out(p), excerpt=excerpt_out(p),
            )
            for p in answer.passages
        ],
        disclaimer=answer.disclaimer,
        safety_topics=answer.safety_topics,
        reason=answer.reason,
        reason_code=answer.reason_code,
        followup=answer.followup,
        read_as=answer.read_as or answer.question,
    )
