"""Dataclasses exchanged by the question-answering components (and returned to callers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class ReasonCode(StrEnum):
    """Why an answer abstained, from a small fixed set.

    The free-text ``reason`` may quote the question's own words; logs and metric labels use
    this code instead, never the text.
    """

    NO_MATCH = "no_match"  # no passage of the sources matches at all
    UNSUPPORTED_SAFETY_TOPIC = "unsupported_safety_topic"  # a safety topic the sources do not discuss
    MISSING_ANSWER_TYPE = "missing_answer_type"  # asks for a kind of answer (a price, ...) they never give
    OTHER_LANGUAGE = "other_language"  # not English
    UNKNOWN_TERMS = "unknown_terms"  # names things the sources never mention
    NOTHING_TO_LOOK_UP = "nothing_to_look_up"  # "hello", "thanks"
    NOT_CLOSE_ENOUGH = "not_close_enough"  # the best passage does not answer closely enough
    NO_EARLIER_ANSWER = "no_earlier_answer"  # a follow-up ("tell me more") with no earlier answer to build on


@dataclass(frozen=True)
class Query:
    """A question prepared once for every component.

    Attributes:
        text: The question as asked (trimmed).
        normalised: The text that is embedded and matched (typos fixed, shorthand expanded).
        vector: Its embedding (the only model call per question).
        terms: Stemmed BM25 terms of the normalised text.
        key_terms: Folded content words of the normalised text (coverage of the vocabulary).
        embed_ms: Milliseconds its preparation took (normalising and embedding; a batch's time
            for each of its questions).
        told: The question brings up a condition or drug by naming it alone (a follow-up such as
            "and sleep apnea?"): the safety policy judges the names the sources never use as it
            does after a personal cue ("I have ..."). Never set for a question asked on its own.
    """

    text: str
    normalised: str
    vector: np.ndarray
    terms: tuple[str, ...]
    key_terms: tuple[str, ...]
    embed_ms: float = 0.0
    told: bool = False


@dataclass
class RetrievedChunk:
    """A chunk found by retrieval, with the scores of each retriever.

    Attributes:
        chunk: Chunk number in the index.
        dense: Cosine similarity of the chunk to the question.
        bm25: Raw BM25 score.
        score: Fused score used for ranking (0..1 for hybrid).
    """

    chunk: int
    dense: float
    bm25: float
    score: float


@dataclass(frozen=True)
class Evidence:
    """What kind of evidence a quoted span is (issue 26; kinds and designs: eval/EVIDENCE.md).

    Attributes:
        kind: ``caution``, ``study``, ``recommendation``, ``anecdote`` or ``background``.
        design: The stated design of a study (or of a study of a risk), else None.
    """

    kind: str
    design: str | None = None


@dataclass
class Passage:
    """A verbatim span of one document shown as evidence.

    Attributes:
        doc_id: Document identifier.
        title: Document title.
        section: Title of the section the passage starts in.
        quote: ``text[start:end]`` of the document's canonical text, exactly.
        start: Start offset in the canonical text.
        end: End offset in the canonical text.
        score: Retrieval score of the passage (0..1).
        highlight_start: Start of the best-matching span inside the passage (the answer for
            the first passage).
        highlight_end: End of that span.
        evidence: Evidence kind of the highlighted span (the first kind in the priority order
            among its sentences).
    """

    doc_id: str
    title: str
    section: str
    quote: str
    start: int
    end: int
    score: float
    highlight_start: int
    highlight_end: int
    evidence: Evidence | None = None


@dataclass
class Answer:
    """The answer to one question (what the API and the CLI return).

    Invariants: every passage's ``quote`` equals its document's canonical text at
    ``[start:end]``; when not abstained, ``answer`` is a substring of ``passages[0].quote``
    (at ``answer_start``..``answer_end`` of that document); when abstained, ``answer`` is
    empty and ``passages`` is empty.

    Attributes:
        question: The question as received.
        answer: Verbatim answer text, or "" when abstained.
        abstained: True when the sources do not answer the question.
        confidence: Calibrated 0..1 probability that the answer is right (for an abstention:
            that the sources answer the question at all; see ``qa/confidence.py``).
        passages: Evidence, best first; supporting passages from other documents follow.
        disclaimer: The fixed safety disclaimer, or None.
        safety_topics: Ids of the safety topics that fired.
        answer_doc_id: Document of the answer (None when abstained).
        answer_start: Offset of the answer in that document's canonical text.
        answer_end: End offset of the answer.
        reason: Why the system abstained, in words (may quote the question: never log it).
        reason_code: Why, as a fixed :class:`ReasonCode` (what logs and metrics use).
        timings_ms: Milliseconds spent per stage.
        followup: How the question rested on the conversation's earlier turns: None (answered
            as asked), ``carried``, ``more`` or ``sources`` (see ``qa/followup.py``).
        read_as: The self-contained question the answer was found for (None: the question).
    """

    question: str
    answer: str
    abstained: bool
    confidence: float
    passages: list[Passage]
    disclaimer: str | None = None
    safety_topics: list[str] = field(default_factory=list)
    answer_doc_id: str | None = None
    answer_start: int | None = None
    answer_end: int | None = None
    reason: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)
    reason_code: ReasonCode | None = None
    followup: str | None = None
    read_as: str | None = None


@dataclass(frozen=True)
class DocumentEntry:
    """One document of an index, as listed (without its text).

    Attributes:
        doc_id: Its id.
        title: Its title.
        length: Characters of its text.
    """

    doc_id: str
    title: str
    length: int
