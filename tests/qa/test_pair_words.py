"""The training questions' words as covered vocabulary for the facts the best sentences hold
(qa/abstention.py ``_count_pair_words``, qa/pair_memory.py ``words_for``, the ``words`` column of
``pair_questions.npz``). Synthetic index, no model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import qa.abstention
from ingest.pair_questions import pair_words
from qa.abstention import AbstentionPolicy
from qa.calibration import Calibration, LinearModel
from qa.extractor import RANKER_FEATURES, AnswerExtractor
from qa.pair_memory import PairMemory
from qa.types import RetrievedChunk
from qa.word_specificity import typo_tolerant_specificity
from tests.qa.synthetic import Block, build_store, live_build_with_pair_questions, query
from verbatim import index_format
from verbatim.index_format import BlockKind as K
from verbatim.safety_policy import SafetyPolicy
from verbatim.textutil import light_stem

DIMENSIONS = 32
# The training questions, each with the sentence that answers it.
TRAINING = [
    ("will glutamine get me shredded?", 2),  # "Athletes gain muscle ..."
    ("is glutamine better than nothing?", 2),  # an everyday word: never counted
    ("does the powder clump in a shaker?", 4),  # "Powder mixes easily in water."
]


@pytest.fixture(scope="module")
def store():
    return build_store(
        {
            "guide": [
                Block(K.PARAGRAPH, ["Glutamine is an amino acid."]),
                Block(K.PARAGRAPH, ["Most adults take five grams.", "Athletes gain muscle with glutamine."]),
                Block(K.PARAGRAPH, ["Split it into two doses a day."]),
                Block(K.PARAGRAPH, ["Powder mixes easily in water."]),
            ]
        }
    )


def _columns(store, rows=TRAINING) -> dict[str, np.ndarray]:
    return {
        "vectors": np.eye(len(rows), DIMENSIONS, 20, dtype=np.float32),
        "doc_ids": np.array(["guide"] * len(rows), dtype=str),
        "start": np.array([int(store.sentence_start[s]) for _, s in rows], np.int32),
        "end": np.array([int(store.sentence_end[s]) for _, s in rows], np.int32),
        "words": np.array([" ".join(pair_words(question)) for question, _ in rows], dtype=str),
    }


@pytest.fixture(scope="module")
def memory(store):
    return PairMemory.from_columns(_columns(store))


def test_the_stored_words_are_the_questions_key_words_stemmed():
    assert pair_words("Will glutamine get me SHREDDED, shredded?") == ["glutamine", light_stem("shredded")]
    assert "the" not in pair_words("does the powder clump in a shaker?")


def test_words_for_gives_the_words_of_the_questions_a_sentence_answers(store, memory):
    assert light_stem("shredded") in memory.words_for(store, np.array([2]))
    assert "clump" not in memory.words_for(store, np.array([2]))
    assert memory.words_for(store, np.array([4])) == frozenset(pair_words("does the powder clump in a shaker?"))
    assert memory.words_for(store, np.array([0, 1, 3])) == frozenset()
    assert memory.words_for(store, np.array([], dtype=np.int64)) == frozenset()
    # A build written before the words were stored has none.
    older = {name: value for name, value in _columns(store).items() if name != "words"}
    assert PairMemory.from_columns(older).words is None
    assert PairMemory.from_columns(older).words_for(store, np.array([2])) == frozenset()


def test_withholding_questions_keeps_their_words_aligned(store, memory):
    span = ("guide", int(store.sentence_start[2]), int(store.sentence_end[2]))
    kept = memory.without({span})
    assert len(kept) == 1 and kept.words == (frozenset(pair_words("does the powder clump in a shaker?")),)
    assert kept.words_for(store, np.array([2])) == frozenset()


PLAIN = LinearModel(0.0, {**dict.fromkeys(RANKER_FEATURES, 0.0), "dense": 10.0})


def _decide(store, memory, text, weights, candidates=3):
    """The abstention features of ``text`` whose vector gives each sentence its weight."""
    asked = query(text, weights, DIMENSIONS)
    retrieved = [RetrievedChunk(chunk=c, dense=0.5, bm25=1.0, score=1.0) for c in range(len(store.chunk_doc))]
    extraction = AnswerExtractor(store, PLAIN).choose(asked, retrieved).decided
    policy = AbstentionPolicy(store, SafetyPolicy.load(), Calibration.load(), memory)
    tunables = qa.abstention.TUNABLES
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            qa.abstention, "TUNABLES",
            replace(tunables, abstention=replace(tunables.abstention, pair_word_candidates=candidates)),
        )
        return asked, extraction, policy.features(asked, retrieved, extraction, {}, set())


def test_a_word_the_training_questions_use_for_the_best_sentences_fact_counts_as_covered(store, memory):
    text = "are athletes shredded on glutamine"
    asked, extraction, features = _decide(store, memory, text, {2: 0.9, 1: 0.3})
    assert extraction.best.sentence == 2
    without = AbstentionPolicy(store, SafetyPolicy.load(), Calibration.load()).features(asked, [], extraction, {}, set())
    assert without.uncovered == ["shredded"] and without.pair_covered == []
    assert features.uncovered == [] and features.pair_covered == ["shredded"]
    assert features.coverage == 1.0 > without.coverage
    assert features.covered_specific == pytest.approx(without.covered_specific + typo_tolerant_specificity("shredded"))


def test_the_same_word_stays_uncovered_when_no_best_sentence_holds_the_fact_it_was_used_for(store, memory):
    # The training question with "shredded" is answered by sentence 2, ranked fourth here.
    _, extraction, features = _decide(store, memory, "are adults shredded", {0: 0.9, 1: 0.8, 3: 0.7, 2: 0.1})
    assert 2 not in [c.sentence for c in extraction.ranked[:3]]
    assert features.uncovered == ["shredded"] and features.pair_covered == []
    # With every candidate counted it is covered; with none it never is.
    assert _decide(store, memory, "are adults shredded", {0: 0.9, 1: 0.8, 3: 0.7, 2: 0.1}, 10)[2].uncovered == []
    assert _decide(store, memory, "are athletes shredded", {2: 0.9}, 0)[2].uncovered == ["shredded"]


def test_everyday_words_and_a_build_without_words_stay_uncovered(store, memory):
    _, _, features = _decide(store, memory, "is glutamine better for athletes", {2: 0.9})
    assert typo_tolerant_specificity("better") < qa.abstention.TUNABLES.abstention.pair_word_min_specificity
    assert "better" in features.uncovered
    older = PairMemory.from_columns({name: value for name, value in _columns(store).items() if name != "words"})
    assert _decide(store, older, "are athletes shredded on glutamine", {2: 0.9})[2].uncovered == ["shredded"]


def test_the_words_column_round_trips_and_older_files_load_without_it(tmp_path, store):
    for with_words in (True, False):
        columns = _columns(store)
        if not with_words:
            del columns["words"]
        root = tmp_path / str(with_words)
        live_build_with_pair_questions(root, columns)
        loaded = index_format.load_pair_questions(root)
        assert ("words" in loaded) is with_words
        memory = PairMemory.load(root)
        assert (memory.words is not None) is with_words
        if with_words:
            assert memory.words[0] == frozenset(pair_words(TRAINING[0][0]))


def test_an_unknown_subject_left_keeps_the_training_questions_words_out(store, memory):
    # "horses" is a specific word neither the sources nor the training questions use: the question
    # is about something else, and "shredded" is not counted either.
    _, _, features = _decide(store, memory, "are horses shredded on glutamine", {2: 0.9})
    assert typo_tolerant_specificity("horses") >= qa.abstention.TUNABLES.abstention.pair_word_min_specificity
    assert sorted(features.uncovered) == ["horses", "shredded"] and features.pair_covered == []
