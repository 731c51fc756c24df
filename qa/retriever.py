"""Hybrid retrieval: dense (FAISS over chunk vectors) and BM25, fused into one ranking."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from qa.store import IndexStore
from qa.tunables import TUNABLES, Fusion, RetrieverConfig
from qa.types import Query, RetrievedChunk


class RetrievalMode(StrEnum):
    """Which retrievers rank the chunks."""

    HYBRID = "hybrid"
    DENSE = "dense"
    BM25 = "bm25"


def top(scores: np.ndarray, count: int) -> np.ndarray:
    """Positions of the ``count`` highest scores, best first."""
    if count >= len(scores):
        return np.argsort(-scores, kind="stable")
    best = np.argpartition(-scores, count - 1)[:count]
    return best[np.argsort(-scores[best], kind="stable")]


def select_candidates(dense_ids: np.ndarray, bm25_ids: np.ndarray, mode: RetrievalMode) -> np.ndarray:
    """The chunks that are scored: the dense and BM25 top lists as the mode combines them."""
    if mode == RetrievalMode.DENSE:
        return dense_ids
    if mode == RetrievalMode.BM25:
        return bm25_ids if len(bm25_ids) else dense_ids[:0]
    return np.unique(np.concatenate([dense_ids, bm25_ids]))


@dataclass(frozen=True)
class Candidates:
    """The chunks scored for one question, with what fusion needs of each.

    Attributes:
        ids: Chunk numbers (:func:`select_candidates`).
        dense: Exact cosine similarity of each candidate to the question.
        lexical: BM25 score of each candidate.
        dense_ids: The dense top list, best first.
        bm25_ids: The BM25 top list, best first.
    """

    ids: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray
    dense_ids: np.ndarray
    bm25_ids: np.ndarray


def rank(config: RetrieverConfig, found: Candidates, mode: RetrievalMode, top_k: int) -> list[RetrievedChunk]:
    """Fuse the candidates' scores and keep the best ``top_k``.

    Args:
        config: Retrieval parameters.
        found: The candidates and their scores.
        mode: Retrieval mode.
        top_k: Chunks to return.

    Returns:
        Up to ``top_k`` chunks, best first.
    """
    fused = fuse(config, found, mode)
    order = np.argsort(-fused, kind="stable")[:top_k]
    return [
        RetrievedChunk(
            chunk=int(found.ids[i]), dense=float(found.dense[i]), bm25=float(found.lexical[i]), score=float(fused[i])
        )
        for i in order
    ]


def fuse(config: RetrieverConfig, found: Candidates, mode: RetrievalMode) -> np.ndarray:
    """The fused score of each candidate (see :class:`Fusion`)."""
    dense, lexical = found.dense, found.lexical
    if mode == RetrievalMode.DENSE:
        return dense.astype(np.float32)
    lexical_top = float(lexical.max()) if len(lexical) else 0.0
    lexical_norm = lexical / lexical_top if lexical_top > 0 else np.zeros_like(lexical)
    if mode == RetrievalMode.BM25:
        return lexical_norm.astype(np.float32)
    if config.fusion == Fusion.RRF:
        ranks_dense = {int(chunk): rank for rank, chunk in enumerate(found.dense_ids)}
        ranks_bm25 = {int(chunk): rank for rank, chunk in enumerate(found.bm25_ids)}
        k = config.rrf_k
        return np.array(
            [
                (1 / (k + ranks_dense[c]) if c in ranks_dense else 0.0)
                + (1 / (k + ranks_bm25[c]) if c in ranks_bm25 else 0.0)
                for c in map(int, found.ids)
            ],
            dtype=np.float32,
        ) * (k / 2)
    low, high = float(dense.min()), float(dense.max())
    dense_norm = (dense - low) / (high - low) if high > low else np.ones_like(dense)
    weight = config.dense_weight
    return (weight * dense_norm + (1 - weight) * lexical_norm).astype(np.float32)


class HybridRetriever:
    """Ranks chunks for a query.

    Args:
        store: The loaded index.
        config: Retrieval parameters.
    """

    def __init__(self, store: IndexStore, config: RetrieverConfig | None = None) -> None:
        self.store = store
        self.config = config or TUNABLES.retrieval

    def _dense(self, query: Query, count: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = self.store.faiss_index.search(query.vector.reshape(1, -1), count)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def _bm25_all(self, query: Query) -> np.ndarray:
        if not query.terms:
            return np.zeros(len(self.store.chunk_doc), dtype=np.float32)
        return np.asarray(self.store.bm25.get_scores(list(query.terms)), dtype=np.float32)

    def run(self, query: Query, top_k: int = 10, mode: RetrievalMode = RetrievalMode.HYBRID) -> list[RetrievedChunk]:
        """Retrieve chunks for a query.

        Args:
            query: The prepared question.
            top_k: Chunks to return.
            mode: Hybrid, dense only, or BM25 only.

        Returns:
            Up to ``top_k`` chunks, best first, each with its dense, BM25 and fused scores.
        """
        total = len(self.store.chunk_doc)
        if total == 0:
            return []
        count = candidate_count(total, top_k, self.config)
        bm25_scores = self._bm25_all(query)
        dense_ids, _ = self._dense(query, count)
        bm25_ids = top(bm25_scores, count)
        bm25_ids = bm25_ids[bm25_scores[bm25_ids] > 0]
        candidates = select_candidates(dense_ids, bm25_ids, mode)
        if len(candidates) == 0:
            return []
        # Exact dense scores for every candidate (HNSW returns approximate ones, BM25 none).
        dense = self.store.chunk_vectors[candidates] @ query.vector
        found = Candidates(candidates, dense, bm25_scores[candidates], dense_ids, bm25_ids)
        return rank(self.config, found, mode, top_k)


def candidate_count(total: int, top_k: int, config: RetrieverConfig) -> int:
    """Chunks taken from each retriever (of a corpus of ``total`` chunks)."""
    return min(total, max(top_k, config.candidates))
