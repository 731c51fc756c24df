"""The training questions as evidence for the sentence to quote (qa/pair_memory.py, its columns
``pair_sim`` and ``pair_missing``) and the build file they are read from, on a small synthetic
index without the model."""

from __future__ import annotations

import numpy as np
import pytest

from qa.pair_memory import PairMemory
from tests.qa.synthetic import Block, build_store, live_build_with_pair_questions
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


def unit(*weights: tuple[int, float]) -> np.ndarray:
    """A unit vector from (axis, weight) couples (sentence n of the store has axis n)."""
    vector = np.zeros(DIMENSIONS, np.float32)
    for axis, weight in weights:
        vector[axis] = weight
    return vector / np.linalg.norm(vector)


def memory_of(store, rows) -> PairMemory:
    """Training questions (vector, doc id, first sentence, last sentence) over the store's offsets."""
    return PairMemory.from_columns({
        "vectors": np.stack([vector for vector, *_ in rows]).astype(np.float32),
        "doc_ids": np.array([doc_id for _, doc_id, _, _ in rows], dtype=str),
        "start": np.array([int(store.sentence_start[first]) for *_, first, _ in rows], np.int32),
        "end": np.array([int(store.sentence_end[last]) for *_, last in rows], np.int32),
    })


def test_each_sentence_takes_the_closest_training_question_that_it_answers(store):
    # Question 0 (axis 20) is answered by sentences 0-1; question 1 (axis 21) by sentence 1 alone.
    memory = memory_of(store, [(unit((20, 1.0)), "guide", 0, 1), (unit((21, 1.0)), "guide", 1, 1)])
    asked = unit((20, 0.6), (21, 0.8))
    evidence = memory.evidence(store, np.arange(3), asked)
    assert evidence.similarity.tolist() == pytest.approx([0.6, 0.8, 0.0])
    assert evidence.missing.tolist() == [0.0, 0.0, 1.0]  # sentence 2: no training question touches it


def test_a_sentence_without_training_questions_stands_in_with_its_own_cosine(store):
    memory = memory_of(store, [(unit((20, 1.0)), "guide", 0, 0)])
    asked = unit((20, 0.6), (2, 0.8))  # sentence 2 has cosine 0.8 with the question
    evidence = memory.evidence(store, np.array([0, 2]), asked)
    assert evidence.similarity.tolist() == pytest.approx([0.6, 0.8])
    assert evidence.missing.tolist() == [0.0, 1.0]


def test_spans_are_matched_by_document_id_and_offsets(store):
    # A span of "other" starting at offset 0 touches its sentence 3, not the guide's sentence 0.
    memory = memory_of(store, [(unit((20, 1.0)), "other", 3, 3)])
    evidence = memory.evidence(store, np.arange(4), unit((20, 1.0)))
    assert evidence.missing.tolist() == [1.0, 1.0, 1.0, 0.0]
    assert evidence.similarity.tolist() == pytest.approx([0.0, 0.0, 0.0, 1.0])


def test_negative_cosines_count_as_nothing(store):
    memory = memory_of(store, [(unit((20, 1.0)), "guide", 2, 2)])
    evidence = memory.evidence(store, np.array([2]), -unit((20, 1.0)))
    assert evidence.similarity[0] == 0.0 and evidence.missing[0] == 0.0


def test_without_training_questions_every_sentence_stands_in(store):
    asked = unit((1, 0.6), (2, 0.8))
    for memory in (PairMemory.empty(), PairMemory.from_columns(None)):
        evidence = memory.evidence(store, np.arange(4), asked)
        assert evidence.similarity.tolist() == pytest.approx([0.0, 0.6, 0.8, 0.0])
        assert evidence.missing.tolist() == [1.0] * 4
    assert len(PairMemory.from_columns(None)) == 0


def test_without_withholds_the_questions_touching_the_given_sentences(store):
    memory = memory_of(store, [
        (unit((20, 1.0)), "guide", 0, 1),  # touches sentences 0 and 1
        (unit((21, 1.0)), "guide", 2, 2),
        (unit((22, 1.0)), "other", 3, 3),
    ])

    def span(sentence: int) -> tuple[str, int, int]:
        doc = store.documents[int(store.sentence_doc[sentence])].doc_id
        return doc, int(store.sentence_start[sentence]), int(store.sentence_end[sentence])

    kept = memory.without({span(1)})
    assert len(kept) == 2 and kept.doc_ids.tolist() == ["guide", "other"]
    assert kept.vectors[0] @ unit((21, 1.0)) == pytest.approx(1.0)
    # Sentence 0 lost its only question with sentence 1's: it now stands in for itself.
    assert kept.evidence(store, np.array([0]), unit((20, 1.0))).missing[0] == 1.0
    # The same offsets in another document withhold nothing of this one.
    assert len(memory.without({("other", *span(0)[1:])})) == 2
    assert memory.without(set()) is memory


def test_the_build_file_round_trips_and_is_verified(tmp_path):
    columns = {
        "vectors": np.eye(2, 4, dtype=np.float32),
        "doc_ids": np.array(["a", "b"], dtype=str),
        "start": np.array([0, 5], np.int32),
        "end": np.array([4, 9], np.int32),
    }
    build = live_build_with_pair_questions(tmp_path, columns)
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
