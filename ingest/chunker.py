"""Group sentences into retrieval chunks that fit the model's window.

A chunk is a run of whole sentences from one section, at most ``max_tokens`` model tokens
including the section heading that is prepended for embedding. Consecutive chunks of a long
section share ``overlap_sentences`` sentences so an answer near a cut is whole in one of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from verbatim import index_format
from verbatim.index_format import BlockKind
from verbatim.settings import ChunkingConfig

SPECIAL_TOKENS = 2  # [CLS] and [SEP]
# A section title is repeated in front of each later chunk of its section only when it is a
# label; a "heading" longer than this (a hostile one-line document) is content.
MAX_REPEATED_HEADING_CHARS = 300


def chunk_embedding_text(document: index_format.Document, section: int, start: int, end: int) -> str:
    """Text embedded and BM25-indexed for a chunk: the section heading is prepended when the
    chunk does not already start with it (a later chunk of a long section)."""
    info = document.sections[section]
    has_heading = len(info.title) <= MAX_REPEATED_HEADING_CHARS and document.text.startswith(info.title, info.start)
    if has_heading and start > info.start:
        return f"{info.title}\n{document.text[start:end]}"
    return document.text[start:end]


def embedded_texts(build: index_format.EmbeddedBuild) -> tuple[list[str], list[str]]:
    """The texts a build's sentence and chunk vectors were computed from, in their order.

    Args:
        build: A build's documents, tables and vectors (:func:`verbatim.index_format.load_embedded_build`).

    Returns:
        Sentence texts and chunk texts (as embedded: headings prepended).
    """
    documents, sentences, chunks = build.documents, build.sentences, build.chunks
    sentence_texts = [
        documents[doc].text[start:end]
        for doc, start, end in zip(sentences["doc"], sentences["start"], sentences["end"], strict=True)
    ]
    chunk_texts = [
        chunk_embedding_text(documents[doc], section, start, end)
        for doc, start, end, section in zip(chunks["doc"], chunks["start"], chunks["end"], chunks["section"], strict=True)
    ]
    return sentence_texts, chunk_texts


@dataclass
class ChunkSpan:
    """A chunk: sentence range (indices into the document's sentence list) and its text span."""

    first_sentence: int
    last_sentence: int
    start: int
    end: int
    section: int


def chunk_document(
    sentence_sections: list[int],
    sentence_spans: list[tuple[int, int]],
    sentence_kinds: list[BlockKind],
    sentence_tokens: list[int],
    heading_tokens: dict[int, int],
    config: ChunkingConfig,
) -> list[ChunkSpan]:
    """Cut one document's sentences into chunks.

    Args:
        sentence_sections: Section index of each sentence.
        sentence_spans: ``(start, end)`` of each sentence.
        sentence_kinds: Block kind of each sentence's block.
        sentence_tokens: Model tokens of each sentence, without special tokens.
        heading_tokens: Tokens of each section's heading (prepended to later chunks).
        config: Chunking parameters.

    Returns:
        Chunks in document order; none crosses a section, none is only a heading.
    """
    chunks: list[ChunkSpan] = []
    budget_total = config.max_tokens - SPECIAL_TOKENS
    index = 0
    count = len(sentence_spans)
    while index < count:
        section = sentence_sections[index]
        section_end = index
        while section_end < count and sentence_sections[section_end] == section:
            section_end += 1
        chunks.extend(
            _chunk_section(
                range(index, section_end), section, sentence_spans, sentence_kinds, sentence_tokens,
                heading_tokens.get(section, 0), budget_total, config.overlap_sentences,
            )
        )
        index = section_end
    return chunks


def _chunk_section(
    members: range,
    section: int,
    spans: list[tuple[int, int]],
    kinds: list[BlockKind],
    tokens: list[int],
    heading_cost: int,
    budget_total: int,
    overlap: int,
) -> list[ChunkSpan]:
    result: list[ChunkSpan] = []
    first = members.start
    while first < members.stop:
        # Later chunks carry the heading in their embedding text, so they have less room.
        budget = budget_total - (heading_cost + 1 if first != members.start else 0)
        last = first
        used = tokens[first]
        while last + 1 < members.stop and used + tokens[last + 1] <= budget:
            last += 1
            used += tokens[last]
        if not all(kinds[i] in (BlockKind.HEADING, BlockKind.TITLE) for i in range(first, last + 1)):
            result.append(ChunkSpan(first, last, spans[first][0], spans[last][1], section))
        if last + 1 >= members.stop:
            break
        following = max(first + 1, last + 1 - overlap)
        # Overlap only when the repeated sentences leave room for new ones.
        if sum(tokens[following : last + 1]) + tokens[last + 1] > budget_total - heading_cost - 1:
            following = last + 1
        first = following
    return result
