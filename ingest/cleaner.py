"""Turn decoded source text into canonical text: the exact text every offset refers to.

Cleaning removes what is not content (site navigation strips, comment prompts, emoji
decoration, invisible characters), repairs tables whose cell separators were lost, and keeps
one block of content per line. HTML and Markdown are reduced to the same line-per-block form,
with the structure their markup declares recorded as hints for :mod:`ingest.structure`.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from html.parser import HTMLParser

from verbatim.index_format import BlockKind

_INVISIBLE = re.compile("[\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u202a-\u202e\u2066-\u2069\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_EMOJI = (
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U00002b00-\U00002bff"
    "\U0001f1e6-\U0001f1ff\ufe0e\ufe0f\u20e3\U000e0020-\U000e007f]+"
)
_EMOJI_RUN = re.compile(f" ?{_EMOJI} ?")
_GLUED = re.compile(r"(?<=[a-z\)\]%])(?=[A-Z\(])")
_NAV_GLUE = re.compile(r"[a-z&][A-Z]")
_TRAILING_PROMPT = re.compile(
    r"^(join the (discussion|conversation)|leave a (comment|reply)|post a comment|add a comment"
    r"|comments?( \(\d+\))?|\d+ comments?|share your thoughts|have (any )?questions or (insights|thoughts)"
    r"|what do you think\?|related (articles|posts|reading))\b",
    re.IGNORECASE,
)
_BOILERPLATE_LINE = re.compile(
    r"^(advertisement|sponsored( content)?|subscribe( to our newsletter)?|sign up for our newsletter"
    r"|share this( article| post)?|print this (page|article)|skip to (main )?content|back to top)[.!]?$",
    re.IGNORECASE,
)
# Written to stay linear on hostile lines ("[[[[..." or "# ####...x" a million long): link text
# cannot contain "[", a destination may hold one level of parentheses, and a heading's closing
# hashes are stripped with str methods instead of a backtracking "(.*?)\s*#*\s*$".
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_MD_LINK = re.compile(r"!?\[([^\[\]\n]*)\]\([^()\n]*(?:\([^()\n]*\))?[^()\n]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|`)")
_MD_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?$")


@dataclass
class CleanedText:
    """Canonical text plus what markup said about its lines.

    Attributes:
        text: The canonical text (lines separated by ``\\n``).
        line_kinds: Block kind of a line (by line number) when markup declared it.
        title: Title declared by the source (HTML ``<title>``, Markdown ``# ``), if any.
        removed: Human-readable notes on what was removed, for the ingest summary.
    """

    text: str
    line_kinds: dict[int, BlockKind] = field(default_factory=dict)
    title: str | None = None
    removed: list[str] = field(default_factory=list)


def normalise_characters(text: str) -> str:
    """Unify newlines, drop invisible and control characters, collapse runs of spaces."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = unicodedata.normalize("NFC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    return _SPACES.sub(" ", text)


def strip_emoji(line: str) -> str:
    """Remove emoji (decoration) from a line, leaving single spaces between words."""
    if not _EMOJI_RUN.search(line):
        return line
    return _EMOJI_RUN.sub(" ", line).strip()


def is_navigation(line: str) -> bool:
    """A site menu flattened into one line ("Nutrition & FoodsWellness & Therapies...Topics →")."""
    stripped = line.strip()
    if not stripped or len(stripped) > 600:
        return False
    if re.search(r"[.!?](\s|$)", stripped):
        return False
    glued = len(_NAV_GLUE.findall(stripped))
    word_count = len(stripped.split())
    ends_with_arrow = stripped.endswith(("→", "»", "›", ">>"))
    separators = sum(stripped.count(mark) for mark in ("|", "•", "·"))
    # Menu items run together densely ("FoodsWellness & TherapiesHerbs"); a few CamelCase
    # names in a long line of prose or a list ("MedlinePlus") are not a menu.
    dense_glue = glued >= 3 and glued * 5 >= word_count
    return dense_glue or (ends_with_arrow and glued >= 1) or (separators >= 3 and word_count <= 4 * (separators + 1))


def _table_cells(line: str) -> list[str] | None:
    stripped = line.strip()
    if not stripped or len(stripped) > 250 or stripped.endswith((".", "!", "?", ":")):
        return None
    cells = [cell.strip() for cell in _GLUED.split(stripped)]
    if len(cells) < 2 or any(len(cell) < 3 for cell in cells):
        return None
    return cells


def repair_tables(lines: list[str]) -> tuple[list[str], dict[int, BlockKind], int]:
    """Re-insert cell separators in runs of rows whose cells were glued together.

    A run is two or more consecutive lines that split into the same number (two or more) of
    cells at lower-to-upper case junctions. Each row becomes ``cell | cell | cell``.

    Args:
        lines: Lines of text.

    Returns:
        The lines, the kinds of the repaired lines (first row is the header), and the number
        of tables repaired.
    """
    kinds: dict[int, BlockKind] = {}
    output = list(lines)
    tables = 0
    index = 0
    while index < len(lines):
        cells = _table_cells(lines[index])
        if cells is None:
            index += 1
            continue
        run = [cells]
        end = index + 1
        while end < len(lines):
            following = _table_cells(lines[end])
            if following is None or len(following) != len(cells):
                break
            run.append(following)
            end += 1
        if len(run) >= 2:
            tables += 1
            for offset, row in enumerate(run):
                output[index + offset] = " | ".join(row)
                kinds[index + offset] = BlockKind.TABLE_HEADER if offset == 0 else BlockKind.TABLE_ROW
            index = end
        else:
            index += 1
    return output, kinds, tables


def _trailing_prompt_start(lines: list[str]) -> int | None:
    """Line where an end-of-page comment prompt begins (only in the last few content lines)."""
    content = [number for number, line in enumerate(lines) if line.strip()]
    for number in content[-6:]:
        if _TRAILING_PROMPT.match(lines[number].strip()):
            return number
    return None


class _HtmlText(HTMLParser):
    """Collect the visible text of an HTML page as one line per block element."""

    BLOCKS = {
        "p", "div", "section", "article", "main", "header", "footer", "aside", "blockquote", "pre",
        "li", "dt", "dd", "tr", "table", "ul", "ol", "dl", "br", "hr", "figcaption", "h1", "h2", "h3",
        "h4", "h5", "h6", "title", "nav", "form",
    }
    SKIP = {"script", "style", "noscript", "template", "svg", "head", "iframe", "object", "canvas", "nav"}
    HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[str, BlockKind | None]] = []
        self.title: str | None = None
        self._buffer: list[str] = []
        self._kind: BlockKind | None = None
        self._skip_depth = 0
        self._in_title = False
        self._title_parts: list[str] = []
        self._cells: list[str] | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "title":
            self._in_title = True
            return
        if tag in self.SKIP:
            self._skip_depth += 1
            return
        if self._skip_depth:
            return
        if tag in ("td", "th") and self._cells is not None:
            self._flush_cell()
            return
        if tag in self.BLOCKS:
            self._flush()
        if tag in self.HEADINGS:
            self._kind = BlockKind.HEADING
        elif tag == "li":
            self._kind = BlockKind.LIST_ITEM
            self._buffer.append("- ")
        elif tag == "tr":
            self._cells = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            self.title = " ".join("".join(self._title_parts).split()) or None
            return
        if tag in self.SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
            return
        if self._skip_depth:
            return
        if tag in ("td", "th") and self._cells is not None:
            self._flush_cell()
            return
        if tag == "tr" and self._cells is not None:
            self._flush_cell()
            row = " | ".join(cell for cell in self._cells if cell)
            self._cells = None
            if row:
                self.lines.append((row, BlockKind.TABLE_ROW))
            return
        if tag in self.BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)
        elif not self._skip_depth:
            self._buffer.append(data)

    def _flush_cell(self) -> None:
        text = " ".join("".join(self._buffer).split())
        self._buffer = []
        if self._cells is not None and text:
            self._cells.append(text)

    def _flush(self) -> None:
        text = " ".join("".join(self._buffer).split())
        if text and text != "-":
            self.lines.append((text, self._kind))
        self._buffer = []
        self._kind = None

    def close(self) -> None:
        super().close()
        self._flush()


def _from_html(raw: str) -> tuple[list[str], dict[int, BlockKind], str | None]:
    parser = _HtmlText()
    parser.feed(raw)
    parser.close()
    lines, kinds = [], {}
    for text, kind in parser.lines:
        if kind is not None:
            kinds[len(lines)] = kind
        lines.append(html.unescape(text) if "&" in text else text)
    return lines, kinds, parser.title


def _from_markdown(raw: str) -> tuple[list[str], dict[int, BlockKind], str | None]:
    lines, kinds, title = [], {}, None
    in_fence = False
    for line in raw.split("\n"):
        if line.strip().startswith("```"):
            in_fence = not in_fence
            continue
        heading = None if in_fence else _MD_HEADING.match(line)
        line = _MD_EMPHASIS.sub("", _MD_LINK.sub(r"\1", line))
        stripped = line.strip()
        if not in_fence and stripped.startswith("|") and stripped.endswith("|") and len(stripped) > 1:
            if _MD_TABLE_RULE.match(stripped):
                continue
            cells = [cell.strip() for cell in stripped[1:-1].split("|")]
            first_row = not lines or kinds.get(len(lines) - 1) not in (BlockKind.TABLE_HEADER, BlockKind.TABLE_ROW)
            kinds[len(lines)] = BlockKind.TABLE_HEADER if first_row else BlockKind.TABLE_ROW
            lines.append(" | ".join(cells))
            continue
        if heading:
            heading_text = heading.group(2).rstrip().rstrip("#").rstrip()
            text = _MD_EMPHASIS.sub("", _MD_LINK.sub(r"\1", heading_text))
            if len(heading.group(1)) == 1 and title is None:
                title = text
                kinds[len(lines)] = BlockKind.TITLE
            else:
                kinds[len(lines)] = BlockKind.HEADING
            lines.append(text)
        else:
            lines.append(line)
    return lines, kinds, title


def clean(raw: str, kind: str) -> CleanedText:
    """Produce the canonical text of a document.

    Args:
        raw: Decoded source text.
        kind: ``text``, ``markdown``, ``html`` or ``record`` (from the loader).

    Returns:
        The canonical text with line hints and a note of what was removed.
    """
    removed: list[str] = []
    if kind == "html":
        lines, hints, title = _from_html(raw)
        lines = [normalise_characters(line) for line in lines]
    else:
        text = normalise_characters(raw)
        if kind == "markdown":
            lines, hints, title = _from_markdown(text)
        else:
            lines, hints, title = text.split("\n"), {}, None

    lines, table_kinds, tables = repair_tables([line.strip() for line in lines])
    if tables:
        removed.append(f"repaired {tables} table(s) with lost cell separators")
    hints = {**hints, **table_kinds}

    prompt = _trailing_prompt_start(lines)
    if prompt is not None:
        removed.append(f"comment prompt at the end ('{lines[prompt].strip()[:40]}')")
        lines = lines[:prompt]

    kept: list[str] = []
    kept_kinds: dict[int, BlockKind] = {}
    content_lines = sum(1 for line in lines if line.strip())
    for number, line in enumerate(lines):
        # A document's only line is its content, whatever it looks like.
        if number not in hints and content_lines > 1 and is_navigation(line):
            removed.append(f"navigation strip ('{line.strip()[:40]}...')")
            continue
        if _BOILERPLATE_LINE.match(line.strip()):
            removed.append(f"boilerplate line ('{line.strip()[:40]}')")
            continue
        line = strip_emoji(line).strip()
        if not line:
            if kept and kept[-1]:
                kept.append("")
            continue
        if number in hints:
            kept_kinds[len(kept)] = hints[number]
        kept.append(line)
    while kept and not kept[-1]:
        kept.pop()
    return CleanedText(text="\n".join(kept), line_kinds=kept_kinds, title=title, removed=removed)
