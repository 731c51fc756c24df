"""Evidence passages: the answer's passage first, then other documents that speak to the question.

Retrieved chunks of one document that overlap are merged, so no text is shown twice. Passages
are ordered by the best answer-ranker score of the sentences they contain; the answer's passage
always comes first and always contains the whole answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from qa.calibration import sigmoid
from qa.extractor import Extraction, ScoredSentence
from qa.store import IndexStore
from qa.tunables import TUNABLES
from qa.types import Evidence, Passage, RetrievedChunk

# Another document's passage is shown as support when its best sentence has at least this
# probability (by the answer ranker) of holding the answer.


@dataclass
class _Span:
    doc: int
    start: int
    end: int
    retrieval: float
    best: ScoredSentence | None = None
    chunks: list[int] = field(default_factory=list)

    def overlaps(self, doc: int, start: int, end: int) -> bool:
        return self.doc == doc and start <= self.end and end >= self.start

    def absorb(self, start: int, end: int) -> None:
        self.start, self.end = min(self.start, start), max(self.end, end)

    @property
    def rank_score(self) -> float:
        return self.best.score if self.best is not None else -math.inf


def _merge(store: IndexStore, retrieved: list[RetrievedChunk]) -> list[_Span]:
    """Union overlapping retrieved chunks of each document into spans (best retrieval score kept)."""
    by_doc: dict[int, list[RetrievedChunk]] = {}
    for item in retrieved:
        by_doc.setdefault(int(store.chunk_doc[item.chunk]), []).append(item)
    spans: list[_Span] = []
    for doc, items in by_doc.items():
        items.sort(key=lambda item: int(store.chunk_start[item.chunk]))
        current: _Span | None = None
        for item in items:
            start, end = int(store.chunk_start[item.chunk]), int(store.chunk_end[item.chunk])
            if current is not None and start <= current.end:
                current.absorb(start, end)
                current.retrieval = max(current.retrieval, item.score)
                current.chunks.append(item.chunk)
            else:
                current = _Span(doc, start, end, item.score, chunks=[item.chunk])
                spans.append(current)
    return spans


def build_passages(
    store: IndexStore,
    retrieved: list[RetrievedChunk],
    extraction: Extraction,
    top_k: int,
    min_support: float = TUNABLES.passages.support_probability,
) -> list[Passage]:
    """The passages of an answer.

    Args:
        store: The loaded index.
        retrieved: Retrieved chunks, best first.
        extraction: The chosen answer.
        top_k: Maximum number of passages.
        min_support: Least ranker probability for another document's passage to be shown
            second (0 when asked what each source says: every document's best passage).

    Returns:
        Passages whose quotes are exact slices of their documents' canonical text; the first
        contains the answer.
    """
    spans = _merge(store, retrieved)
    primary = next((s for s in spans if extraction.chunk in s.chunks), None)
    if primary is None:
        primary = _Span(extraction.doc, extraction.start, extraction.end, extraction.best.context)
    else:
        spans.remove(primary)
    # The answer may reach past its chunk (a whole list): the passage always contains it, and
    # anything it now overlaps joins it (repeatedly, as each join can widen it).
    primary.absorb(extraction.start, extraction.end)
    joined = True
    while joined:
        joined = False
        for span in list(spans):
            if span.overlaps(primary.doc, primary.start, primary.end):
                primary.absorb(span.start, span.end)
                spans.remove(span)
                joined = True

    for candidate in extraction.ranked:  # best first, so the first hit is each span's best
        sentence = candidate.sentence
        doc, start, end = int(store.sentence_doc[sentence]), int(store.sentence_start[sentence]), int(store.sentence_end[sentence])
        for span in spans:
            if span.best is None and span.doc == doc and span.start <= start and end <= span.end:
                span.best = candidate
                break
    spans.sort(key=lambda span: (-span.rank_score, -span.retrieval))

    supporting: list[_Span] = []
    documents_shown = {primary.doc}
    for span in spans:
        if span.doc not in documents_shown and span.best is not None and sigmoid(span.best.score) >= min_support:
            supporting.append(span)
            documents_shown.add(span.doc)
    ordered = [primary, *supporting, *(span for span in spans if span not in supporting)][:top_k]

    passages = []
    for span in ordered:
        document = store.documents[span.doc]
        if span is primary:
            highlight = (extraction.start, extraction.end)
            score = sigmoid(extraction.best.score)
        elif span.best is not None:
            highlight = (int(store.sentence_start[span.best.sentence]), int(store.sentence_end[span.best.sentence]))
            score = sigmoid(span.best.score)
        else:
            highlight = (span.start, span.start)
            score = 0.0
        passages.append(
            Passage(
                doc_id=document.doc_id,
                title=document.title,
                section=_section_at(document, span.start),
                quote=document.text[span.start : span.end],
                start=span.start,
                end=span.end,
                score=round(score, 4),
                highlight_start=highlight[0],
                highlight_end=highlight[1],
                evidence=_evidence(store, span, highlight),
            )
        )
    return passages


def _evidence(store: IndexStore, span: _Span, highlight: tuple[int, int]) -> Evidence:
    """Evidence kind of a passage's highlighted span (of the whole passage when nothing is highlighted)."""
    start, end = highlight if highlight[1] > highlight[0] else (span.start, span.end)
    return Evidence(*store.span_evidence(span.doc, start, end))


def _section_at(document, offset: int) -> str:
    for section in document.sections:
        if section.start <= offset <= section.end:
            return section.title
    return document.title
