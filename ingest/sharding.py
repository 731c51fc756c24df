"""Split a build into shards by document (``verbatim ingest --shards N``).

Everything computed over the whole corpus is computed before the split and kept global: each
sentence's hubness (against every sentence of the corpus), the BM25 scores (the whole corpus's
document frequencies and average chunk length, sliced per shard), the vocabulary used for typo
correction and word specificity, and the safety topics the corpus has evidence for. So a
question gets the same candidates and the same answer whichever shard its documents fell into.
"""

from __future__ import annotations

import numpy as np

from ingest.indexers import bm25_document_frequencies, build_vector_index, slice_bm25
from verbatim import index_format
from verbatim.index_format import CorpusStatistics, IndexContents, Shard


def corpus_statistics(contents: IndexContents) -> CorpusStatistics:
    """What stays global when a build is split.

    Args:
        contents: The whole build (with its BM25 index and vocabulary).

    Returns:
        The statistics every shard's answers depend on.
    """
    topics = contents.sentences["topics"]
    return CorpusStatistics(
        manifest=contents.manifest,
        vocabulary=contents.vocabulary,
        bm25_document_frequencies=bm25_document_frequencies(contents.bm25),
        chunks=int(len(contents.chunks["doc"])),
        sentences=int(len(contents.sentences["doc"])),
        topics_present=int(np.bitwise_or.reduce(topics)) if len(topics) else 0,
    )


def split_into_shards(
    contents: IndexContents, count: int, vector_index: str | None = None
) -> tuple[CorpusStatistics, list[Shard]]:
    """Split a whole build into ``count`` shards (:data:`verbatim.index_format.SHARD_ASSIGNMENT`).

    Args:
        contents: The whole build, hubness computed over all its sentences.
        count: Number of shards (at least 1).
        vector_index: ``flat`` or ``hnsw`` in every shard (default: by each shard's size).

    Returns:
        The corpus statistics and the shards, each with its own vector index (flat or HNSW by
        its size, as a whole build chooses) and its slice of the global BM25 index.
    """
    assignment = index_format.shard_of_documents(len(contents.documents), count)
    shards = []
    for number in range(count):
        documents = np.flatnonzero(assignment == number)
        part = index_format.select_documents(contents, documents)
        chunks = index_format.rows_of_documents(contents.chunks["doc"], documents)
        part.faiss_index, faiss_description = build_vector_index(part.chunk_vectors, vector_index)
        part.manifest = {**contents.manifest, "faiss": faiss_description}
        part.bm25 = slice_bm25(contents.bm25, chunks)
        shards.append(Shard(number=number, contents=part, documents=documents.astype(np.int64), chunks=chunks))
    return corpus_statistics(contents), shards
