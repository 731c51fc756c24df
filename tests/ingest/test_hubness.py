"""Sentence hubness: brute-force agreement, self-exclusion, sampling, and the seed corpus."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.hubness import sentence_hubness
from tests.qa.regressions import ADAPTATION_REGRESSION


def _unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _brute_force(vectors: np.ndarray, neighbours: int) -> np.ndarray:
    similarities = vectors @ vectors.T
    np.fill_diagonal(similarities, -np.inf)
    return -np.sort(-similarities, axis=1)[:, :neighbours].mean(axis=1)


def test_matches_the_mean_of_the_nearest_other_sentences():
    vectors = _unit(np.random.default_rng(0).normal(size=(300, 16)))
    assert np.allclose(sentence_hubness(vectors, neighbours=10), _brute_force(vectors, 10), atol=1e-5)


def test_a_sentence_near_everything_scores_highest():
    # Like a real corpus: every sentence shares the topic direction, plus its own content.
    rng = np.random.default_rng(1)
    topic = np.eye(16)[:1]
    vectors = _unit(topic + 0.6 * rng.normal(size=(200, 16)))
    scores = sentence_hubness(np.vstack([vectors, topic.astype(np.float32)]), neighbours=10)
    assert int(np.argmax(scores)) == 200


def test_a_sentence_is_never_its_own_neighbour():
    # Two far-apart pairs: each sentence's only close neighbour is its twin, not itself.
    vectors = _unit(np.array([[1, 0, 0], [1, 0.01, 0], [0, 0, 1], [0, 0.01, 1]], dtype=np.float64))
    scores = sentence_hubness(vectors, neighbours=1)
    assert np.allclose(scores, [vectors[0] @ vectors[1]] * 2 + [vectors[2] @ vectors[3]] * 2, atol=1e-6)
    assert (scores < 1.0).all()


def test_a_large_corpus_is_compared_with_a_deterministic_sample():
    vectors = _unit(np.random.default_rng(2).normal(size=(2000, 16)))
    sampled = sentence_hubness(vectors, neighbours=5, reference_limit=500)
    assert sampled.shape == (2000,) and sampled.dtype == np.float32
    assert np.array_equal(sampled, sentence_hubness(vectors, neighbours=5, reference_limit=500))
    # Fewer candidates can only lower the mean of the nearest ones.
    assert (sampled <= sentence_hubness(vectors, neighbours=5) + 1e-6).all()


@pytest.mark.parametrize("count", [0, 1, 10])
def test_a_corpus_no_larger_than_the_neighbourhood_scores_zero(count):
    vectors = _unit(np.random.default_rng(3).normal(size=(max(count, 1), 8)))[:count]
    assert np.array_equal(sentence_hubness(vectors, neighbours=10), np.zeros(count, dtype=np.float32))


@ADAPTATION_REGRESSION  # through the adapted model the framing sentence scores 0.477, under the top tenth (0.528)
def test_generic_framing_in_the_seed_corpus_is_a_hub_and_a_specific_fact_is_not(answerer):
    store = answerer.store
    texts = [store.sentence_text(number) for number in range(len(store.sentence_doc))]
    scores = store.sentence_hubness
    assert len(scores) == len(texts)

    def score_of(prefix: str) -> float:
        return float(scores[next(n for n, text in enumerate(texts) if text.startswith(prefix))])

    framing = score_of("This sub-category narrows to one central question")
    teaser = score_of("Is glutamine actually worth the hype?")
    fact = score_of("The cells lining the small intestine — called enterocytes")
    assert framing >= np.quantile(scores, 0.9)
    assert teaser > fact + 0.05
