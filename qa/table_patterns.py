"""Regular expressions of ``qa/``'s hand-written TOML tables.

A table gives a pattern under one key and whether it ignores case under another
(``asks`` and ``asks_ignore_case``; ``pattern`` and ``ignore_case``). Read by
``qa/extractor.py``, ``qa/normalizer.py`` and ``qa/abstention.py``.
"""

from __future__ import annotations

import re
from typing import Any


def table_pattern(table: dict[str, Any], key: str, ignore_case_key: str | None = None) -> re.Pattern[str]:
    """Compile the pattern a TOML table gives under ``key``.

    Args:
        table: One table (or array-of-tables row) of the file.
        key: Where the pattern stands.
        ignore_case_key: Where its case flag stands; ``<key>_ignore_case`` when not given.

    Returns:
        The pattern, ignoring case when the flag is true.
    """
    ignore_case = table[ignore_case_key or f"{key}_ignore_case"]
    return re.compile(table[key], re.IGNORECASE if ignore_case else 0)
