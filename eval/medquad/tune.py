"""``verbatim eval --benchmark DIR --tune``: choose the prototype parameters on the dev split only.

Prints nDCG@10 / recall@10 on dev for the min-max dense weight, the RRF offset and the
levers of the learned system (each measured by two-fold cross-validation on dev, so no dev
question is scored by a model fitted on it). The chosen values go into
:class:`eval.medquad.run.FusionParams` by hand, with the printed table in eval/README.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from eval.medquad import data as medquad
from eval.medquad.learned import FEATURES
from eval.medquad.ranking import DocumentScorer
from eval.medquad.run import (
    FusionParams,
    LearnedSystem,
    Pool,
    _pools_of,
    minmax_system,
    rank_pool,
    ranking_metrics,
    rrf_system,
    system_dense,
)
from eval.report import markdown_table

DENSE_WEIGHTS = tuple(round(0.1 * step, 1) for step in range(11))
RRF_KS = (5, 10, 20, 40, 60, 100)


def _score(system, pools: Sequence[Pool], questions, doc_ids) -> tuple[float, float]:
    rankings = [rank_pool(pool, system(pool, q), doc_ids) for pool, q in zip(pools, questions, strict=True)]
    metrics = ranking_metrics(rankings, questions)
    return metrics.ndcg_at_10, metrics.recall_at_10


def cross_validated(
    scorer: DocumentScorer, pools: Sequence[Pool], questions, features: Sequence[str] | None = None, typed: bool = True
) -> tuple[float, float]:
    """Two-fold cross-validated nDCG@10 and recall@10 of the learned system on dev.

    Args:
        scorer: Document scorer.
        pools: Pools of the dev questions.
        questions: Dev questions.
        features: Feature subset to keep (None: all); the others are zeroed.
        typed: Per-question-type weights for the typed features.

    Returns:
        nDCG@10 and recall@10 over all dev questions, each scored by the model of the other fold.
    """
    folds = [list(range(0, len(questions), 2)), list(range(1, len(questions), 2))]
    rankings: list[list[str]] = [[] for _ in questions]
    for train, held_out in (folds, folds[::-1]):
        system = LearnedSystem(scorer, [questions[i] for i in train], [pools[i] for i in train], features, typed)
        for i in held_out:
            rankings[i] = rank_pool(pools[i], system(pools[i], questions[i]), scorer.doc_ids)
    metrics = ranking_metrics(rankings, questions)
    return metrics.ndcg_at_10, metrics.recall_at_10


def run_tuning(answerer, folder: Path, limit: int | None) -> int:
    """Print the dev grids and the chosen parameters."""
    questions = medquad.sample_questions(medquad.load_questions(folder, "dev"), limit)
    scorer = DocumentScorer(answerer.store)
    pools = _pools_of(answerer, scorer, questions)
    doc_ids = scorer.doc_ids
    print(f"MedQuAD dev split, {len(questions)} questions (tuning only ever reads dev)\n")

    rows, best_weight = [], (None, -1.0)
    for weight in DENSE_WEIGHTS:
        ndcg, recall = _score(minmax_system(weight), pools, questions, doc_ids)
        rows.append([f"{weight:.1f}", f"{ndcg:.4f}", f"{recall:.4f}"])
        if ndcg > best_weight[1]:
            best_weight = (weight, ndcg)
    print("min-max fusion, dense weight\n" + markdown_table(["dense weight", "nDCG@10", "recall@10"], rows) + "\n")

    rows, best_k = [], (None, -1.0)
    for k in RRF_KS:
        ndcg, recall = _score(rrf_system(k), pools, questions, doc_ids)
        rows.append([str(k), f"{ndcg:.4f}", f"{recall:.4f}"])
        if ndcg > best_k[1]:
            best_k = (k, ndcg)
    print("reciprocal rank fusion, k\n" + markdown_table(["k", "nDCG@10", "recall@10"], rows) + "\n")


    no_prior = ("dense", "dense_gap", "first_dense", "sentence", "sentence_gap", "mean_dense", "bm25_share", "log_chunks")
    ablations = {
        "dense only (reference)": None,
        "learned: chunk dense + BM25": (("dense", "dense_gap", "bm25_share"), False),
        "+ first chunk": (("dense", "dense_gap", "first_dense", "bm25_share"), False),
        "+ best sentence, mean vector, length": (no_prior, False),
        "+ question-type prior": (FEATURES, False),
        "+ per-type weights (type-aware, all)": (FEATURES, True),
    }
    rows = []
    for label, setting in ablations.items():
        if setting is None:
            ndcg, recall = _score(system_dense, pools, questions, doc_ids)
        else:
            ndcg, recall = cross_validated(scorer, pools, questions, *setting)
        rows.append([label, f"{ndcg:.4f}", f"{recall:.4f}"])
    print("learned fusion, two-fold cross-validated on dev\n" + markdown_table(["system", "nDCG@10", "recall@10"], rows) + "\n")

    chosen = FusionParams(dense_weight=best_weight[0], rrf_k=best_k[0])
    print(f"chosen on dev: {chosen}")
    return 0
