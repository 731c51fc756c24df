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
few documents it answers from. Conversation follow-ups re-read earlier answers' documents: those
are fetched from their shards too (:meth:`ShardedAnswerer.converse`), as is a document shown by
the document view (:meth:`ShardedAnswerer.document_view`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.extractor import AnswerExtractor
from qa.pair_memory import PairMemory
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
from qa.shards import DocumentPart, ShardCandidates, ShardSearcher
from qa.store import CorpusWide, IndexInfo, IndexStore
from qa.tunables import TUNABLES
from qa.types import DocumentEntry, Query, RetrievedChunk
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

    Made for one question (or one conversation); caches live and die with it.

    Args:
        contents: The documents' files.
        path: The build folder.
        corpus: The corpus-wide view.
        global_docs: The whole corpus's number of each of its documents.
    """

    def __init__(self, contents: IndexContents, path: Path, corpus: CorpusWide, global_docs: Sequence[int] = ()) -> None:
        super().__init__(contents, path, corpus)
        self.global_docs = [int(doc) for doc in global_docs]
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


@dataclass(frozen=True)
class DocumentPiece:
    """One document of a sharded index, as its shard sent it.

    Attributes:
        doc: The whole corpus's number of the document.
        contents: Its files as a build of that document alone.
        chunks: The whole corpus's number of each of its chunks.
    """

    doc: int
    contents: IndexContents
    chunks: np.ndarray


def pieces_of(parts: Sequence[DocumentPart]) -> list[DocumentPiece]:
    """The shards' replies cut into one piece per document."""
    pieces = []
    for part in parts:
        for position, doc in enumerate(part.documents):
            rows = index_format.rows_of_documents(part.contents.chunks["doc"], [position])
            pieces.append(DocumentPiece(int(doc), index_format.select_documents(part.contents, [position]), part.chunks[rows]))
    return pieces


def view_of(pieces: Sequence[DocumentPiece], manifest: dict, path: Path, corpus: CorpusWide) -> tuple[StoreView, dict[int, int]]:
    """One store over some documents of the corpus, in the corpus's document order.

    Args:
        pieces: The documents.
        manifest: The build's manifest.
        path: The build folder.
        corpus: The corpus-wide view.

    Returns:
        The store, and the corpus's chunk number -> its number in the store.
    """
    pieces = sorted(pieces, key=lambda piece: piece.doc)
    contents = index_format.concatenate([piece.contents for piece in pieces])
    contents.manifest = manifest
    global_chunks = np.concatenate([piece.chunks for piece in pieces]) if pieces else np.zeros(0, np.int64)
    store = StoreView(contents, path, corpus, [piece.doc for piece in pieces])
    return store, {int(chunk): number for number, chunk in enumerate(global_chunks.tolist())}


def translate_sentences(sentences: frozenset[int], source: StoreView, target: StoreView) -> frozenset[int]:
    """Sentences of one view of a sharded index numbered as in another (those of documents the
    other does not hold are dropped: nothing can quote them there).

    Args:
        sentences: Sentence numbers of ``source``.
        source: The view they belong to.
        target: The view wanted.

    Returns:
        The same sentences, numbered in ``target``.
    """
    if not sentences or source is target:
        return sentences
    position = {doc: number for number, doc in enumerate(target.global_docs)}
    found = set()
    for sentence in sentences:
        doc = int(source.sentence_doc[sentence])
        there = position.get(source.global_docs[doc])
        if there is not None:
            found.add(target.document_sentences(there).start + sentence - source.document_sentences(doc).start)
    return frozenset(found)


class DocumentCache:
    """The documents last fetched from the shards, by build and document (a document of a build
    never changes), so a conversation or a document view does not fetch them again.

    Args:
        size: Documents kept at the most.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._pieces: OrderedDict[tuple[str, int], DocumentPiece] = OrderedDict()
        self._lock = threading.Lock()

    def fetch(self, build: str, docs: Sequence[int], pool: ShardPool, count: int) -> list[DocumentPiece]:
        """Some documents, from the cache or from their shards.

        Args:
            build: Name of the build they belong to.
            docs: The whole corpus's document numbers.
            pool: The build's shards.
            count: Its number of shards.

        Returns:
            One piece per document, in the order of ``docs``.
        """
        with self._lock:
            found = {doc: self._pieces[(build, doc)] for doc in docs if (build, doc) in self._pieces}
            for doc in found:
                self._pieces.move_to_end((build, doc))
        missing = sorted({int(doc) for doc in docs} - set(found))
        if missing:
            wanted: dict[int, list[int]] = {}
            for doc, shard in zip(missing, index_format.shard_of_documents(max(missing) + 1, count)[missing].tolist(), strict=True):
                wanted.setdefault(shard, []).append(doc)
            fetched = pieces_of(pool.documents(wanted))
            with self._lock:
                for piece in fetched:
                    found[piece.doc] = self._pieces[(build, piece.doc)] = piece
                while len(self._pieces) > self.size:
                    self._pieces.popitem(last=False)
        return [found[int(doc)] for doc in docs]


@dataclass
class _ShardedComponents(_Components):
    """The components of a sharded index, with its shards and the corpus's document list."""

    pool: ShardPool | None = None
    statistics: CorpusStatistics | None = None
    doc_numbers: dict[str, int] | None = None  # document id -> the corpus's number


class ShardUnavailableError(Exception):
    """A shard did not answer: its actor died and did not come back in time.

    Args:
        shard: The shard's number.
        reason: What happened.
    """

    def __init__(self, shard: int, reason: str) -> None:
        super().__init__(
            f"shard {shard} of the index is unavailable ({reason}); if it does not come back, "
            "redeploy with `verbatim serve --index DIR --ray ADDRESS ...`"
        )
        self.shard = shard


class ShardedAnswerer(Answerer):
    """An :class:`Answerer` over a sharded index.

    A conversation's follow-ups read its earlier answers' documents: they are fetched from their
    shards into a view of the conversation (:meth:`converse`) that stands for the whole index,
    and the sentences it excludes are renumbered into each question's view.

    Args:
        pool_factory: Loads the shards of an index folder for the build's model
            (default: :meth:`LocalShardPool.load`, every shard in this process).
        **kwargs: As :class:`Answerer`.
    """

    def __init__(self, *args, pool_factory: Callable[[Path, Embedder], ShardPool] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pool_factory = pool_factory or LocalShardPool.load
        self._conversation: ContextVar[_Components | None] = ContextVar(f"conversation-{id(self)}", default=None)
        self._cache = DocumentCache(TUNABLES.sharded.cached_documents)

    def _load(self, index_dir: Path) -> _Components:
        embedder, safety = self._load_model(index_dir)
        statistics = index_format.load_statistics(index_dir, embedder.name, embedder.weights_hash)
        corpus = CorpusWide.compute(
            statistics.vocabulary, statistics.bm25_document_frequencies, statistics.chunks, statistics.sentences,
            statistics.topics_present, statistics.manifest.get("safety_policy", {}).get("topics", []),
        )
        pool = self._pool_factory(index_dir, embedder)
        path = index_format.current_build(index_dir)
        store, _ = view_of([], statistics.manifest, path, corpus)  # no documents: the corpus-wide view
        return _ShardedComponents(
            **vars(self._bind(store, embedder, safety, None, PairMemory.load(index_dir))), pool=pool, statistics=statistics,
            doc_numbers={str(entry["doc_id"]): number for number, entry in enumerate(statistics.manifest.get("documents", []))},
        )

    def _base(self) -> _ShardedComponents:
        """The components of the build in service (not of a conversation)."""
        return super()._require()  # type: ignore[return-value]

    def _require(self) -> _Components:
        conversation = self._conversation.get()
        return conversation if conversation is not None else super()._require()

    @property
    def pool(self) -> ShardPool:
        """The shards of the build in service."""
        return self._base().pool

    @property
    def statistics(self) -> CorpusStatistics:
        """The corpus-wide statistics of the build in service."""
        return self._base().statistics

    def _view(self, base: _ShardedComponents, docs: Sequence[int]) -> tuple[_Components, dict[int, int]]:
        """The components bound to a view of some documents (the corpus's numbers)."""
        pieces = self._cache.fetch(base.store.path.name, docs, base.pool, base.pool.count())
        store, numbers = view_of(pieces, base.statistics.manifest, base.store.path, base.store.corpus)
        components = replace(
            base,
            store=store,
            extractor=AnswerExtractor(store, self.calibration.ranker, self.extractor_config, base.extractor.chooser),
            abstention=base.abstention.bound_to(store),
        )
        return components, numbers

    def retrieve(self, query: Query, top_k: int, mode: RetrievalMode = RetrievalMode.HYBRID) -> tuple[list[RetrievedChunk], list[ShardCandidates]]:
        """The merged ranking of every shard's candidates (chunk numbers of the whole corpus).

        Args:
            query: The prepared question.
            top_k: Chunks wanted.
            mode: Retrieval mode.

        Returns:
            The chunks, best first, and the shards' replies.
        """
        base = self._base()
        count = candidate_count(base.statistics.chunks, top_k, self.retriever_config)
        parts = base.pool.candidates(query.vector, query.terms, count) if count else []
        return merge_candidates(parts, query.vector, base.statistics.chunks, top_k, mode, self.retriever_config), parts

    def _retrieve(
        self, query: Query, depth: int, mode: RetrievalMode, excluded: frozenset[int]
    ) -> tuple[_Components, list[RetrievedChunk], frozenset[int]]:
        base = self._base()
        retrieved, parts = self.retrieve(query, depth, mode)
        owner = chunk_documents(parts)
        docs: list[int] = []
        for item in retrieved:
            doc = owner[item.chunk][1]
            if doc not in docs:
                docs.append(doc)
        components, numbers = self._view(base, docs)
        excluded = translate_sentences(excluded, self._require().store, components.store)
        return components, [replace(item, chunk=numbers[item.chunk]) for item in retrieved], excluded

    def converse(self, question, history, top_k=3, mode=RetrievalMode.HYBRID):  # noqa: ANN001 - as Answerer
        """Answer a question of a conversation (see :meth:`Answerer.converse`).

        The earlier turns' documents are fetched from their shards into a view that the
        follow-up logic reads as the index (it quotes and excludes their sentences).
        """
        base = self._base()
        docs = sorted({base.doc_numbers[turn.doc_id] for turn in history if turn.doc_id in base.doc_numbers})
        conversation, _ = self._view(base, docs)
        token = self._conversation.set(conversation)
        try:
            return super().converse(question, history, top_k, mode)
        finally:
            self._conversation.reset(token)

    def document_view(self, doc_id: str) -> tuple[IndexStore, int] | None:
        """One document, fetched from its shard (see :meth:`Answerer.document_view`)."""
        base = self._base()
        doc = base.doc_numbers.get(doc_id)
        if doc is None:
            return None
        components, _ = self._view(base, [doc])
        return components.store, 0

    def document_entries(self, limit: int | None = None) -> list[DocumentEntry]:
        """The corpus's documents, from the build's manifest (no shard is asked)."""
        return [
            DocumentEntry(str(entry["doc_id"]), str(entry.get("title", "")), int(entry.get("length", 0)))
            for entry in self._base().statistics.manifest.get("documents", [])[:limit]
        ]

    def document_count(self) -> int:
        """Documents in the corpus."""
        return len(self._base().doc_numbers)
