"""Parse one decoded source into its canonical document, blocks and sentence spans."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.cleaner import clean
from ingest.loader import SourceText
from ingest.sentences import split_sentences
from ingest.structure import BlockSpan, detect_structure
from verbatim.index_format import BlockKind, Document

# Blocks that are one unit of meaning and are never cut into sentences.
_WHOLE_BLOCKS = {BlockKind.TITLE, BlockKind.HEADING, BlockKind.TABLE_HEADER, BlockKind.TABLE_ROW, BlockKind.FAQ_QUESTION}


@dataclass
class SentenceSpan:
    """A sentence of canonical text and the block it belongs to (index within the document)."""

    start: int
    end: int
    block: int


@dataclass
class ParsedDocument:
    """A document ready for chunking and embedding."""

    document: Document
    blocks: list[BlockSpan]
    sentences: list[SentenceSpan]
    removed: list[str]


def humanise(stem: str) -> str:
    """Title from a file name: ``glutamine-clinician-guide`` -> ``Glutamine Clinician Guide``."""
    words = [word for word in re.split(r"[-_\s]+", stem) if word]
    return " ".join(word[:1].upper() + word[1:] for word in words) or stem


def parse_source(source: SourceText, max_sentence_chars: int) -> ParsedDocument:
    """Clean a source and find its structure and sentences.

    Args:
        source: Decoded document from the loader.
        max_sentence_chars: Longest sentence kept in one piece.

    Returns:
        The parsed document; all spans index into ``document.text``.
    """
    cleaned = clean(source.text, source.kind)
    structure = detect_structure(cleaned, fallback_title=source.title or humanise(source.doc_id))
    title = source.title or structure.title
    text = cleaned.text
    sentences: list[SentenceSpan] = []
    for number, block in enumerate(structure.blocks):
        if block.kind in _WHOLE_BLOCKS and block.end - block.start <= max_sentence_chars:
            sentences.append(SentenceSpan(block.content_start, block.end, number))
            continue
        for start, end in split_sentences(text, block.content_start, block.end, max_sentence_chars):
            sentences.append(SentenceSpan(start, end, number))
    document = Document(
        doc_id=source.doc_id,
        title=title,
        source=source.source,
        content_hash=source.content_hash,
        text=text,
        sections=structure.sections,
        encoding=source.encoding,
    )
    return ParsedDocument(document=document, blocks=structure.blocks, sentences=sentences, removed=cleaned.removed)
