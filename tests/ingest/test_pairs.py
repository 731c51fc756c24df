"""Training pairs: skipped as documents, checked at load (spans, verbatim quotes, eval questions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.loader import PAIRS_SKIP_REASON, discover, pairs_files
from ingest.pairs import EvalQuestionGuard, load_pairs

REPO = Path(__file__).resolve().parents[2]
TEXT = "Glutamine is an amino acid. Take 5 grams daily with water. Avoid it with liver disease."


def _pair(**changes) -> dict:
    start = TEXT.index("Take 5 grams")
    end = start + len("Take 5 grams daily with water.")
    pair = {
        "id": "tp-1", "question": "how much should i take", "doc_id": "note", "start": start, "end": end,
        "quote": TEXT[start:end], "style": "casual", "source": "written",
    }
    pair.update(changes)
    return pair


def _write(folder: Path, pairs: list[dict]) -> Path:
    path = folder / "note.pairs.jsonl"
    path.write_text("".join(json.dumps(pair) + "\n" for pair in pairs), encoding="utf-8")
    return path


def _load(tmp_path: Path, pairs: list[dict], eval_questions: tuple[str, ...] = ()):
    return load_pairs([_write(tmp_path, pairs)], {"note": TEXT}, EvalQuestionGuard(eval_questions))


def test_the_loader_skips_pairs_files_with_the_reason(tmp_path):
    (tmp_path / "note.txt").write_text(TEXT, encoding="utf-8")
    _write(tmp_path, [_pair()])
    files, skipped = discover([tmp_path])
    assert [path.name for path in files] == ["note.txt"]
    assert [(Path(item.source).name, item.reason) for item in skipped] == [("note.pairs.jsonl", PAIRS_SKIP_REASON)]
    assert [path.name for path in pairs_files([tmp_path])] == ["note.pairs.jsonl"]


def test_a_valid_pair_is_kept(tmp_path):
    result = _load(tmp_path, [_pair()])
    assert [pair.id for pair in result.pairs] == ["tp-1"] and not result.rejected
    assert result.pairs[0].quote == TEXT[result.pairs[0].start : result.pairs[0].end]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"end": len(TEXT) + 5}, "outside"),
        ({"start": -1}, "outside"),
        ({"quote": "Take 5 grams daily with milk."}, "quote is not the canonical text"),
        ({"doc_id": "elsewhere"}, "not among the documents ingested"),
        ({"style": "shouty"}, "style"),
        ({"start": "3"}, "not an integer"),
        ({"question": "  "}, "empty question"),
    ],
)
def test_a_bad_pair_is_left_out_with_its_reason(tmp_path, changes, reason):
    result = _load(tmp_path, [_pair(**changes)])
    assert not result.pairs
    assert len(result.rejected) == 1 and reason in result.rejected[0].reason
    assert result.rejected[0].origin.endswith("note.pairs.jsonl:1")


def test_a_second_pair_with_the_same_id_is_left_out(tmp_path):
    result = _load(tmp_path, [_pair(), _pair(question="what dose")])
    assert len(result.pairs) == 1 and "used twice" in result.rejected[0].reason


@pytest.mark.parametrize(
    "question",
    [
        "How much glutamine should I take per day?",  # the eval question itself
        "how much glutamine should i take per day",  # case and punctuation
        "How much glutamine shuold I take per day?",  # one typo
        "how much glutamine should I take each day?",  # one word changed
    ],
)
def test_a_pair_that_nearly_duplicates_an_eval_question_is_left_out(tmp_path, question):
    result = _load(tmp_path, [_pair(question=question)], ("How much glutamine should I take per day?",))
    assert not result.pairs and "duplicates the eval question" in result.rejected[0].reason


def test_a_different_question_on_the_same_subject_is_not_a_near_duplicate(tmp_path):
    result = _load(tmp_path, [_pair(question="is glutamine ok if my liver is bad")], ("How much glutamine should I take per day?",))
    assert len(result.pairs) == 1


def test_the_guard_reads_every_eval_question_file():
    guard = EvalQuestionGuard.from_folder()
    first = json.loads((REPO / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()[0])["question"]
    reworded = json.loads((REPO / "eval" / "reworded_questions.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert guard.match(first) == first
    assert guard.match(reworded["question"].lower().rstrip("?")) == reworded["question"]


def test_the_shipped_pairs_are_all_valid_and_none_is_an_eval_question(corpus_settings):
    from verbatim import index_format

    build = index_format.current_build(corpus_settings.index_dir)
    documents = json.loads((build / "documents.json").read_text(encoding="utf-8"))
    result = load_pairs(pairs_files([REPO / "corpus"]), {document["doc_id"]: document["text"] for document in documents})
    assert not result.rejected, [f"{item.origin}: {item.reason}" for item in result.rejected[:5]]
    assert len(result.pairs) >= 400
    assert len(result.out_of_scope) >= 100  # near-topic questions the articles do not answer


def _out_of_scope(**changes) -> dict:
    row = {"id": "oos-1", "question": "how much creatine a day", "out_of_scope": True, "fit": "embedder", "style": "casual",
           "source": "written"}
    row.update(changes)
    return row


def test_an_out_of_scope_question_is_kept_apart_from_the_pairs(tmp_path):
    result = _load(tmp_path, [_pair(), _out_of_scope()])
    assert [pair.id for pair in result.pairs] == ["tp-1"] and not result.rejected
    assert [(item.id, item.question) for item in result.out_of_scope] == [("oos-1", "how much creatine a day")]
    assert result.out_of_scope_for("embedder") == ["how much creatine a day"] and not result.out_of_scope_for("abstention")
    other = tmp_path / "other"
    other.mkdir()
    assert _load(other, [_pair()]).content_hash() != result.content_hash()  # a model trained on it differs


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"doc_id": "note", "start": 0, "end": 5, "quote": "Gluta"}, "no answer span"),
        ({"style": "shouty"}, "style"),
        ({"fit": "ranker"}, "fit"),
        ({"question": " "}, "empty question"),
        ({"id": "tp-1"}, "used twice"),
        ({"question": "How much creatine should I take per day?"}, "duplicates the eval question"),
    ],
)
def test_a_bad_out_of_scope_question_is_left_out_with_its_reason(tmp_path, changes, reason):
    result = _load(tmp_path, [_pair(), _out_of_scope(**changes)], ("How much creatine should I take per day?",))
    assert not result.out_of_scope
    assert len(result.rejected) == 1 and reason in result.rejected[0].reason


def test_a_shipped_model_folder_is_neither_documents_nor_pairs(tmp_path):
    (tmp_path / "note.txt").write_text(TEXT, encoding="utf-8")
    _write(tmp_path, [_pair()])
    model = tmp_path / "note.model"
    model.mkdir()
    (model / "vocab.txt").write_text("[PAD]\n", encoding="utf-8")
    (model / "stray.pairs.jsonl").write_text("", encoding="utf-8")
    files, skipped = discover([tmp_path])
    assert [path.name for path in files] == ["note.txt"]
    assert [Path(item.source).name for item in skipped] == ["note.pairs.jsonl"]
    assert [path.name for path in pairs_files([tmp_path])] == ["note.pairs.jsonl"]
