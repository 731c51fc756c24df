"""Pydantic models of the JSON API (request validation and the OpenAPI schema at /docs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from qa.types import ReasonCode

MAX_QUESTION_CHARS = 1000
MAX_TOP_K = 10


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

    @field_validator("question")
    @classmethod
    def _trimmed_length(cls, value: str) -> str:
        trimmed = value.strip()
        if not trimmed:
            raise ValueError("question must not be empty or only whitespace")
        if len(trimmed) > MAX_QUESTION_CHARS:
            raise ValueError(f"question must be at most {MAX_QUESTION_CHARS} characters (got {len(trimmed)})")
        if any(ord(char) < 32 and char not in "\t\n\r" or 0x7F <= ord(char) < 0xA0 for char in trimmed):
            raise ValueError("question must not contain control characters")
        return trimmed


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


class ReadyOut(BaseModel):
    """Readiness for ``GET /readyz``."""

    ready: bool


class ErrorOut(BaseModel):
    """Every error response has this shape."""

    error: str
    detail: list[dict] | str | None = None
