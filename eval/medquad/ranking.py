"""Document rankings over a Verbatim index, for the MedQuAD retrieval metrics.

Verbatim retrieves *chunks* (runs of whole sentences that fit the model's 256-token window);
MedQuAD judges *documents*. A document's score is aggregated from its chunks' scores.

Two families of rankers:

* :class:`ShippedRanker` runs ``qa.retriever.HybridRetriever`` exactly as the answer path does
  (approximate HNSW candidates at this scale, its own fusion) and ranks documents by their
  best chunk: what Verbatim does today.
* :class:`DocumentScorer` computes, for a batch of questions, exact dense and BM25 scores of
  every chunk (one matrix product; BM25 over all chunks) and aggregates them per document.
  The fusion variants and the question-type prior below work on those document scores;
  they are prototypes measured on dev, to be moved into ``qa/`` when they pay off.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eval.stats import min_max
from qa.retriever import Fusion, HybridRetriever, RetrievalMode, RetrieverConfig

# A question's type, from its wording. MedQuAD's questions follow a few templates
# ("What are the symptoms of X ?"); real users' questions use the same cue words.
QUESTION_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE))
    for name, pattern in (
        ("symptoms", r"\b(symptoms?|signs?)\b"),
        ("treatment", r"\b(treat(ment|ments|ed)?|therap(y|ies)|cure|manage(ment)?)\b"),
        ("inheritance", r"\b(inherit(ed|ance)?|passed down|hereditary)\b"),
        ("frequency", r"\b(how many|how common|prevalence|frequency)\b"),
        ("genetic changes", r"\b(genetic changes?|genes?|mutations?)\b"),
        ("exams and tests", r"\b(diagnos(e|is|ed)|tests?|exams?|screen(ing)?)\b"),
        ("causes", r"\b(causes?|caused)\b"),
        ("research", r"\b(research|studies|clinical trials?)\b"),
        ("outlook", r"\b(outlook|prognosis)\b"),
        ("susceptibility", r"\b(at risk|risk factors?|who gets)\b"),
        ("prevention", r"\b(prevent(ed|ion)?|avoid)\b"),
        ("stages", r"\b(stages?|staging)\b"),
        ("complications", r"\b(complications?)\b"),
        ("considerations", r"\b(considerations?|know about)\b"),
    )
)
GENERAL_TYPE = "information"


def question_type(question: str) -> str:
    """The type a question asks about (first matching cue; ``information`` when none)."""
    for name, pattern in QUESTION_TYPES:
        if pattern.search(question):
            return name
    return GENERAL_TYPE


@dataclass(frozen=True)
class DocumentScores:
    """Per-document scores of a batch of questions (rows: questions, columns: documents).

    Attributes:
        dense: Best chunk cosine similarity per document.
        bm25: Best chunk BM25 score per document.
        first_dense: Cosine similarity of the document's first chunk.
        sentence: Best sentence cosine similarity per document (sentence vectors are stored
            at ingest for answer extraction).
        mean: Cosine similarity to the document's mean sentence vector (what it is about as
            a whole).
    """

    dense: np.ndarray
    bm25: np.ndarray
    first_dense: np.ndarray
    sentence: np.ndarray
    mean: np.ndarray


def _starts(owner: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """First row of every owner in a table sorted by owner, and which owners have rows."""
    if len(owner) and np.any(np.diff(owner) < 0):
        raise ValueError("rows must be stored in document order")
    return np.searchsorted(owner, np.arange(count), side="left"), np.bincount(owner, minlength=count) > 0


def per_document_max(scores: np.ndarray, starts: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Row-wise maximum over each document's run of columns (-inf for documents without any)."""
    result = np.maximum.reduceat(scores, np.minimum(starts, scores.shape[1] - 1), axis=1)
    result[:, ~present] = -np.inf
    return result


class DocumentScorer:
    """Exact chunk and sentence scores aggregated to documents.

    Args:
        store: A loaded ``qa.store.IndexStore``.
    """

    def __init__(self, store) -> None:
        self.store = store
        self.documents = len(store.documents)
        self.chunk_starts, self.has_chunks = _starts(np.asarray(store.chunk_doc), self.documents)
        self.sentence_starts, self.has_sentences = _starts(np.asarray(store.sentence_doc), self.documents)
        self.chunk_counts = np.bincount(np.asarray(store.chunk_doc), minlength=self.documents)
        self._chunk_vectors = np.ascontiguousarray(store.chunk_vectors, dtype=np.float32)
        self._sentence_vectors = np.ascontiguousarray(store.sentence_vectors, dtype=np.float32)
        self.doc_ids = [document.doc_id for document in store.documents]
        means = np.zeros((self.documents, self._sentence_vectors.shape[1]), dtype=np.float32)
        np.add.at(means, np.asarray(store.sentence_doc), self._sentence_vectors)
        self.mean_vectors = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-9)

    def first_chunk_vectors(self) -> np.ndarray:
        """Vector of every document's first chunk (zeros for documents without chunks)."""
        vectors = self._chunk_vectors[np.minimum(self.chunk_starts, len(self._chunk_vectors) - 1)].copy()
        vectors[~self.has_chunks] = 0.0
        return vectors

    def score(self, vectors: np.ndarray, terms: Sequence[Sequence[str]]) -> DocumentScores:
        """Scores of every document for a batch of questions.

        Args:
            vectors: ``(b, d)`` normalised question embeddings.
            terms: BM25 terms of each question (``verbatim.textutil.bm25_terms``).

        Returns:
            Dense, BM25, first-chunk dense, best-sentence and mean-vector scores, each
            ``(b, documents)``.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        dense_chunks = vectors @ self._chunk_vectors.T
        bm25_chunks = np.zeros_like(dense_chunks)
        for row, question_terms in enumerate(terms):
            if question_terms:
                bm25_chunks[row] = self.store.bm25.get_scores(list(question_terms))
        first = dense_chunks[:, np.minimum(self.chunk_starts, dense_chunks.shape[1] - 1)]
        first[:, ~self.has_chunks] = -np.inf
        sentences = per_document_max(vectors @ self._sentence_vectors.T, self.sentence_starts, self.has_sentences)
        return DocumentScores(
            per_document_max(dense_chunks, self.chunk_starts, self.has_chunks),
            per_document_max(bm25_chunks, self.chunk_starts, self.has_chunks),
            first,
            sentences,
            vectors @ self.mean_vectors.T,
        )


def top_documents(scores: np.ndarray, count: int) -> np.ndarray:
    """Indices of the ``count`` best documents of one score row, best first (stable)."""
    count = min(count, len(scores))
    top = np.argpartition(-scores, count - 1)[:count]
    return top[np.argsort(-scores[top], kind="stable")]


def minmax_fusion(dense: np.ndarray, bm25: np.ndarray, dense_weight: float, candidates: int) -> np.ndarray:
    """Weighted sum of min-max normalised scores over both retrievers' candidates.

    Args:
        dense: Document dense scores of one question.
        bm25: Document BM25 scores of one question.
        dense_weight: Weight of the dense score; BM25 gets the rest.
        candidates: Documents taken from each retriever.

    Returns:
        Fused scores (-inf outside the candidates).
    """
    pool = np.union1d(top_documents(dense, candidates), top_documents(bm25, candidates))
    fused = np.full(len(dense), -np.inf, dtype=np.float64)
    fused[pool] = dense_weight * min_max(dense[pool]) + (1 - dense_weight) * min_max(bm25[pool])
    return fused


def rrf_fusion(dense: np.ndarray, bm25: np.ndarray, k: int, candidates: int) -> np.ndarray:
    """Reciprocal rank fusion of the two candidate lists."""
    fused = np.full(len(dense), -np.inf, dtype=np.float64)
    lexical = top_documents(bm25, candidates)
    for ranking in (top_documents(dense, candidates), lexical[bm25[lexical] > 0]):
        contribution = 1.0 / (k + 1 + np.arange(len(ranking)))
        current = fused[ranking]
        fused[ranking] = np.where(np.isneginf(current), 0.0, current) + contribution
    return fused




class ShippedRanker:
    """Documents ranked by ``qa.retriever.HybridRetriever`` as the answer path runs it.

    Args:
        store: Loaded index.
        candidates: Chunks per retriever (``RetrieverConfig.candidates``); large enough for
            recall@100 after several chunks of one document collapse into one.
        fusion: ``minmax`` or ``rrf``.
        base_config: The answer path's retriever config (its other parameters are kept).
    """

    def __init__(self, store, candidates: int, fusion: str | None = None, base_config=None) -> None:
        from dataclasses import replace


        config = replace(base_config or RetrieverConfig(), candidates=candidates)
        if fusion is not None:
            config = replace(config, fusion=Fusion(fusion))
        self.config = config
        self.retriever = HybridRetriever(store, config)
        self.store = store

    def rank(self, query, mode: str, depth: int = 100) -> list[str]:
        """Document ids, best first (by each document's best chunk).

        Args:
            query: A prepared ``qa.types.Query``.
            mode: ``hybrid``, ``dense`` or ``bm25``.
            depth: Documents wanted.

        Returns:
            Up to ``depth`` document ids.
        """
        chunks = self.retriever.run(query, top_k=self.config.candidates, mode=RetrievalMode(mode))
        ranking: list[str] = []
        seen: set[int] = set()
        for item in chunks:
            doc = int(self.store.chunk_doc[item.chunk])
            if doc not in seen:
                seen.add(doc)
                ranking.append(self.store.documents[doc].doc_id)
                if len(ranking) == depth:
                    break
        return ranking
