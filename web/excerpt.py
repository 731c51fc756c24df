"""The excerpt of a quote the chat shows: the highlighted span in its paragraph (issue 23).

The window is computed once, here, when the API's answer is built (``web/schemas.py`` puts it in
each passage as ``excerpt``); the server-rendered page (``web/routers/pages.py``) and the page's
script (``web/static/chat.js``) both only cut the quote at the window's offsets, so the chat
shows the same excerpt with and without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass

# Characters of context shown around the highlighted answer inside a quote (within its paragraph).
EXCERPT_CONTEXT_CHARS = 240


@dataclass(frozen=True)
class ExcerptWindow:
    """Which part of a quote is shown, in document offsets (Unicode code points).

    Attributes:
        start: Where the shown text starts (at or before the highlight).
        end: Where it ends (at or after the highlight).
        clipped_start: The paragraph goes on before ``start`` (the page shows an ellipsis).
        clipped_end: The paragraph goes on after ``end``.
    """

    start: int
    end: int
    clipped_start: bool = False
    clipped_end: bool = False


@dataclass(frozen=True)
class Excerpt:
    """The shown part of a quote as strings.

    Attributes:
        before: Text of the paragraph before the highlight.
        marked: The highlighted text (the answer, for the first passage).
        after: Text of the paragraph after the highlight.
        clipped_start: ``before`` was shortened (the page shows an ellipsis).
        clipped_end: ``after`` was shortened.
    """

    before: str
    marked: str
    after: str
    clipped_start: bool = False
    clipped_end: bool = False


def _mark(quote: str, quote_start: int, mark_start: int, mark_end: int) -> tuple[int, int]:
    """The highlight's bounds inside the quote, clamped to it."""
    low = min(max(mark_start - quote_start, 0), len(quote))
    high = min(max(mark_end - quote_start, low), len(quote))
    return low, high


def excerpt_window(
    quote: str, quote_start: int, mark_start: int, mark_end: int, context: int = EXCERPT_CONTEXT_CHARS
) -> ExcerptWindow:
    """The paragraph around a highlight, cut to ``context`` characters on each side.

    The context stops at line breaks (a quote often starts with its section heading, which the
    citation already names) and is cut at a word boundary after ``context`` characters.

    Args:
        quote: The passage text.
        quote_start: Offset of the quote in its document.
        mark_start: Start of the highlight in the document.
        mark_end: End of the highlight in the document.
        context: Characters of context kept on each side.

    Returns:
        The window, in document offsets within ``[quote_start, quote_start + len(quote)]``.
    """
    low, high = _mark(quote, quote_start, mark_start, mark_end)
    first = quote.rfind("\n", 0, low) + 1
    clipped_start = False
    if low - first > context:
        cut = low - context
        space = quote.find(" ", cut, low)
        first = space + 1 if space != -1 else cut
        clipped_start = True
    newline = quote.find("\n", high)
    last = newline if newline != -1 else len(quote)
    clipped_end = False
    if last - high > context:
        space = quote.rfind(" ", high, high + context)
        last = space if space > high else high + context
        clipped_end = True
    return ExcerptWindow(quote_start + first, quote_start + last, clipped_start, clipped_end)


def cut_excerpt(quote: str, quote_start: int, mark_start: int, mark_end: int, window: ExcerptWindow) -> Excerpt:
    """The strings a window shows (``web/static/chat.js``'s ``cutExcerpt`` does the same).

    Args:
        quote: The passage text.
        quote_start: Offset of the quote in its document.
        mark_start: Start of the highlight in the document.
        mark_end: End of the highlight in the document.
        window: The shown part (:func:`excerpt_window`).

    Returns:
        The excerpt; ``before + marked + after`` is a contiguous slice of ``quote``.
    """
    low, high = _mark(quote, quote_start, mark_start, mark_end)
    first = min(max(window.start - quote_start, 0), low)
    last = max(min(window.end - quote_start, len(quote)), high)
    return Excerpt(quote[first:low], quote[low:high], quote[high:last], window.clipped_start, window.clipped_end)


def make_excerpt(
    quote: str, quote_start: int, mark_start: int, mark_end: int, context: int = EXCERPT_CONTEXT_CHARS
) -> Excerpt:
    """The excerpt of a quote around a highlight (:func:`excerpt_window`, then :func:`cut_excerpt`).

    Args:
        quote, quote_start, mark_start, mark_end, context: As for :func:`excerpt_window`.

    Returns:
        The excerpt.
    """
    window = excerpt_window(quote, quote_start, mark_start, mark_end, context)
    return cut_excerpt(quote, quote_start, mark_start, mark_end, window)
