"""Reading the JSONL files of questions, conversations and pairs (``qa/training/dataset.py``)."""

from __future__ import annotations

import pytest

from qa.training.dataset import jsonl_rows, load_questions


def test_rows_are_built_in_file_order_with_their_line_numbers_blank_lines_skipped(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"n": 1}\n\n   \n{"n": 2}\n', encoding="utf-8")
    assert list(jsonl_rows(path, lambda raw: raw["n"] * 10, "row")) == [(1, 10), (4, 20)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"n": 1}\nnot json\n', "rows.jsonl:2: malformed thing"),  # ValueError of json
        ('{"n": 1}\n{"m": 2}\n', r"rows.jsonl:2: malformed thing \('n'\)"),  # KeyError of build
        ('{"n": "x"}\n', "rows.jsonl:1: malformed thing"),  # TypeError of build
    ],
)
def test_a_malformed_line_is_named(tmp_path, text, message):
    path = tmp_path / "rows.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        list(jsonl_rows(path, lambda raw: raw["n"] + 1, "thing"))


def test_rows_before_a_malformed_line_are_given_first(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"n": 1}\n{"n": 2\n', encoding="utf-8")
    rows = jsonl_rows(path, lambda raw: raw["n"], "row")
    assert next(rows) == (1, 1)
    with pytest.raises(ValueError, match="rows.jsonl:2"):
        next(rows)


def test_eval_questions_keep_their_defaults_and_split(tmp_path):
    path = tmp_path / "questions.jsonl"
    path.write_text('{"id": "a", "question": "q1", "split": "dev"}\n{"id": "b", "question": "q2"}\n', encoding="utf-8")
    dev, test = load_questions(path, "dev"), load_questions(path, "test")
    assert [row.id for row in dev] == ["a"] and [row.id for row in test] == ["b"]
    assert test[0].category == "uncategorised" and test[0].gold == () and not test[0].abstain
    path.write_text('{"question": "no id"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="questions.jsonl:1: malformed eval row"):
        load_questions(path, "all")
