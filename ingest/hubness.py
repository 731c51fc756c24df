"""Sentence hubness: how close a sentence sits to the rest of the corpus.

In an embedding space some points are near almost everything ("hubs"). Here they are the
generic sentences: an introduction ("Is glutamine actually worth the hype?..."), a framing
remark, an anecdote that touches every topic. They resemble many questions without answering
any of them, so the answer ranker weighs this score against a sentence's similarity to the
question (a sentence-level form of CSLS, Conneau et al. 2018). It depends only on the corpus,
so it is computed once at ingest and stored with the sentence vectors.
"""

from __future__ import annotations

import numpy as np

HUBNESS_NEIGHBOURS = 10  # chosen by cross-validation on the eval set (5 to 20 score alike)
# Larger corpora are compared against an evenly spaced sample of this many sentences, which
# keeps the cost linear in the corpus size (and the result deterministic).
HUBNESS_REFERENCE_LIMIT = 20_000


def sentence_hubness(
    vectors: np.ndarray,
    neighbours: int = HUBNESS_NEIGHBOURS,
    reference_limit: int = HUBNESS_REFERENCE_LIMIT,
) -> np.ndarray:
    """Mean cosine similarity of each sentence to its nearest other sentences.

    Args:
        vectors: Float32 ``(n, d)`` unit sentence vectors.
        neighbours: How many nearest sentences are averaged.
        reference_limit: Most sentences searched for neighbours (an even sample beyond it).

    Returns:
        Float32 ``(n,)``; zeros when the corpus has no more sentences than ``neighbours``.
    """
    import faiss

    count = len(vectors)
    if count <= neighbours:
        return np.zeros(count, dtype=np.float32)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if count <= reference_limit:
        reference_ids = np.arange(count)
    else:
        reference_ids = np.linspace(0, count - 1, reference_limit).round().astype(np.int64)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors[reference_ids])
    # One extra neighbour, so that a sentence's match with itself can be dropped.
    similarities, found = index.search(vectors, neighbours + 1)
    is_self = reference_ids[found] == np.arange(count)[:, None]
    # Keep the first `neighbours` hits that are not the sentence itself.
    keep = np.cumsum(~is_self, axis=1) <= neighbours
    keep &= ~is_self
    return (np.where(keep, similarities, 0.0).sum(axis=1) / neighbours).astype(np.float32)
