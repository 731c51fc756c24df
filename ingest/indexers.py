"""Search structures built from chunks: a FAISS vector index and a BM25 index."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
    description = vector_index_description(len(vectors), kind)
    if description["kind"] == "flat":
        index = faiss.IndexFlatIP(dimensions)
    else:
        index = faiss.IndexHNSWFlat(dimensions, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = description["ef_search"]
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index, description


def vector_index_description(count: int, kind: str | None = None) -> dict[str, Any]:
    """What :func:`build_vector_index` builds over ``count`` vectors (the manifest's ``faiss``).

    Args:
        count: Vectors indexed.
        kind: ``flat`` or ``hnsw`` whatever the size (default: by size).

    Returns:
        The kind and its search parameters.
    """
    if kind == "flat" or (kind is None and count <= FLAT_LIMIT):
        return {"kind": "flat"}
    ef_search = HNSW_EF_SEARCH if count >= HNSW_LARGE else HNSW_EF_SEARCH_SMALL
    return {"kind": "hnsw", "M": HNSW_NEIGHBOURS, "ef_construction": HNSW_EF_CONSTRUCTION, "ef_search": ef_search}


def build_bm25(texts: Sequence[str]) -> Any:
    """BM25 (Lucene variant) over stemmed chunk terms.

    Args:
        texts: Chunk texts as embedded (heading included).

    Returns:
        A ``bm25s.BM25`` index whose document ids are chunk numbers and whose terms are numbered
        in sorted order (so a build's files are the same in every process, and a shard's index
        built from the corpus's term statistics equals the slice of the whole one).
    """
    import bm25s

    terms = [bm25_terms(text) for text in texts]
    vocabulary = _term_numbers({term for chunk in terms for term in chunk})
    index = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    index.index(([[vocabulary[term] for term in chunk] for chunk in terms], vocabulary), show_progress=False)
    return index


@dataclass
class TermStatistics:
    """What BM25 needs from every chunk of the corpus, summed over parts of it.

    Attributes:
        document_frequencies: Chunks that hold each term.
        tokens: Terms (with repeats) in all the chunks.
        chunks: Chunks counted.
    """

    document_frequencies: dict[str, int]
    tokens: int
    chunks: int


def term_statistics(texts: Sequence[str]) -> TermStatistics:
    """The BM25 term statistics of some chunks (one shard's, to be merged with the others').

    Args:
        texts: Chunk texts as embedded.

    Returns:
        Their statistics.
    """
    frequencies: Counter[str] = Counter()
    tokens = 0
    for text in texts:
        terms = bm25_terms(text)
        tokens += len(terms)
        frequencies.update(set(terms))
    return TermStatistics(dict(frequencies), tokens, len(texts))


def merge_term_statistics(parts: Iterable[TermStatistics]) -> TermStatistics:
    """The statistics of all the parts' chunks together."""
    frequencies: Counter[str] = Counter()
    tokens = chunks = 0
    for part in parts:
        frequencies.update(part.document_frequencies)
        tokens += part.tokens
        chunks += part.chunks
    return TermStatistics(dict(frequencies), tokens, chunks)


def bm25_with_statistics(texts: Sequence[str], corpus: TermStatistics) -> Any:
    """BM25 index of some chunks scored with the whole corpus's statistics.

    Equal, array for array, to :func:`slice_bm25` of :func:`build_bm25` over the whole corpus,
    without ever holding the whole corpus's score matrix.

    Args:
        texts: The chunk texts of one shard, in its order.
        corpus: Statistics of every chunk of the corpus (:func:`merge_term_statistics`).

    Returns:
        A ``bm25s.BM25`` index over these chunks (the corpus's vocabulary and idf).
    """
    import bm25s
    from bm25s import scoring

    vocabulary = _term_numbers(corpus.document_frequencies)
    index = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    chunk_terms = [[vocabulary[term] for term in bm25_terms(text)] for text in texts]
    idf = scoring._build_idf_array(
        doc_frequencies={vocabulary[term]: count for term, count in corpus.document_frequencies.items()},
        n_docs=corpus.chunks,
        compute_idf_fn=scoring._select_idf_scorer(index.idf_method),
        dtype=index.dtype,
    )
    local = Counter(term for chunk in chunk_terms for term in set(chunk))
    values, rows, columns = scoring._build_scores_and_indices_for_matrix(
        corpus_token_ids=chunk_terms,
        idf_array=idf,
        avg_doc_len=np.float64(corpus.tokens) / corpus.chunks,  # what bm25s's mean of the lengths gives
        doc_frequencies=local,  # only sizes the arrays
        k1=index.k1, b=index.b, delta=index.delta, nonoccurrence_array=None, method=index.method,
        dtype=index.dtype, int_dtype=index.int_dtype, show_progress=False,
    )
    data, indices, indptr = index._np_csc(data=values, rows=rows, cols=columns, shape=(len(texts), len(idf)))
    index.scores = {"data": data.astype(index.dtype), "indices": indices, "indptr": indptr, "num_docs": len(texts)}
    index.vocab_dict = vocabulary
    if "" not in vocabulary:  # bm25s's empty token, as its index() adds it
        vocabulary[""] = max(vocabulary.values()) + 1
    index.unique_token_ids_set = set(vocabulary.values())
    index.nonoccurrence_array = None
    index.corpus = None
    return index


def _term_numbers(terms: Iterable[str]) -> dict[str, int]:
    """Term -> column of the BM25 score matrix, in sorted order."""
    return {term: number for number, term in enumerate(sorted(terms))}


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
