"""Sentence hubness: how close a sentence sits to the rest of the corpus.

In an embedding space some points are near almost everything ("hubs"). Here they are the
generic sentences: an introduction ("Is glutamine actually worth the hype?..."), a framing
remark, an anecdote that touches every topic. They resemble many questions without answering
any of them, so the answer ranker weighs this score against a sentence's similarity to the
question (a sentence-level form of CSLS, Conneau et al. 2018). It depends only on the corpus,
so it is computed once at ingest and stored with the sentence vectors.

The computation does not depend on how the sentences are split into blocks, so a sharded build
computes it shard against shard (never more than two shards' vectors in one process) and gets
the floats of the whole build: each kept similarity is a float64 product rounded to float32 (the
summation order of a float32 product changes with the blocks), candidates are ordered by
similarity then by the reference's number in the whole corpus (ties broken the same way in
every block), and the kept similarities are added in that order.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

HUBNESS_NEIGHBOURS = 10  # chosen by cross-validation on the eval set (5 to 20 score alike)
# Larger corpora are compared against an evenly spaced sample of this many sentences, which
# keeps the cost linear in the corpus size (and the result deterministic).
HUBNESS_REFERENCE_LIMIT = 20_000
QUERY_BLOCK = 512  # sentences compared at a time (bounds the similarity block's memory)
_NO_CANDIDATE = np.iinfo(np.int64).max
# Above the largest error of a float32 product of two unit vectors of a few hundred dimensions
# (384 * 2**-24 < 2.3e-5).
_MARGIN = 1e-4
_ROUGH_EXTRA = 21  # references searched beyond the kept ones, to hold those within the margin


def reference_rows(count: int, reference_limit: int = HUBNESS_REFERENCE_LIMIT) -> np.ndarray:
    """The sentences (numbers in the whole corpus) every sentence is compared against.

    Args:
        count: Sentences in the corpus.
        reference_limit: Most sentences searched for neighbours (an even sample beyond it).

    Returns:
        Ascending int64 sentence numbers.
    """
    if count <= reference_limit:
        return np.arange(count, dtype=np.int64)
    return np.linspace(0, count - 1, reference_limit).round().astype(np.int64)


def _keys(similarities: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """One int64 per candidate, smaller for a higher similarity, then for a lower id (< 2**31)."""
    bits = similarities.astype(np.float32).view(np.int32).astype(np.int64)
    ordered = bits ^ ((bits >> 31) & 0x7FFFFFFF)  # float32 order as a signed integer
    return ((np.int64(2**31 - 1) - ordered) << 31) | ids


def _decode(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Similarities (float32) and ids of :func:`_keys` (missing candidates: -inf and -1)."""
    missing = keys == _NO_CANDIDATE
    ordered = np.int64(2**31 - 1) - (keys >> 31)
    bits = (ordered ^ ((ordered >> 31) & 0x7FFFFFFF)).astype(np.int32)
    similarities = np.where(missing, -np.inf, bits.view(np.float32)).astype(np.float32)
    return similarities, np.where(missing, -1, keys & 0x7FFFFFFF)


def _best(keys: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` smallest keys of each row, ascending (padded with missing candidates)."""
    if keys.shape[1] < count:
        pad = np.full((keys.shape[0], count - keys.shape[1]), _NO_CANDIDATE, dtype=np.int64)
        keys = np.concatenate([keys, pad], axis=1)
    if keys.shape[1] > count:
        keys = np.take_along_axis(keys, np.argpartition(keys, count - 1, axis=1)[:, :count], axis=1)
    return np.sort(keys, axis=1)


def candidates(
    vectors: np.ndarray, references: np.ndarray, reference_ids: np.ndarray, neighbours: int = HUBNESS_NEIGHBOURS
) -> np.ndarray:
    """Each sentence's nearest references in one block of references (keys, see :func:`merge`).

    Args:
        vectors: Float32 ``(n, d)`` unit vectors of the sentences scored.
        references: Float32 ``(r, d)`` unit vectors of some reference sentences.
        reference_ids: Their numbers in the whole corpus (ascending, below 2**31).
        neighbours: Neighbours averaged (one more candidate is kept for the sentence itself).

    Returns:
        Int64 ``(n, neighbours + 1)`` candidate keys, best first.
    """
    import faiss

    keep = neighbours + 1
    output = np.full((len(vectors), keep), _NO_CANDIDATE, dtype=np.int64)
    if not len(references):
        return output
    references = np.ascontiguousarray(references, dtype=np.float32)
    exact_references = references.astype(np.float64)
    ids = np.asarray(reference_ids, dtype=np.int64)
    wanted = min(keep, len(ids))
    searched = min(len(ids), keep + _ROUGH_EXTRA)
    rough_index = faiss.IndexFlatIP(references.shape[1])
    rough_index.add(references)
    for start in range(0, len(vectors), QUERY_BLOCK):
        block = np.ascontiguousarray(vectors[start : start + QUERY_BLOCK], dtype=np.float32)
        # A float32 search finds the few references that can be among the best: every one whose
        # rough similarity is within the margin of the `wanted`-th best (the rough error is far
        # below it); their similarities are then recomputed exactly enough to be the same in
        # every block.
        rough, found = rough_index.search(block, searched)
        threshold = rough[:, wanted - 1] - _MARGIN
        complete = np.full(len(block), searched == len(ids)) | (rough[:, -1] < threshold)
        rows, positions = np.nonzero((rough >= threshold[:, None]) & complete[:, None])
        columns = found[rows, positions]
        if not complete.all():  # many near-ties (repeated sentences): the whole row is compared
            partial = np.flatnonzero(~complete)
            whole = block[partial] @ references.T
            more_rows, more_columns = np.nonzero(whole >= (-np.partition(-whole, wanted - 1, axis=1)[:, wanted - 1] - _MARGIN)[:, None])
            rows, columns = np.concatenate([rows, partial[more_rows]]), np.concatenate([columns, more_columns])
        similarities = np.einsum("ij,ij->i", block[rows].astype(np.float64), exact_references[columns])
        keys = _keys(similarities.astype(np.float32), ids[columns])
        order = np.lexsort((keys, rows))
        rows, keys = rows[order], keys[order]
        rank = np.arange(len(rows)) - np.searchsorted(rows, np.arange(len(block)))[rows]
        chosen = rank < keep
        output[start + rows[chosen], rank[chosen]] = keys[chosen]
    return output


def merge(blocks: Iterable[np.ndarray], neighbours: int = HUBNESS_NEIGHBOURS) -> np.ndarray:
    """The best candidates over several blocks of references (each from :func:`candidates`)."""
    return _best(np.concatenate(list(blocks), axis=1), neighbours + 1)


def hubness_from_candidates(keys: np.ndarray, sentence_ids: np.ndarray, neighbours: int = HUBNESS_NEIGHBOURS) -> np.ndarray:
    """Mean similarity of each sentence to its nearest other references.

    Args:
        keys: Merged candidates over every reference (:func:`merge`).
        sentence_ids: Each row's sentence number in the whole corpus (its own candidate is dropped).
        neighbours: How many are averaged.

    Returns:
        Float32 ``(n,)``.
    """
    similarities, ids = _decode(keys)
    others = ids != np.asarray(sentence_ids, dtype=np.int64)[:, None]
    keep = others & (np.cumsum(others, axis=1) <= neighbours)
    total = np.zeros(len(keys), dtype=np.float64)
    for column in range(keys.shape[1]):  # added in candidate order, the same in every process
        total += np.where(keep[:, column], similarities[:, column].astype(np.float64), 0.0)
    return (total / neighbours).astype(np.float32)


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
    count = len(vectors)
    if count <= neighbours:
        return np.zeros(count, dtype=np.float32)
    references = reference_rows(count, reference_limit)
    keys = candidates(vectors, vectors[references], references, neighbours)
    return hubness_from_candidates(keys, np.arange(count), neighbours)
