"""Search structures built from chunks: a FAISS vector index and a BM25 index."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from verbatim.textutil import bm25_terms, words

# Exact search is fast enough up to here; beyond it HNSW keeps a query under a millisecond.
FLAT_LIMIT = 20_000
HNSW_NEIGHBOURS = 32
# Measured by `verbatim bench` (recall@10 against exact search, MedQuAD questions): with
# efConstruction 200, efSearch 128 reaches 0.988 at 29k and 100k chunks (0.3 ms) but only 0.948
# at 1M, where 512 is needed (0.992, 1.2 ms). efConstruction 80 stayed at 0.967 with efSearch 200.
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH_SMALL = 128
HNSW_EF_SEARCH = 512
HNSW_LARGE = 200_000  # from here on the wider search


def build_vector_index(vectors: np.ndarray, kind: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Inner-product FAISS index over normalised vectors, chosen by size.

    Args:
        vectors: Float32 ``(n, d)`` unit vectors.
        kind: ``flat`` or ``hnsw`` whatever the size (default: by size).

    Returns:
        The index and a description for the manifest (kind and search parameters).
    """
    import faiss

    dimensions = vectors.shape[1]
    if kind == "flat" or (kind is None and len(vectors) <= FLAT_LIMIT):
        index = faiss.IndexFlatIP(dimensions)
        description: dict[str, Any] = {"kind": "flat"}
    else:
        index = faiss.IndexHNSWFlat(dimensions, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        ef_search = HNSW_EF_SEARCH if len(vectors) >= HNSW_LARGE else HNSW_EF_SEARCH_SMALL
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = ef_search
        description = {"kind": "hnsw", "M": HNSW_NEIGHBOURS, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": ef_search}
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index, description


def build_bm25(texts: Sequence[str]) -> Any:
    """BM25 (Lucene variant) over stemmed chunk terms.

    Args:
        texts: Chunk texts as embedded (heading included).

    Returns:
        A ``bm25s.BM25`` index whose document ids are chunk numbers.
    """
    import bm25s

    index = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    index.index([bm25_terms(text) for text in texts], show_progress=False)
    return index


def slice_bm25(index: Any, chunks: np.ndarray) -> Any:
    """The part of a BM25 index that scores some of its chunks, with the whole index's scores.

    A chunk's stored BM25 scores hold the whole corpus's document frequencies and average
    chunk length, so a shard's slice scores its chunks exactly as the whole index does.

    Args:
        index: A ``bm25s.BM25`` index over every chunk of the corpus.
        chunks: Ascending chunk numbers to keep; they become rows ``0..len(chunks)-1``.

    Returns:
        A ``bm25s.BM25`` index over those chunks (same vocabulary and parameters).
    """
    import bm25s

    scores = index.scores
    data, indices, indptr = (np.asarray(scores[name]) for name in ("data", "indices", "indptr"))
    local = np.full(int(scores["num_docs"]), -1, dtype=np.int64)
    local[np.asarray(chunks, dtype=np.int64)] = np.arange(len(chunks))
    keep = local[indices] >= 0
    token_of_entry = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    per_token = np.bincount(token_of_entry[keep], minlength=len(indptr) - 1)
    part = bm25s.BM25(k1=index.k1, b=index.b, delta=index.delta, method=index.method, idf_method=index.idf_method)
    part.scores = {
        "data": data[keep],
        "indices": local[indices[keep]].astype(indices.dtype),
        "indptr": np.concatenate([[0], np.cumsum(per_token)]).astype(indptr.dtype),
        "num_docs": len(chunks),
    }
    part.vocab_dict = dict(index.vocab_dict)
    part.unique_token_ids_set = set(part.vocab_dict.values())
    part.nonoccurrence_array = None  # the Lucene variant has none (bm25l and bm25+ do)
    part.corpus = None
    return part


def bm25_document_frequencies(index: Any) -> dict[str, int]:
    """Chunks that hold each term of a BM25 index (its stored score columns)."""
    frequencies = np.diff(np.asarray(index.scores["indptr"]))
    return {term: int(frequencies[token]) for term, token in index.vocab_dict.items() if term and token < len(frequencies)}


def build_vocabulary(texts: Iterable[str]) -> dict[str, list[int]]:
    """Every folded word of the corpus with its document frequency and number of occurrences.

    Query time uses it to tell whether a question's key terms exist in the sources at all
    (with typo tolerance) and what the corpus is mainly about; both feed abstention.

    Args:
        texts: Canonical document texts.

    Returns:
        Word -> ``[documents containing it, occurrences]``.
    """
    documents: Counter[str] = Counter()
    occurrences: Counter[str] = Counter()
    for text in texts:
        found = words(text)
        occurrences.update(found)
        documents.update(set(found))
    return {word: [documents[word], occurrences[word]] for word in sorted(documents)}
