"""Run the MedQuAD benchmark: rankings of every system, the extractive answer, latency.

For each question the :class:`~eval.medquad.ranking.DocumentScorer` scores every document once
(exact dense and BM25, best chunk per document); every system then ranks the same candidate
pool, so comparing systems and tuning a fusion weight cost no extra retrieval. The shipped
retriever (``qa.retriever.HybridRetriever``) is run separately, exactly as the answer path runs
it. The extractive answer comes from ``qa.pipeline.Answerer`` on the benchmark index.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from eval.medquad.data import BenchmarkQuestion
from eval.medquad.learned import LearnedFusion, TypePrior, feature_names, pool_features
from eval.medquad.ranking import DocumentScorer, ShippedRanker, question_type, top_documents
from eval.metrics import ndcg_at_k, recall_at_k, reciprocal_rank_at_k
from eval.stats import min_max, percentile

RANKING_DEPTH = 100  # documents ranked per question (recall@100)
POOL = 200  # documents taken from each retriever before fusion
SHIPPED_CANDIDATES = 400  # chunks per retriever for the shipped retriever (several chunks per document)
LATENCY_SAMPLE = 200  # questions answered one by one, embedding included, for the latency figures


@dataclass(frozen=True)
class FusionParams:
    """Parameters of the prototype systems (tuned on dev with ``--tune``; see eval/README.md).

    Attributes:
        dense_weight: Weight of the dense score in min-max fusion.
        rrf_k: Rank offset of reciprocal rank fusion.
    """

    dense_weight: float = 0.8
    rrf_k: int = 5


@dataclass
class Pool:
    """The candidate documents of one question with their scores.

    Attributes:
        docs: Document numbers (union of the top :data:`POOL` of each retriever).
        dense: Best-chunk cosine similarity.
        bm25: Best-chunk BM25 score.
        first_dense: Similarity of the document's first chunk.
        sentence: Best-sentence cosine similarity.
        mean: Similarity to the document's mean sentence vector.
        dense_rank: 0-based rank in the dense list (POOL when not in it).
        bm25_rank: 0-based rank in the BM25 list (POOL when not in it or BM25 is 0).
    """

    docs: np.ndarray
    dense: np.ndarray
    bm25: np.ndarray
    first_dense: np.ndarray
    sentence: np.ndarray
    mean: np.ndarray
    dense_rank: np.ndarray
    bm25_rank: np.ndarray


def build_pools(scorer: DocumentScorer, vectors: np.ndarray, terms: Sequence[Sequence[str]], batch: int = 64) -> list[Pool]:
    """Candidate pools of a list of questions.

    Args:
        scorer: Document scorer over the index.
        vectors: ``(n, d)`` question embeddings.
        terms: BM25 terms of each question.
        batch: Questions scored per matrix product.

    Returns:
        One pool per question.
    """
    pools = []
    for begin in range(0, len(vectors), batch):
        scores = scorer.score(vectors[begin : begin + batch], terms[begin : begin + batch])
        for row in range(len(scores.dense)):
            dense, bm25 = scores.dense[row], scores.bm25[row]
            dense_top = top_documents(dense, POOL)
            bm25_top = top_documents(bm25, POOL)
            bm25_top = bm25_top[bm25[bm25_top] > 0]
            docs = np.union1d(dense_top, bm25_top)
            dense_rank = np.full(len(dense), POOL, dtype=np.int32)
            dense_rank[dense_top] = np.arange(len(dense_top))
            bm25_rank = np.full(len(dense), POOL, dtype=np.int32)
            bm25_rank[bm25_top] = np.arange(len(bm25_top))
            pools.append(
                Pool(
                    docs, dense[docs], bm25[docs], scores.first_dense[row][docs], scores.sentence[row][docs],
                    scores.mean[row][docs], dense_rank[docs], bm25_rank[docs],
                )
            )
    return pools




# A system maps a pool to a score per pooled document (higher is better).
System = Callable[[Pool, BenchmarkQuestion], np.ndarray]


def system_dense(pool: Pool, _: BenchmarkQuestion) -> np.ndarray:
    """Exact dense search, each document scored by its best chunk."""
    return pool.dense


def system_bm25(pool: Pool, _: BenchmarkQuestion) -> np.ndarray:
    """BM25 over chunks, each document scored by its best chunk."""
    return np.where(pool.bm25 > 0, pool.bm25, -np.inf)


def minmax_system(dense_weight: float) -> System:
    """Min-max fusion of best-chunk scores over the pool."""

    def score(pool: Pool, _: BenchmarkQuestion) -> np.ndarray:
        return dense_weight * min_max(pool.dense) + (1 - dense_weight) * min_max(pool.bm25)

    return score


def rrf_system(k: int) -> System:
    """Reciprocal rank fusion of the dense and BM25 document lists."""

    def score(pool: Pool, _: BenchmarkQuestion) -> np.ndarray:
        dense = np.where(pool.dense_rank < POOL, 1.0 / (k + 1 + pool.dense_rank), 0.0)
        lexical = np.where(pool.bm25_rank < POOL, 1.0 / (k + 1 + pool.bm25_rank), 0.0)
        return dense + lexical

    return score


def rank_pool(pool: Pool, scores: np.ndarray, doc_ids: Sequence[str], depth: int = RANKING_DEPTH) -> list[str]:
    """Document ids of a pool by score, best first (ties by document number)."""
    order = np.lexsort((pool.docs, -scores))[:depth]
    return [doc_ids[pool.docs[i]] for i in order if np.isfinite(scores[i])]


@dataclass
class RankingMetrics:
    """The four ranking metrics of one system, averaged over questions."""

    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    mrr_at_10: float
    questions: int


def ranking_metrics(rankings: Sequence[Sequence[str]], questions: Sequence[BenchmarkQuestion]) -> RankingMetrics:
    """nDCG@10, recall@10, recall@100 and MRR@10 (binary relevance) of rankings."""
    n = len(questions)
    if n == 0:
        return RankingMetrics(0.0, 0.0, 0.0, 0.0, 0)
    pairs = list(zip(rankings, questions, strict=True))
    return RankingMetrics(
        ndcg_at_10=sum(ndcg_at_k(r, q.relevant_ids, 10) for r, q in pairs) / n,
        recall_at_10=sum(recall_at_k(r, q.relevant_ids, 10) for r, q in pairs) / n,
        recall_at_100=sum(recall_at_k(r, q.relevant_ids, 100) for r, q in pairs) / n,
        mrr_at_10=sum(reciprocal_rank_at_k(r, q.relevant_ids, 10) for r, q in pairs) / n,
        questions=n,
    )


@dataclass
class AnswerMetrics:
    """The extractive answer on MedQuAD.

    Attributes:
        from_relevant: Share of questions whose answer sentence (the one the pipeline chose,
            whether or not it then abstained) comes from a relevant document.
        answered_from_relevant: Share of questions answered (not abstained) from a relevant
            document.
        abstained: Share of questions the pipeline abstained on.
        questions: Questions scored.
    """

    from_relevant: float
    answered_from_relevant: float
    abstained: float
    questions: int


@dataclass
class LatencyFigures:
    """Latency at benchmark scale, in milliseconds (shared machine: indicative only)."""

    answer_p50_ms: float | None = None
    answer_p95_ms: float | None = None
    answer_questions: int = 0
    retrieval_p50_ms: float | None = None
    retrieval_p95_ms: float | None = None


@dataclass
class BenchmarkResult:
    """Everything the benchmark measured on one split (``unreachable``: questions none of whose
    relevant documents is in the index, e.g. because ingest skipped them; they count as misses)."""

    split: str
    questions: int
    systems: dict[str, RankingMetrics]
    descriptions: dict[str, str]
    answer: AnswerMetrics | None
    latency: LatencyFigures
    params: FusionParams
    by_qtype: dict[str, dict[str, float]] = field(default_factory=dict)
    unreachable: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "split": self.split,
            "questions": self.questions,
            "systems": {name: asdict(metrics) for name, metrics in self.systems.items()},
            "descriptions": self.descriptions,
            "answer": asdict(self.answer) if self.answer else None,
            "latency": asdict(self.latency),
            "params": asdict(self.params),
            "by_qtype": self.by_qtype,
            "unreachable": self.unreachable,
            "seconds": self.seconds,
        }


def prototype_systems(params: FusionParams) -> dict[str, tuple[System, str]]:
    """The exact-score systems, by report name, with a one-line description."""
    return {
        "bm25": (system_bm25, "BM25 (bm25s, Lucene, Snowball stemmer) over chunks; document = best chunk"),
        "dense": (system_dense, "exact dense search over chunk vectors; document = best chunk"),
        "hybrid-rrf": (rrf_system(params.rrf_k), f"reciprocal rank fusion of the two document lists (k={params.rrf_k})"),
        "hybrid-minmax": (
            minmax_system(params.dense_weight),
            f"min-max fusion of best-chunk scores, dense weight {params.dense_weight}",
        ),
    }


class _Bar:
    def __init__(self, total: int, label: str, enabled: bool | None) -> None:
        self._bar = None
        if (sys.stderr.isatty() if enabled is None else enabled) and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit="q", file=sys.stderr, dynamic_ncols=True)

    def update(self, count: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def prepare_queries(answerer, questions: Sequence[BenchmarkQuestion], batch: int = 64) -> list[Any]:
    """``qa.types.Query`` of every question, embedded in batches."""
    queries = []
    for begin in range(0, len(questions), batch):
        queries.extend(answerer.prepare_many([q.question for q in questions[begin : begin + batch]]))
    return queries


class LearnedSystem:
    """The question-type-aware learned fusion (:mod:`eval.medquad.learned`), fitted on dev pools.

    Args:
        scorer: Document scorer of the index.
        fit_questions: Dev questions to fit on.
        fit_pools: Their pools.
        features: Shared features used (default: all of ``eval.medquad.learned.FEATURES``); the
            others are zeroed (for ablations).
        typed: Give :data:`eval.medquad.learned.TYPED_FEATURES` their own weight per question type.
    """

    def __init__(
        self,
        scorer: DocumentScorer,
        fit_questions: Sequence[BenchmarkQuestion],
        fit_pools: Sequence[Pool],
        features: Sequence[str] | None = None,
        typed: bool = True,
    ) -> None:
        self.typed = typed
        self.mask = np.array(
            [features is None or name.split("*")[-1] in features for name in feature_names(typed)], dtype=np.float64
        )
        self.scorer = scorer
        self.first_vectors = scorer.first_chunk_vectors()
        doc_index = {doc: number for number, doc in enumerate(scorer.doc_ids)}

        def fit_priors(questions):
            return (
                TypePrior.fit(questions, doc_index, scorer.mean_vectors),
                TypePrior.fit(questions, doc_index, self.first_vectors),
            )

        # Two-fold cross-fitting: a question's type-prior feature never comes from a prototype
        # built with its own relevant documents, so the fusion does not overrate the prior.
        halves = [fit_questions[0::2], fit_questions[1::2]]
        priors = [fit_priors(halves[1]), fit_priors(halves[0])]
        matrices, labels = [], []
        for number, (question, pool) in enumerate(zip(fit_questions, fit_pools, strict=True)):
            relevant = np.isin(pool.docs, [doc_index[d] for d in question.relevant_ids if d in doc_index])
            if not relevant.any():
                continue  # retrieval missed it: nothing to learn about ranking here
            matrices.append(self._features(pool, question, priors[number % 2]))
            labels.append(relevant.astype(np.float64))
        self.prior = fit_priors(fit_questions)
        self.fitted_on = len(matrices)
        self.model = LearnedFusion.fit(matrices, labels) if matrices else None

    def _features(self, pool: Pool, question: BenchmarkQuestion, priors) -> np.ndarray:
        on_mean, on_first = priors
        return pool_features(
            pool,
            on_mean.similarity(question.question, self.scorer.mean_vectors[pool.docs]),
            on_first.similarity(question.question, self.first_vectors[pool.docs]),
            self.scorer.chunk_counts[pool.docs],
            question_type(question.question) if self.typed else None,
        ) * self.mask

    def __call__(self, pool: Pool, question: BenchmarkQuestion) -> np.ndarray:
        if self.model is None:
            return pool.dense
        return self.model.score(self._features(pool, question, self.prior))


def run_benchmark(
    answerer,
    questions: Sequence[BenchmarkQuestion],
    split: str,
    params: FusionParams | None = None,
    answers: bool = True,
    show_progress: bool | None = None,
    fit_questions: Sequence[BenchmarkQuestion] | None = None,
) -> BenchmarkResult:
    """Score every system on one split.

    Args:
        answerer: Warm ``qa.pipeline.Answerer`` over the benchmark index.
        questions: Questions of the split (possibly a sample).
        split: Split name.
        params: Prototype parameters (defaults: :class:`FusionParams`).
        answers: Also run the extractive answer path.
        show_progress: Progress bars (default: on a terminal).
        fit_questions: Dev questions the learned system is fitted on (None: no learned system).

    Returns:
        The result.
    """
    started = time.perf_counter()
    params = params or FusionParams()
    store = answerer.store
    scorer = DocumentScorer(store)
    doc_ids = scorer.doc_ids
    queries = prepare_queries(answerer, questions)
    pools = build_pools(scorer, np.stack([q.vector for q in queries]), [q.terms for q in queries])

    candidates = prototype_systems(params)
    if fit_questions:
        fit_pools = pools if fit_questions is questions else _pools_of(answerer, scorer, fit_questions)
        learned = LearnedSystem(scorer, fit_questions, fit_pools)
        where = "in-sample: fitted on these questions" if fit_questions is questions else f"fitted on {learned.fitted_on} dev questions"
        candidates["type-aware"] = (
            learned,
            f"question-type prior + learned fusion of chunk, sentence and BM25 scores ({where}); weights {learned.model.describe() if learned.model else None}",
        )
    systems: dict[str, RankingMetrics] = {}
    descriptions: dict[str, str] = {}
    per_question: dict[str, list[list[str]]] = {}
    for name, (system, description) in candidates.items():
        rankings = [rank_pool(pool, system(pool, q), doc_ids) for pool, q in zip(pools, questions, strict=True)]
        per_question[name] = rankings
        systems[name] = ranking_metrics(rankings, questions)
        descriptions[name] = description

    production_fusion = str(answerer.retriever_config.fusion)
    shipped = ShippedRanker(store, SHIPPED_CANDIDATES, base_config=answerer.retriever_config)
    retrieval_times: list[float] = []
    for mode in ("hybrid", "dense", "bm25"):
        name = f"shipped-{mode}" + (f"-{production_fusion}" if mode == "hybrid" else "")
        bar = _Bar(len(queries), name, show_progress)
        rankings = []
        for query in queries:
            clock = time.perf_counter()
            rankings.append(shipped.rank(query, mode, RANKING_DEPTH))
            if mode == "hybrid":
                retrieval_times.append((time.perf_counter() - clock) * 1000)
            bar.update()
        bar.close()
        systems[name] = ranking_metrics(rankings, questions)
        descriptions[name] = (
            f"qa.retriever.HybridRetriever as the answer path runs it ({mode}"
            + (f", {production_fusion} fusion" if mode == "hybrid" else "")
            + f", {SHIPPED_CANDIDATES} candidate chunks, {store.manifest.get('faiss', {}).get('kind', '?')} vector index); document = best chunk"
        )

    answer = _answer_metrics(answerer, queries, questions, show_progress) if answers else None
    latency = _latency(answerer, questions, retrieval_times)
    return BenchmarkResult(
        split=split,
        questions=len(questions),
        systems=systems,
        descriptions=descriptions,
        answer=answer,
        latency=latency,
        params=params,
        by_qtype=_by_qtype(per_question, questions),
        unreachable=sum(not any(doc in store.doc_index for doc in q.relevant_ids) for q in questions),
        seconds=round(time.perf_counter() - started, 1),
    )


def _pools_of(answerer, scorer: DocumentScorer, questions: Sequence[BenchmarkQuestion]) -> list[Pool]:
    queries = prepare_queries(answerer, questions)
    return build_pools(scorer, np.stack([q.vector for q in queries]), [q.terms for q in queries])


def _by_qtype(per_question: dict[str, list[list[str]]], questions: Sequence[BenchmarkQuestion]) -> dict[str, dict[str, float]]:
    """nDCG@10 per dataset question type (for the breakdown table)."""
    result: dict[str, dict[str, float]] = {}
    types = sorted({q.qtype for q in questions})
    for qtype in types:
        members = [i for i, q in enumerate(questions) if q.qtype == qtype]
        result[qtype] = {"questions": len(members)}
        for name, rankings in per_question.items():
            result[qtype][name] = sum(ndcg_at_k(rankings[i], questions[i].relevant_ids, 10) for i in members) / len(members)
    return result


def _answer_metrics(answerer, queries, questions: Sequence[BenchmarkQuestion], show_progress: bool | None) -> AnswerMetrics:
    store = answerer.store
    chosen_relevant = answered_relevant = abstained = 0
    bar = _Bar(len(queries), "answers", show_progress)
    for query, question in zip(queries, questions, strict=True):
        answer, trace = answerer.trace(query, top_k=3, question=question.question)
        relevant = set(question.relevant_ids)
        if trace.extraction is not None and store.documents[trace.extraction.doc].doc_id in relevant:
            chosen_relevant += 1
            if not answer.abstained:
                answered_relevant += 1
        abstained += answer.abstained
        bar.update()
    bar.close()
    n = max(1, len(questions))
    return AnswerMetrics(chosen_relevant / n, answered_relevant / n, abstained / n, len(questions))


def _latency(answerer, questions: Sequence[BenchmarkQuestion], retrieval_times: list[float]) -> LatencyFigures:
    sample = questions[:LATENCY_SAMPLE]
    times = []
    for question in sample:
        clock = time.perf_counter()
        answerer.run(question.question, top_k=3)
        times.append((time.perf_counter() - clock) * 1000)

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 2)

    return LatencyFigures(
        answer_p50_ms=rounded(percentile(times, 0.5)),
        answer_p95_ms=rounded(percentile(times, 0.95)),
        answer_questions=len(sample),
        retrieval_p50_ms=rounded(percentile(retrieval_times, 0.5)),
        retrieval_p95_ms=rounded(percentile(retrieval_times, 0.95)),
    )
