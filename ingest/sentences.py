"""Split a block of canonical text into sentences with exact character offsets.

A rule-based splitter tuned for health writing: it keeps abbreviations ("Dr.", "e.g.",
"et al."), decimals ("p<0.001"), citations ("2022;54(8):1329-1337") and ellipses followed by
lower case ("the data is... mixed.") inside one sentence. It is linear in the text length
(thousands of times faster than pysbd on the MedQuAD corpus, with the same splits on the seed
corpus), and hard-splits overlong runs so no sentence is unbounded.
"""

from __future__ import annotations

import re

# A candidate boundary: terminal punctuation, optional closing quotes/brackets, whitespace,
# then something that can start a sentence.
# Possessive quantifiers and "not inside a run" keep it linear on hostile text ("....." x 10^6):
# backtracking into a run of punctuation or quotes can never find whitespace after it anyway.
_BOUNDARY = re.compile(r"(?<![.!?])[.!?]++[\"'”’)\]]*+(?=\s+[\"'“‘(\[]?[A-Z0-9])")
_ABBREVIATIONS = frozenset(
    """
    dr mr mrs ms prof sr jr st vs etc e.g i.e eg ie al fig figs approx dept est inc ltd co corp
    no nos vol vols pp ed eds jan feb mar apr jun jul aug sep sept oct nov dec mt ft u.s u.k
    ca cf ch sec min max avg mg mcg kg lb oz
    """.split()
)
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def _is_abbreviation(text: str, dot: int, next_char: str) -> bool:
    """Whether the period at ``dot`` ends an abbreviation rather than a sentence."""
    match = _WORD_BEFORE.search(text, max(0, dot - 12), dot)
    if not match:
        return False
    word = match.group(1).lower().rstrip(".")
    if word == "no":
        return next_char.isdigit()  # "No. 5" is an abbreviation; "No. Absolutely not." is not
    if word in _ABBREVIATIONS:
        return True
    return len(word) == 1 and word.isalpha() and text[match.start(1)].isupper()  # initials: "J. Smith"


def split_sentences(text: str, start: int, end: int, max_chars: int = 1500) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]``, trimmed of surrounding whitespace.

    Args:
        text: The whole canonical text (offsets are absolute).
        start: Start of the block.
        end: End of the block.
        max_chars: Sentences longer than this are cut at whitespace (or hard) into pieces.

    Returns:
        ``(start, end)`` pairs in order; ``text[s:e]`` never starts or ends with whitespace.
    """
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _BOUNDARY.finditer(text, start, end):
        boundary = match.end()
        if text[match.start()] == "." and match.end() - match.start() == 1:
            following = text[boundary:end].lstrip()[:1]
            if _is_abbreviation(text, match.start(), following):
                continue
        spans.append((cursor, boundary))
        cursor = boundary
    spans.append((cursor, end))
    trimmed: list[tuple[int, int]] = []
    for span_start, span_end in spans:
        while span_start < span_end and text[span_start].isspace():
            span_start += 1
        while span_end > span_start and text[span_end - 1].isspace():
            span_end -= 1
        if span_start < span_end:
            trimmed.extend(_cap_length(text, span_start, span_end, max_chars))
    return trimmed


def _cap_length(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut an overlong span into pieces of at most ``max_chars`` at whitespace where possible."""
    pieces = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + max_chars // 2, start + max_chars)
        if cut <= start:
            cut = start + max_chars
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        pieces.append((start, end))
    return pieces
