"""The one reader of a TOML table's pattern and its case flag (``qa/table_patterns.py``)."""

from __future__ import annotations

import re
import tomllib

import pytest

from qa.table_patterns import table_pattern

TABLE = tomllib.loads(
    """
asks = '\\bprice\\b'
asks_ignore_case = true
shape = '\\bUSD\\b'
shape_ignore_case = false
pattern = 'go bad'
ignore_case = true
"""
)


def test_the_flag_beside_the_key_decides_the_case():
    asks, shape = table_pattern(TABLE, "asks"), table_pattern(TABLE, "shape")
    assert asks.pattern == r"\bprice\b" and asks.flags & re.IGNORECASE
    assert asks.search("What PRICE is it?")
    assert not shape.flags & re.IGNORECASE
    assert shape.search("ten USD") and not shape.search("ten usd")


def test_a_flag_under_another_name():
    pattern = table_pattern(TABLE, "pattern", "ignore_case")
    assert pattern.search("Does it GO BAD?")


def test_a_missing_flag_is_an_error_not_a_default():
    with pytest.raises(KeyError, match="pattern_ignore_case"):
        table_pattern(TABLE, "pattern")
