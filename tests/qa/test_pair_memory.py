"""The training questions as ranker evidence (qa/pair_memory.py ``pair_sim``), its ranker column
and the build file it is read from, on a small synthetic index without the model."""

from __future__ import annotations

import numpy as np
import pytest

from qa.calibration import LinearModel
from qa.extractor import RANKER_FEATURES, AnswerExtractor
from qa.pair_memory import PairMemory
from tests.qa.synthetic import Block, build_store, query
from verbatim import index_format
from verbatim.index_format import BlockKind as K

DIMENSIONS = 32


@pytest.fixture(scope="module")
def store():
    return build_store(
        {
            "guide": [Block(K.PARAGRAPH, ["Take 5 grams daily.", "Split it into two doses.", "Powder mixes easily."])],
            "other": [Block(K.PARAGRAPH, ["Capsules hold fillers."])],
        }
    )


def _unit(*weights: tuple[int, float]) -> np.ndarray:
    vector = np.zeros(DIMENSIONS, np.float32)
    for axis, weight in weights:
        vector[axis] = weight
    return vector / np.linalg.norm(vector)


def _memory(store, rows):
    """Training questions (vector, doc id, first sentence, last sentence) over the store's offsets."""
    return PairMemory.from_columns({
        "vectors": np.stack([vector for vector, *_ in rows]).astype(np.float32),
        "doc_ids": np.array([doc_id for _, doc_id, _, _ in rows], dtype=str),
        "start": np.array([int(store.sentence_start[first]) for *_, first, _ in rows], np.int32),
        "end": np.array([int(store.sentence_end[last]) for *_, last in rows], np.int32),
    })


def test_each_sentence_takes_the_closest_training_question_that_it_answers(store):
    # Question 0 (axis 20) is answered by sentences 0-1; question 1 (axis 21) by sentence 1 alone.
    memory = _memory(store, [(_unit((20, 1.0)), "guide", 0, 1), (_unit((21, 1.0)), "guide", 1, 1)])
    asked = _unit((20, 0.6), (21, 0.8))
    similarity = memory.similarity(store, np.arange(4), asked)
    assert similarity[0] == pytest.approx(0.6)
    assert similarity[1] == pytest.approx(0.8)  # the closer of the two questions it answers
    assert similarity[2] == 0.0  # no training question touches it
    assert similarity[3] == 0.0  # another document, though sentence 3's offsets overlap nothing of the guide's


def test_spans_are_matched_by_document_id_and_offsets(store):
    # A span of "other" starting at offset 0 touches its sentence 3, not the guide's sentence 0.
    memory = _memory(store, [(_unit((20, 1.0)), "other", 3, 3)])
    similarity = memory.similarity(store, np.arange(4), _unit((20, 1.0)))
    assert list(similarity) == pytest.approx([0.0, 0.0, 0.0, 1.0])


def test_negative_cosines_count_as_nothing(store):
    memory = _memory(store, [(_unit((20, 1.0)), "guide", 2, 2)])
    assert memory.similarity(store, np.array([2]), -_unit((20, 1.0)))[0] == 0.0


def test_without_training_questions_each_sentence_stands_in_for_them(store):
    asked = _unit((1, 0.6), (2, 0.8))  # sentence n has the unit vector of axis n
    assert PairMemory.empty().similarity(store, np.arange(4), asked).tolist() == pytest.approx([0.0, 0.6, 0.8, 0.0])
    assert PairMemory.empty().top(asked) == 0.0
    assert PairMemory.empty().top(asked, fallback=0.7) == 0.7
    assert len(PairMemory.from_columns(None)) == 0


def test_top_is_the_closest_training_question_of_all(store):
    memory = _memory(store, [(_unit((20, 1.0)), "guide", 0, 0), (_unit((21, 1.0)), "other", 3, 3)])
    assert memory.top(_unit((20, 0.6), (21, 0.8))) == pytest.approx(0.8)
    assert memory.top(-_unit((20, 1.0))) == 0.0


def test_the_abstention_feature_is_the_closest_training_question(store):
    from qa.abstention import AbstentionPolicy
    from qa.calibration import Calibration
    from verbatim.safety_policy import SafetyPolicy

    memory = _memory(store, [(_unit((20, 1.0)), "guide", 0, 0)])
    asked = query("how many doses", {20: 0.6, 21: 0.8}, DIMENSIONS)
    with_pairs = AbstentionPolicy(store, SafetyPolicy.load(), Calibration.load(), memory)
    assert with_pairs.features(asked, [], None, {}, set()).pair_top == pytest.approx(0.6)
    without = AbstentionPolicy(store, SafetyPolicy.load(), Calibration.load())
    assert without.features(asked, [], None, {}, set()).pair_top == 0.0  # no answer sentence either


def test_the_ranker_column_is_the_memory_similarity(store):
    memory = _memory(store, [(_unit((20, 1.0)), "guide", 1, 1)])
    extractor = AnswerExtractor(store, LinearModel(0.0, dict.fromkeys(RANKER_FEATURES, 0.0)), pairs=memory)
    asked = query("how many doses", {20: 0.5, 0: 0.5}, DIMENSIONS)
    sentences = np.arange(4)
    matrix = extractor.features(asked, sentences, np.zeros(4), np.zeros(4))
    column = matrix[:, RANKER_FEATURES.index("pair_sim")]
    assert column.tolist() == pytest.approx(memory.similarity(store, sentences, asked.vector).tolist())
    assert column[1] > 0 and column[0] == 0.0
    # With only pair_sim weighted, the sentence the close training question was answered by wins.
    ranked = AnswerExtractor(
        store, LinearModel(0.0, {**dict.fromkeys(RANKER_FEATURES, 0.0), "pair_sim": 1.0}), pairs=memory
    ).features(asked, sentences, np.zeros(4), np.zeros(4)) @ np.eye(len(RANKER_FEATURES))[RANKER_FEATURES.index("pair_sim")]
    assert int(np.argmax(ranked)) == 1


def test_the_build_file_round_trips_and_is_verified(tmp_path):
    columns = {
        "vectors": np.eye(2, 4, dtype=np.float32),
        "doc_ids": np.array(["a", "b"], dtype=str),
        "start": np.array([0, 5], np.int32),
        "end": np.array([4, 9], np.int32),
    }
    build = tmp_path / "builds" / "b1"
    build.mkdir(parents=True)
    index_format.write_pair_questions(build, columns)
    index_format._finish_manifest(build, {})
    (tmp_path / "CURRENT").write_text("b1", encoding="utf-8")
    loaded = index_format.load_pair_questions(tmp_path)
    assert loaded is not None
    for name in index_format.PAIR_QUESTION_COLUMNS:
        assert loaded[name].tolist() == columns[name].tolist()
    memory = PairMemory.load(tmp_path)
    assert len(memory) == 2 and memory.doc_ids.tolist() == ["a", "b"]
    # An altered file is refused, as every other index file is.
    path = build / index_format.PAIR_QUESTIONS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(index_format.IndexInvalidError):
        index_format.load_pair_questions(tmp_path)


def test_a_build_without_the_file_has_no_training_questions(tmp_path):
    build = tmp_path / "builds" / "b1"
    build.mkdir(parents=True)
    (build / "documents.json").write_text("[]", encoding="utf-8")
    index_format._finish_manifest(build, {})
    (tmp_path / "CURRENT").write_text("b1", encoding="utf-8")
    assert index_format.load_pair_questions(tmp_path) is None
    assert len(PairMemory.load(tmp_path)) == 0
