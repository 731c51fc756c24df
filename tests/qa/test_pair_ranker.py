"""The pair ranker (qa/pair_ranker.py): it chooses the sentence to quote among the plain
ranker's candidates, and what decides whether to answer (the plain ranker's extraction and the
abstention features read from it) is the same with or without it. Synthetic index, no model."""

from __future__ import annotations

import numpy as np
import pytest

from qa.abstention import AbstentionPolicy
from qa.calibration import Calibration, LinearModel
from qa.extractor import RANKER_FEATURES, AnswerExtractor
from qa.pair_memory import PairMemory
from qa.pair_ranker import PAIR_RANKER_FEATURES, PairRanker, pair_ranker_for, with_pair_columns
from qa.types import RetrievedChunk
from tests.qa.synthetic import Block, build_store, query
from verbatim.index_format import BlockKind as K
from verbatim.safety_policy import SafetyPolicy

DIMENSIONS = 32
# Training question axis 20 is answered by sentence 2 ("Split it ...").
TRAINING_AXIS = 20


@pytest.fixture(scope="module")
def store():
    return build_store(
        {
            "guide": [
                Block(K.PARAGRAPH, ["Glutamine is an amino acid."]),
                Block(K.PARAGRAPH, ["Most adults take five grams.", "Split it into two doses a day."]),
                Block(K.PARAGRAPH, ["Powder mixes easily in water."]),
            ]
        }
    )


@pytest.fixture(scope="module")
def memory(store):
    return PairMemory.from_columns({
        "vectors": np.eye(1, DIMENSIONS, TRAINING_AXIS, dtype=np.float32),
        "doc_ids": np.array(["guide"], dtype=str),
        "start": np.array([int(store.sentence_start[2])], np.int32),
        "end": np.array([int(store.sentence_end[2])], np.int32),
    })


def _model(features, **weights: float) -> LinearModel:
    return LinearModel(0.0, {**dict.fromkeys(features, 0.0), **weights})


# The plain ranker weighs the sentence's own cosine; the pair ranker the training questions.
PLAIN = _model(RANKER_FEATURES, dense=10.0)
PAIRED = _model(PAIR_RANKER_FEATURES, pair_sim=10.0, pair_missing=-1.0)


def _retrieved(store) -> list[RetrievedChunk]:
    return [RetrievedChunk(chunk=chunk, dense=0.5, bm25=1.0, score=1.0 - 0.1 * chunk) for chunk in range(len(store.chunk_doc))]


def _asked():
    # Closest to sentence 1 by its own cosine (0.7); close to the training question of sentence 2.
    return query("how should I take it", {1: 0.7, 2: 0.3, TRAINING_AXIS: 0.65}, DIMENSIONS)


def test_the_pair_ranker_quotes_the_sentence_a_close_training_question_was_answered_by(store, memory):
    extractor = AnswerExtractor(store, PLAIN, chooser=PairRanker(PAIRED, memory))
    choice = extractor.choose(_asked(), _retrieved(store))
    assert choice.decided is not None and choice.quoted is not None
    assert choice.decided.best.sentence == 1  # the plain ranker's winner: the closest sentence
    assert choice.quoted.best.sentence == 2  # the pair ranker's: the training question's answer
    assert {c.sentence for c in choice.quoted.ranked} == {c.sentence for c in choice.decided.ranked}


def test_without_a_pair_ranker_the_plain_choice_is_quoted(store, memory):
    choice = AnswerExtractor(store, PLAIN).choose(_asked(), _retrieved(store))
    assert choice.quoted is choice.decided and choice.decided.best.sentence == 1
    # No model, or a build without training questions: no pair ranker at all.
    assert pair_ranker_for(None, memory) is None
    assert pair_ranker_for(PAIRED, PairMemory.empty()) is None
    assert isinstance(pair_ranker_for(PAIRED, memory), PairRanker)


def test_the_pair_ranker_scores_the_plain_columns_and_the_pair_columns(store, memory):
    ranker = PairRanker(_model(PAIR_RANKER_FEATURES, dense=1.0, pair_sim=2.0, pair_missing=3.0), memory)
    sentences = np.arange(4)
    asked = _asked()
    matrix = AnswerExtractor(store, PLAIN).features(asked, sentences, np.zeros(4), np.zeros(4))
    evidence = memory.evidence(store, sentences, asked.vector)
    expected = matrix[:, RANKER_FEATURES.index("dense")] + 2.0 * evidence.similarity + 3.0 * evidence.missing
    assert ranker.scores(store, sentences, asked.vector, matrix).tolist() == pytest.approx(expected.tolist())
    assert with_pair_columns(matrix, evidence).shape == (4, len(PAIR_RANKER_FEATURES))


def test_a_pair_ranker_must_weigh_exactly_its_features(memory):
    from qa.calibration import CalibrationError

    with pytest.raises(CalibrationError):
        PairRanker(PLAIN, memory)


def test_the_abstention_reads_the_same_features_with_or_without_the_pair_ranker(store, memory):
    asked, retrieved = _asked(), _retrieved(store)
    plain = AnswerExtractor(store, PLAIN).choose(asked, retrieved)
    paired = AnswerExtractor(store, PLAIN, chooser=PairRanker(PAIRED, memory)).choose(asked, retrieved)
    assert paired.decided == plain.decided  # the plain ranker's extraction, score for score
    assert paired.quoted != plain.quoted
    policy = AbstentionPolicy(store, SafetyPolicy.load(), Calibration.load())
    without = policy.run(asked, retrieved, plain.decided, {}, set())
    with_pairs = policy.run(asked, retrieved, paired.decided, {}, set())
    assert with_pairs.features.values() == without.features.values()
    assert (with_pairs.abstain, with_pairs.confidence, with_pairs.reason) == (without.abstain, without.confidence, without.reason)


class _CountingExtractor(AnswerExtractor):
    """The real extractor, counting the answer units it builds."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.units_built = 0

    def _unit(self, ranking, restates_pointer):
        self.units_built += 1
        return super()._unit(ranking, restates_pointer)


def test_a_unit_both_rankings_agree_on_is_built_once(store, memory):
    # A pair ranker that weighs only what the plain ranker weighs orders the candidates alike.
    extractor = _CountingExtractor(store, PLAIN, chooser=PairRanker(_model(PAIR_RANKER_FEATURES, dense=10.0), memory))
    choice = extractor.choose(_asked(), _retrieved(store))
    assert extractor.units_built == 1
    assert choice.quoted is not choice.decided
    assert (choice.quoted.start, choice.quoted.end) == (choice.decided.start, choice.decided.end)
    assert (choice.decided.first_sentence, choice.decided.last_sentence) == (1, 2)  # the runner-up in its paragraph joins


def test_the_same_winner_with_another_runner_up_gets_its_own_unit(store, memory):
    # The same winner (sentence 1), but the first sentences of blocks now outrank sentence 2, so
    # the runner-up is sentence 0 of another block and sentence 2 no longer joins the answer.
    paired = PairRanker(_model(PAIR_RANKER_FEATURES, dense=10.0, first_in_block=4.0), memory)
    extractor = _CountingExtractor(store, PLAIN, chooser=paired)
    choice = extractor.choose(_asked(), _retrieved(store))
    assert extractor.units_built == 2
    assert choice.decided.best.sentence == choice.quoted.best.sentence == 1
    assert (choice.decided.first_sentence, choice.decided.last_sentence) == (1, 2)
    assert (choice.quoted.first_sentence, choice.quoted.last_sentence) == (1, 1)
    alone = _CountingExtractor(store, PLAIN, chooser=paired)
    assert alone._unit(alone.unit_ranking(choice.quoted.ranked), restates_pointer=False) == (1, 1)


def test_another_winner_gets_its_own_unit(store, memory):
    extractor = _CountingExtractor(store, PLAIN, chooser=PairRanker(PAIRED, memory))
    choice = extractor.choose(_asked(), _retrieved(store))
    assert extractor.units_built == 2
    assert choice.quoted.best.sentence != choice.decided.best.sentence
