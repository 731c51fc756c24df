"""Detect the structure of canonical text: title, headings, sections and block kinds.

Each non-empty line is a block (the cleaner keeps one block of content per line). A block's
kind drives answer extraction later: a FAQ question points to the answer below it, a lead-in
introduces the list items under it, a "Label: value" line is a fact on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.cleaner import CleanedText
from verbatim.index_format import BlockKind, Section

_LIST_MARKER = re.compile(r"^(?:[-*•–—▪◦]|\d{1,2}[.)])\s+")
_LABEL = re.compile(r"^([A-Z][^:.!?]{0,45}):\s+\S")
_SMALL_WORDS = frozenset(
    "a an and as at but by for from in into of on or the to vs via with is are be your you it its "
    "how what why who when where which do does".split()
)


@dataclass
class BlockSpan:
    """One line of canonical text and its role.

    Attributes:
        start: Offset of the first character of the line.
        end: Offset just past its last character.
        kind: Structural kind.
        section: Index of its section within the document.
        content_start: Where its text starts after a list marker ("- ").
    """

    start: int
    end: int
    kind: BlockKind
    section: int
    content_start: int


@dataclass
class Structure:
    """The structure of one document."""

    title: str | None
    sections: list[Section]
    blocks: list[BlockSpan]


def _title_case_ratio(line: str) -> float:
    words = [word.strip("\"'“”‘’()[]") for word in line.split()]
    significant = [word for word in words if word and word.lower() not in _SMALL_WORDS]
    if not significant:
        return 0.0
    capitalised = sum(1 for word in significant if word[0].isupper() or word[0].isdigit())
    return capitalised / len(significant)


def _is_heading(line: str, next_line: str | None) -> bool:
    words = line.split()
    if not words or len(words) > 14 or len(line) > 110:
        return False
    if line.endswith((".", ",", ";", ":", "!", "?")) or not (line[0].isupper() or line[0] in "\"“'"):
        return False
    if _title_case_ratio(line) >= 0.6 and len(words) >= 1:
        return True
    # Short sentence-case headings: a few words directly above a longer paragraph.
    return len(words) <= 5 and next_line is not None and len(next_line.split()) >= 3 * len(words)


def _is_label_line(line: str) -> bool:
    match = _LABEL.match(line)
    if not match:
        return False
    label = match.group(1)
    return len(label.split()) <= 5 and len(line) <= 200 and _title_case_ratio(line[match.end(1) + 1 :]) < 0.6


def _is_faq_question(line: str, next_line: str | None) -> bool:
    if not line.endswith("?") or len(line.split()) > 30 or re.search(r"[.!?]\s", line):
        return False
    return next_line is not None and not next_line.rstrip().endswith("?")


def classify_line(line: str, previous_kind: BlockKind | None, next_line: str | None) -> BlockKind:
    """Kind of one non-empty line from its own shape and its neighbours.

    Args:
        line: The line (stripped).
        previous_kind: Kind of the block above, if any.
        next_line: The next non-empty line, if any.

    Returns:
        The block kind.
    """
    if _LIST_MARKER.match(line):
        return BlockKind.LIST_ITEM
    if _is_faq_question(line, next_line):
        return BlockKind.FAQ_QUESTION
    if line.endswith(":") and next_line is not None and _LIST_MARKER.match(next_line):
        return BlockKind.LEAD_IN
    if _is_label_line(line):
        return BlockKind.LABEL_VALUE
    if _is_heading(line, next_line):
        return BlockKind.HEADING
    return BlockKind.PARAGRAPH


def detect_structure(cleaned: CleanedText, fallback_title: str) -> Structure:
    """Find blocks, headings and sections of canonical text.

    Args:
        cleaned: Output of :func:`ingest.cleaner.clean`.
        fallback_title: Title to use when the document declares none.

    Returns:
        The document's structure; sections cover every block.
    """
    text = cleaned.text
    lines: list[tuple[int, int, int]] = []  # (line number, start, end) of non-empty lines
    offset = 0
    for number, line in enumerate(text.split("\n")):
        if line.strip():
            lines.append((number, offset, offset + len(line)))
        offset += len(line) + 1

    title = cleaned.title
    blocks: list[BlockSpan] = []
    sections: list[Section] = []
    previous: BlockKind | None = None
    for position, (number, start, end) in enumerate(lines):
        line = text[start:end]
        next_line = text[lines[position + 1][1] : lines[position + 1][2]] if position + 1 < len(lines) else None
        kind = cleaned.line_kinds.get(number)
        if kind is None:
            kind = classify_line(line, previous, next_line)
            if kind == BlockKind.HEADING and position == 0 and title is None:
                kind = BlockKind.TITLE
        if kind == BlockKind.TITLE and title is None:
            title = line
        if kind in (BlockKind.TITLE, BlockKind.HEADING):
            if sections:
                sections[-1].end = blocks[-1].end if blocks else start
            sections.append(Section(title=line, start=start, end=end))
        elif not sections:
            sections.append(Section(title=title or fallback_title, start=start, end=end))
        marker = _LIST_MARKER.match(line) if kind == BlockKind.LIST_ITEM else None
        blocks.append(
            BlockSpan(
                start=start,
                end=end,
                kind=kind,
                section=len(sections) - 1,
                content_start=start + (marker.end() if marker else 0),
            )
        )
        previous = kind
    if sections:
        sections[-1].end = blocks[-1].end
    return Structure(title=title or fallback_title, sections=sections, blocks=blocks)
