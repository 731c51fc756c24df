"""One shard of a sharded index, as the actor that serves it sees it.

A :class:`ShardSearcher` holds one shard (:func:`verbatim.index_format.load_shard`) and answers
two requests from whoever coordinates a question (``qa.sharded``):

* :meth:`ShardSearcher.candidates`: its best chunks for a question vector and its terms, by
  FAISS and by BM25 (the whole corpus's BM25 scores, sliced), with each candidate's BM25 score
  and vector, so the coordinator can merge the shards' lists exactly as one index ranks;
* :meth:`ShardSearcher.documents`: everything answer extraction reads about some documents
  (text, blocks, sentences, vectors, hubness, evidence, chunks), as a small build of its own.

Chunk and document numbers in requests and replies are the whole corpus's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.retriever import top
from verbatim import index_format
from verbatim.index_format import IndexContents, Shard


@dataclass
class ShardCandidates:
    """A shard's reply to one question.

    Attributes:
        dense_ids: Its chunks nearest the question (FAISS), best first.
        dense_scores: Their FAISS scores.
        bm25_ids: Its chunks of highest positive BM25 score, best first.
        bm25_scores: Their BM25 scores.
        chunk_ids: Every chunk of either list, ascending.
        chunk_docs: The document of each of them.
        chunk_bm25: The BM25 score of each of them.
        chunk_vectors: The vector of each of them (exact dense scores are computed by the
            coordinator over the merged candidates, as one index computes them).
    """

    dense_ids: np.ndarray
    dense_scores: np.ndarray
    bm25_ids: np.ndarray
    bm25_scores: np.ndarray
    chunk_ids: np.ndarray
    chunk_docs: np.ndarray
    chunk_bm25: np.ndarray
    chunk_vectors: np.ndarray


@dataclass
class DocumentPart:
    """Some documents of a shard, for answer extraction.

    Attributes:
        documents: The whole corpus's number of each document, in the order of ``contents``.
        contents: Their files as a build of those documents alone (no search structures).
        chunks: The whole corpus's number of each chunk of ``contents``.
    """

    documents: list[int]
    contents: IndexContents
    chunks: np.ndarray


class ShardSearcher:
    """Searches one loaded shard.

    Args:
        shard: The shard.
    """

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self.contents = shard.contents
        self._local_doc = {int(doc): number for number, doc in enumerate(shard.documents)}

    @property
    def number(self) -> int:
        """The shard's position."""
        return self.shard.number

    def size(self) -> dict[str, int]:
        """Its documents, chunks and sentences (for health and logs)."""
        return {
            "shard": self.shard.number,
            "documents": len(self.contents.documents),
            "chunks": int(len(self.contents.chunks["doc"])),
            "sentences": int(len(self.contents.sentences["doc"])),
        }

    def candidates(self, vector: np.ndarray, terms: Sequence[str], count: int) -> ShardCandidates:
        """Its best ``count`` chunks by FAISS and by BM25.

        Args:
            vector: The question's embedding.
            terms: Its stemmed BM25 terms.
            count: Chunks wanted from each retriever (what one index would take).

        Returns:
            The two lists and what the coordinator needs to score their chunks.
        """
        total = len(self.contents.chunks["doc"])
        count = min(total, count)
        if count == 0:
            return _no_candidates(self.contents.chunk_vectors.shape[1])
        if terms:
            bm25_all = np.asarray(self.contents.bm25.get_scores(list(terms)), dtype=np.float32)
        else:
            bm25_all = np.zeros(total, dtype=np.float32)
        scores, ids = self.contents.faiss_index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), count)
        keep = ids[0] >= 0
        dense_local, dense_scores = ids[0][keep], scores[0][keep]
        bm25_local = top(bm25_all, count)
        bm25_local = bm25_local[bm25_all[bm25_local] > 0]
        local = np.unique(np.concatenate([dense_local, bm25_local]))
        chunks = self.shard.chunks
        return ShardCandidates(
            dense_ids=chunks[dense_local],
            dense_scores=dense_scores,
            bm25_ids=chunks[bm25_local],
            bm25_scores=bm25_all[bm25_local],
            chunk_ids=chunks[local],
            chunk_docs=self.shard.documents[self.contents.chunks["doc"][local]],
            chunk_bm25=bm25_all[local],
            chunk_vectors=self.contents.chunk_vectors[local],
        )

    def documents(self, docs: Sequence[int]) -> DocumentPart:
        """Everything answer extraction reads about some of its documents.

        Args:
            docs: The whole corpus's numbers of documents this shard holds.

        Returns:
            Those documents as a small build.

        Raises:
            KeyError: A document is not in this shard.
        """
        wanted = sorted({int(doc) for doc in docs})
        local = [self._local_doc[doc] for doc in wanted]
        rows = index_format.rows_of_documents(self.contents.chunks["doc"], local)
        return DocumentPart(
            documents=wanted, contents=index_format.select_documents(self.contents, local), chunks=self.shard.chunks[rows],
        )


def _no_candidates(dimensions: int) -> ShardCandidates:
    empty = np.zeros(0, dtype=np.int64)
    return ShardCandidates(
        dense_ids=empty, dense_scores=np.zeros(0, np.float32), bm25_ids=empty, bm25_scores=np.zeros(0, np.float32),
        chunk_ids=empty, chunk_docs=empty, chunk_bm25=np.zeros(0, np.float32),
        chunk_vectors=np.zeros((0, dimensions), np.float32),
    )
