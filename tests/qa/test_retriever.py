"""Hybrid retrieval's fusion, candidate selection and ranking, on small hand-made score arrays."""

from __future__ import annotations

import numpy as np
import pytest

from qa.retriever import Candidates, RetrievalMode, candidate_count, fuse, rank, select_candidates, top
from qa.tunables import Fusion, RetrieverConfig

MINMAX = RetrieverConfig(fusion=Fusion.MINMAX, dense_weight=0.7)
RRF = RetrieverConfig(fusion=Fusion.RRF, rrf_k=60)


def _candidates() -> Candidates:
    """Three chunks: 4 is best by meaning, 9 by words, 7 in between on both."""
    return Candidates(
        ids=np.array([4, 7, 9]),
        dense=np.array([0.9, 0.6, 0.5], dtype=np.float32),
        lexical=np.array([0.0, 4.0, 8.0], dtype=np.float32),
        dense_ids=np.array([4, 7, 9]),
        bm25_ids=np.array([9, 7]),
    )


def test_top_orders_best_first_and_keeps_ties_in_position_order() -> None:
    scores = np.array([0.2, 0.9, 0.5, 0.9, 0.1])
    assert top(scores, 3).tolist() == [1, 3, 2]
    assert top(scores, 10).tolist() == [1, 3, 2, 0, 4]


def test_select_candidates_follows_the_mode() -> None:
    dense_ids, bm25_ids = np.array([3, 1]), np.array([1, 5])
    assert select_candidates(dense_ids, bm25_ids, RetrievalMode.DENSE).tolist() == [3, 1]
    assert select_candidates(dense_ids, bm25_ids, RetrievalMode.BM25).tolist() == [1, 5]
    assert select_candidates(dense_ids, bm25_ids, RetrievalMode.HYBRID).tolist() == [1, 3, 5]
    # A question with no BM25 term: BM25 mode has no candidates rather than the dense ones.
    assert select_candidates(dense_ids, np.array([], dtype=int), RetrievalMode.BM25).tolist() == []


def test_candidate_count_takes_at_least_top_k_and_at_most_the_corpus() -> None:
    config = RetrieverConfig(candidates=50)
    assert candidate_count(1000, 10, config) == 50
    assert candidate_count(1000, 80, config) == 80
    assert candidate_count(30, 10, config) == 30


def test_minmax_fusion_weighs_normalised_dense_and_bm25_scores() -> None:
    fused = fuse(MINMAX, _candidates(), RetrievalMode.HYBRID)
    # dense normalised over the candidates: 1, 0.25, 0; BM25 divided by its top: 0, 0.5, 1.
    assert fused == pytest.approx([0.7, 0.7 * 0.25 + 0.3 * 0.5, 0.3], abs=1e-6)
    assert fused.dtype == np.float32


def test_single_retriever_modes_use_one_score() -> None:
    found = _candidates()
    assert fuse(MINMAX, found, RetrievalMode.DENSE) == pytest.approx(found.dense)
    assert fuse(MINMAX, found, RetrievalMode.BM25) == pytest.approx([0.0, 0.5, 1.0])


def test_equal_dense_scores_count_fully_and_no_bm25_match_counts_zero() -> None:
    found = Candidates(
        ids=np.array([1, 2]),
        dense=np.array([0.4, 0.4], dtype=np.float32),
        lexical=np.zeros(2, dtype=np.float32),
        dense_ids=np.array([1, 2]),
        bm25_ids=np.array([], dtype=int),
    )
    assert fuse(MINMAX, found, RetrievalMode.HYBRID) == pytest.approx([0.7, 0.7])


def test_rrf_sums_reciprocal_ranks_of_both_lists() -> None:
    fused = fuse(RRF, _candidates(), RetrievalMode.HYBRID)
    scale = 60 / 2
    expected = [
        (1 / 60) * scale,  # chunk 4: dense rank 0, not in the BM25 list
        (1 / 61 + 1 / 61) * scale,  # chunk 7: rank 1 in both
        (1 / 62 + 1 / 60) * scale,  # chunk 9: dense rank 2, BM25 rank 0
    ]
    assert fused == pytest.approx(expected)


def test_rank_keeps_the_best_with_their_scores_and_breaks_ties_by_position() -> None:
    ranked = rank(MINMAX, _candidates(), RetrievalMode.HYBRID, top_k=2)
    assert [item.chunk for item in ranked] == [4, 7]  # fused 0.7, 0.325 and 0.3
    assert ranked[0].dense == pytest.approx(0.9)
    assert ranked[0].bm25 == 0.0
    assert ranked[0].score == pytest.approx(0.7)
    tied = Candidates(
        ids=np.array([8, 2]),
        dense=np.array([0.5, 0.5], dtype=np.float32),
        lexical=np.array([1.0, 1.0], dtype=np.float32),
        dense_ids=np.array([8, 2]),
        bm25_ids=np.array([8, 2]),
    )
    assert [item.chunk for item in rank(MINMAX, tied, RetrievalMode.HYBRID, top_k=2)] == [8, 2]
