"""Answering from a sharded index: one question embedding, every shard searched, one merge.

A sharded build (``verbatim ingest --shards N``) is served by N shard searchers
(:class:`qa.shards.ShardSearcher`), each holding one shard, in this process
(:class:`LocalShardPool`) or each in its own Ray actor (``web.ray_shards``). For a question,
:class:`ShardedAnswerer`:

1. embeds it once (the same normalisation and model as an unsharded index);
2. asks every shard for its best chunks by FAISS and BM25 (:meth:`ShardPool.candidates`);
3. merges the lists exactly as one index ranks its chunks (:func:`merge_candidates`): the top
   ``candidates`` of the union of each list, exact dense scores over the merged candidates,
   the same fusion; with exact (flat) shards this is the whole index's ranking, chunk for chunk;
4. fetches the documents of the retrieved chunks from their shards (:meth:`ShardPool.documents`)
   and runs the same extraction, abstention and safety components over them, with the corpus's
   global statistics (BM25 idf, vocabulary, subject words, topics; hubness is stored per
   sentence, computed over the whole corpus at ingest).

No process holds the whole index: this one holds the corpus statistics and, per question, the
few documents it answers from. Conversation follow-ups (which re-read earlier answers'
documents) are not answered from a sharded index yet; single questions are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.abstention import AbstentionPolicy
from qa.confidence import AnswerConfidence
from qa.extractor import AnswerExtractor
from qa.normalizer import QuestionNormaliser
from qa.pipeline import Answerer, _Components
from qa.retriever import (
    Candidates,
    RetrievalMode,
    RetrieverConfig,
    candidate_count,
    rank,
    select_candidates,
    top,
)
from qa.safety import SafetyChecker
from qa.shards import DocumentPart, ShardCandidates, ShardSearcher
from qa.store import CorpusWide, IndexInfo, IndexStore
from qa.types import Query, RetrievedChunk
from verbatim import index_format
from verbatim.embedding import Embedder
from verbatim.index_format import CorpusStatistics, IndexContents
from verbatim.textutil import bm25_terms


class ShardPool(Protocol):
    """The shards of one index, wherever they are loaded."""

    def count(self) -> int:
        """Number of shards."""

    def candidates(self, vector: np.ndarray, terms: Sequence[str], count: int) -> list[ShardCandidates]:
        """Every shard's candidates for a question (see :meth:`ShardSearcher.candidates`)."""

    def documents(self, wanted: dict[int, list[int]]) -> list[DocumentPart]:
        """Documents from their shards: shard number -> the corpus's document numbers."""


class LocalShardPool:
    """Every shard of an index loaded in this process (one machine; tests).

    Args:
        searchers: One searcher per shard, in shard order.
    """

    def __init__(self, searchers: Sequence[ShardSearcher]) -> None:
        self.searchers = list(searchers)

    @classmethod
    def load(cls, index_dir: Path, embedder: Embedder) -> LocalShardPool:
        """Load every shard of the live build of ``index_dir``.

        Args:
            index_dir: Index folder of a sharded build.
            embedder: The build's model (its weights hash is checked).

        Returns:
            The pool.
        """
        manifest = index_format.read_manifest(index_dir)
        count = int((index_format.sharding(manifest) or {}).get("count", 0))
        return cls([
            ShardSearcher(index_format.load_shard(index_dir, number, embedder.name, embedder.weights_hash))
            for number in range(count)
        ])

    def count(self) -> int:
        """Number of shards."""
        return len(self.searchers)

    def candidates(self, vector: np.ndarray, terms: Sequence[str], count: int) -> list[ShardCandidates]:
        """Every shard's candidates, one after the other."""
        return [searcher.candidates(vector, terms, count) for searcher in self.searchers]

    def documents(self, wanted: dict[int, list[int]]) -> list[DocumentPart]:
        """The wanted documents of each shard."""
        return [self.searchers[shard].documents(docs) for shard, docs in sorted(wanted.items())]


def merge_candidates(
    parts: Sequence[ShardCandidates],
    vector: np.ndarray,
    total: int,
    top_k: int,
    mode: RetrievalMode,
    config: RetrieverConfig,
) -> list[RetrievedChunk]:
    """Rank the shards' candidates as one index of all their chunks ranks its own.

    Args:
        parts: Each shard's reply, asked for :func:`qa.retriever.candidate_count` chunks.
        vector: The question's embedding.
        total: Chunks in the whole corpus.
        top_k: Chunks to return.
        mode: Retrieval mode.
        config: Retrieval parameters.

    Returns:
        Up to ``top_k`` chunks (the corpus's numbers), best first.
    """
    if total == 0 or not parts:
        return []
    count = candidate_count(total, top_k, config)
    dense_ids = np.concatenate([part.dense_ids for part in parts]).astype(np.int64)
    dense_scores = np.concatenate([part.dense_scores for part in parts])
    dense_ids = dense_ids[np.lexsort((dense_ids, -dense_scores))][:count]
    bm25_ids = np.concatenate([part.bm25_ids for part in parts]).astype(np.int64)
    bm25_scores = np.concatenate([part.bm25_scores for part in parts])
    order = np.lexsort((bm25_ids, -bm25_scores))  # ties in chunk order, as one index's stable sort
    bm25_ids, bm25_scores = bm25_ids[order], bm25_scores[order]
    bm25_ids = bm25_ids[top(bm25_scores, count)]
    candidates = select_candidates(dense_ids, bm25_ids, mode)
    if len(candidates) == 0:
        return []
    chunk_ids = np.concatenate([part.chunk_ids for part in parts]).astype(np.int64)
    by_id = np.argsort(chunk_ids, kind="stable")
    rows = by_id[np.searchsorted(chunk_ids[by_id], candidates)]
    # Exact dense scores over the merged candidates, in their order (as one index computes them).
    vectors = np.concatenate([part.chunk_vectors for part in parts])[rows]
    dense = vectors @ vector
    lexical = np.concatenate([part.chunk_bm25 for part in parts])[rows]
    return rank(config, Candidates(candidates, dense, lexical, dense_ids, bm25_ids), mode, top_k)


def chunk_documents(parts: Sequence[ShardCandidates]) -> dict[int, tuple[int, int]]:
    """Chunk -> (its shard, its document), for every candidate of the shards' replies."""
    found: dict[int, tuple[int, int]] = {}
    for shard, part in enumerate(parts):
        for chunk, doc in zip(part.chunk_ids.tolist(), part.chunk_docs.tolist(), strict=True):
            found[chunk] = (shard, doc)
    return found


class StoreView(IndexStore):
    """An :class:`IndexStore` over some documents of a sharded index, with its corpus-wide view.

    Made for one question; caches live and die with it.
    """

    def __init__(self, contents: IndexContents, path: Path, corpus: CorpusWide) -> None:
        super().__init__(contents, path, corpus)
        self._terms: dict[int, frozenset[str]] = {}

    def info(self) -> IndexInfo:
        """Summary of the whole sharded build (not of the documents this view holds)."""
        counts = self.manifest.get("counts", {})
        return IndexInfo(
            path=str(self.path),
            built_at=str(self.manifest.get("built_at", "")),
            documents=int(counts.get("documents", 0)),
            chunks=int(counts.get("chunks", 0)),
            sentences=int(counts.get("sentences", 0)),
            model=str(self.manifest.get("model", {}).get("name", "")),
            vector_index=f"{self.manifest.get('sharding', {}).get('count')} shards",
        )

    def sentence_terms(self, sentence: int) -> frozenset[str]:  # type: ignore[override]
        """Stemmed terms of a sentence (computed on first use, for this view only)."""
        terms = self._terms.get(sentence)
        if terms is None:
            terms = self._terms[sentence] = frozenset(bm25_terms(self.sentence_text(sentence)))
        return terms


def view_of(parts: Sequence[DocumentPart], manifest: dict, path: Path, corpus: CorpusWide) -> tuple[StoreView, dict[int, int]]:
    """One store over the documents the shards sent, in the corpus's document order.

    Args:
        parts: The shards' documents.
        manifest: The build's manifest.
        path: The build folder.
        corpus: The corpus-wide view.

    Returns:
        The store, and the corpus's chunk number -> its number in the store.
    """
    pieces: list[tuple[int, IndexContents, np.ndarray]] = []
    for part in parts:
        for position, doc in enumerate(part.documents):
            rows = index_format.rows_of_documents(part.contents.chunks["doc"], [position])
            pieces.append((doc, index_format.select_documents(part.contents, [position]), part.chunks[rows]))
    pieces.sort(key=lambda piece: piece[0])
    contents = index_format.concatenate([piece[1] for piece in pieces])
    contents.manifest = manifest
    global_chunks = np.concatenate([piece[2] for piece in pieces]) if pieces else np.zeros(0, np.int64)
    return StoreView(contents, path, corpus), {int(chunk): number for number, chunk in enumerate(global_chunks.tolist())}


class ShardedConversationError(Exception):
    """A conversation follow-up was asked of a sharded index (not supported yet)."""


class ShardedAnswerer(Answerer):
    """An :class:`Answerer` over a sharded index (single questions).

    Args:
        pool_factory: Loads the shards of an index folder for the build's model
            (default: :meth:`LocalShardPool.load`, every shard in this process).
        **kwargs: As :class:`Answerer`.
    """

    def __init__(self, *args, pool_factory: Callable[[Path, Embedder], ShardPool] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pool_factory = pool_factory or LocalShardPool.load
        self.pool: ShardPool | None = None
        self.statistics: CorpusStatistics | None = None

    def _load(self, index_dir: Path) -> _Components:
        model_path = index_format.build_model_path(index_dir)
        embedder = self._given_embedder.for_model(None if model_path is None else str(model_path))
        embedder.warm_up_queries()
        safety = SafetyChecker(self.policy, adapted=model_path is not None)
        safety.warm_up(embedder)
        statistics = index_format.load_statistics(index_dir, embedder.name, embedder.weights_hash)
        corpus = CorpusWide.compute(
            statistics.vocabulary, statistics.bm25_document_frequencies, statistics.chunks, statistics.sentences,
            statistics.topics_present, statistics.manifest.get("safety_policy", {}).get("topics", []),
        )
        pool = self._pool_factory(index_dir, embedder)
        self.pool, self.statistics = pool, statistics
        path = index_format.current_build(index_dir)
        store, _ = view_of([], statistics.manifest, path, corpus)  # no documents: the corpus-wide view
        return _Components(
            store=store,
            embedder=embedder,
            safety=safety,
            normaliser=QuestionNormaliser(store.vocabulary, store.food_groups),
            retriever=None,
            extractor=AnswerExtractor(store, self.calibration.ranker, self.extractor_config),
            abstention=AbstentionPolicy(store, self.policy, self.calibration),
            confidence=AnswerConfidence(self.calibration),
        )

    def retrieve(self, query: Query, top_k: int, mode: RetrievalMode = RetrievalMode.HYBRID) -> tuple[list[RetrievedChunk], list[ShardCandidates]]:
        """The merged ranking of every shard's candidates (chunk numbers of the whole corpus).

        Args:
            query: The prepared question.
            top_k: Chunks wanted.
            mode: Retrieval mode.

        Returns:
            The chunks, best first, and the shards' replies.
        """
        self._require()
        count = candidate_count(self.statistics.chunks, top_k, self.retriever_config)
        parts = self.pool.candidates(query.vector, query.terms, count) if count else []
        return merge_candidates(parts, query.vector, self.statistics.chunks, top_k, mode, self.retriever_config), parts

    def _retrieve(
        self, query: Query, depth: int, mode: RetrievalMode, excluded: frozenset[int]
    ) -> tuple[_Components, list[RetrievedChunk]]:
        if excluded:
            raise ShardedConversationError("conversation follow-ups are not answered from a sharded index yet")
        base = self._require()
        retrieved, parts = self.retrieve(query, depth, mode)
        owner = chunk_documents(parts)
        wanted: dict[int, list[int]] = {}
        for item in retrieved:
            shard, doc = owner[item.chunk]
            if doc not in wanted.setdefault(shard, []):
                wanted[shard].append(doc)
        documents = self.pool.documents(wanted) if wanted else []
        store, numbers = view_of(documents, self.statistics.manifest, base.store.path, base.store.corpus)
        components = replace(
            base,
            store=store,
            extractor=AnswerExtractor(store, self.calibration.ranker, self.extractor_config),
            abstention=base.abstention.bound_to(store),
        )
        return components, [replace(item, chunk=numbers[item.chunk]) for item in retrieved]

    def converse(self, question, history, top_k=3, mode=RetrievalMode.HYBRID):  # noqa: ANN001 - as Answerer
        """Not supported on a sharded index yet (see the module docstring)."""
        raise ShardedConversationError("conversation follow-ups are not answered from a sharded index yet")
