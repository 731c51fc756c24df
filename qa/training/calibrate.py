"""Fit the answer ranker and the abstention model on the dev split (``verbatim eval --calibrate``).

All are L2-regularised logistic models on standardised features:

* the ranker, a listwise (conditional) logit fitted with L-BFGS, learns over the candidate
  sentences of each answerable dev question which ones contain a gold fact; a logistic fit of
  its scores then puts them on a log-odds scale;
* the pair ranker (``qa/pair_ranker.py``, only for an index with training questions) is fitted
  the same way on the ranker's columns plus the pair columns, over two views of each answerable
  dev question: the training questions as the index has them, and with those of its fact group
  withheld (``qa/training/fact_dropout.py``); it chooses only what is quoted, so the abstention
  below, fitted on the ranker's choice, is the same with or without it;
* the abstention model then learns, over all dev questions (answers chosen with the new
  ranker's choice) and the corpus's out-of-scope training questions meant for it (``"fit":
  "abstention"`` in its pairs file, never shown to the embedder), which ones the sources answer;
  its threshold is the highest that keeps false abstentions on dev within
  ``max_false_abstention``;
* the answer confidence model last learns, over the dev questions answered with both, which
  quoted answers hold a gold fact (``qa/confidence.py``; read from the quoted choice).

The abstention and confidence models are fitted by Newton's method (numpy only).
``qa/training/crossval.py`` scores the same fit on dev questions it was not fitted on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ingest.loader import pairs_files
from ingest.pairs import load_pairs
from qa.abstention import FEATURES as ABSTENTION_FEATURES
from qa.calibration import MODEL_HASH_KEY, Calibration, LinearModel
from qa.confidence import FEATURES as CONFIDENCE_FEATURES
from qa.confidence import confidence_features
from qa.extractor import RANKER_FEATURES
from qa.pair_memory import PairMemory
from qa.pair_ranker import PAIR_RANKER_FEATURES, with_pair_columns
from qa.pipeline import Answerer
from qa.training.dataset import EvalQuestion, contains_gold
from qa.training.fact_dropout import dropout_views
from qa.tunables import TUNABLES


def fit_logistic(
    features: np.ndarray,
    labels: np.ndarray,
    l2: float = 1.0,
    iterations: int = 50,
    sample_weights: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """L2-regularised logistic regression (Newton-Raphson on standardised features).

    Args:
        features: ``(n, d)`` matrix.
        labels: ``(n,)`` array of 0/1.
        l2: Ridge penalty on the standardised weights (the intercept is not penalised).
        iterations: Newton steps at most.
        sample_weights: ``(n,)`` weight of each row in the likelihood (default: all 1).

    Returns:
        Intercept and weights on the original feature scale.
    """
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale[scale == 0] = 1.0
    standard = (features - mean) / scale
    design = np.hstack([np.ones((len(standard), 1)), standard])
    theta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[0] = 0.0
    weight = np.ones(len(labels)) if sample_weights is None else np.asarray(sample_weights, dtype=float)
    for _ in range(iterations):
        logits = np.clip(design @ theta, -30, 30)
        probabilities = 1 / (1 + np.exp(-logits))
        gradient = design.T @ (weight * (probabilities - labels)) + penalty * theta
        hessian = (design * (weight * probabilities * (1 - probabilities))[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    weights = theta[1:] / scale
    intercept = theta[0] - float((theta[1:] * mean / scale).sum())
    return float(intercept), weights


def fit_conditional_logit(
    groups: list[tuple[np.ndarray, np.ndarray]], l2: float = 1.0
) -> np.ndarray:
    """Listwise ranker: per question, a softmax over its candidate sentences, fitted so the
    sentences holding a gold fact get the probability mass (L2 on standardised weights).

    Args:
        groups: One ``(features (n_i, d), positives (n_i,) of 0/1)`` pair per question; each
            group has at least one positive.
        l2: Ridge penalty.

    Returns:
        Weights on the original feature scale (no intercept: a softmax ignores it).
    """
    try:
        from scipy.optimize import minimize
    except ImportError as error:
        raise ImportError("the calibration fit needs the eval extra: pip install -e '.[eval]'") from error

    stacked = np.vstack([features for features, _ in groups])
    scale = stacked.std(axis=0)
    scale[scale == 0] = 1.0
    scaled = [(features / scale, positives.astype(bool)) for features, positives in groups]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        loss = 0.5 * l2 * float(theta @ theta)
        gradient = l2 * theta
        for features, positives in scaled:
            logits = features @ theta
            top = logits.max()
            weights = np.exp(logits - top)
            total = weights.sum()
            positive_total = weights[positives].sum()
            loss -= np.log(positive_total) - np.log(total)
            gradient -= (weights[positives] @ features[positives]) / positive_total - (weights @ features) / total
        return loss, gradient

    result = minimize(objective, np.zeros(stacked.shape[1]), jac=True, method="L-BFGS-B")
    return result.x / scale


@dataclass
class CalibrationReport:
    """Summary of a calibration run (printed by the CLI)."""

    calibration: Calibration
    ranker_examples: int
    ranker_positives: int
    abstention_examples: int
    dev_false_abstention: float
    dev_abstention_recall: float
    confidence_examples: int = 0
    confidence_correct: int = 0
    unanswerable_examples: int = 0
    pair_ranker_views: int = 0


Group = tuple[np.ndarray, np.ndarray]  # one question's candidates: (features, 0/1 holds a gold fact)


def _ranker_data(answerer: Answerer, questions: list[EvalQuestion]) -> tuple[list[Group], list[Group]]:
    """The ranker's and the pair ranker's fitting groups.

    Args:
        answerer: A warm answerer.
        questions: The fitting questions (the answerable ones whose gold sentence is a candidate
            give groups).

    Returns:
        The plain ranker's groups, and the pair ranker's (two views per question, the index's
        and the fact dropout's; empty when the index has no training questions).
    """
    components = answerer._require()
    pairs = components.pairs
    views = dropout_views(answerer.store, pairs, questions) if len(pairs) else None
    groups: list[Group] = []
    pair_groups: list[Group] = []
    for question in questions:
        if question.abstain or not question.gold:
            continue
        query = answerer.prepare(question.question)
        retrieved = components.retriever.run(query, top_k=TUNABLES.retrieval.depth)
        sentences, _, chunk_scores, chunk_dense = components.extractor.candidates(retrieved)
        if len(sentences) == 0:
            continue
        safety_question = bool(answerer.safety.question_triggers(query, answerer.store))
        matrix = components.extractor.features(query, sentences, chunk_scores, chunk_dense, safety_question)
        positive = np.array([contains_gold(answerer.store.sentence_text(int(s)), question.gold) for s in sentences])
        if not positive.any():
            continue  # retrieval missed: nothing for the ranker to learn here
        groups.append((matrix, positive.astype(np.float64)))
        if views is None:
            continue
        dropped = views.for_question(question.id)
        for memory in (pairs, dropped if dropped is not None else PairMemory.empty()):
            evidence = memory.evidence(answerer.store, sentences, query.vector)
            pair_groups.append((with_pair_columns(matrix, evidence), positive.astype(np.float64)))
    return groups, pair_groups


def fit_ranker(groups: list[Group], features: Sequence[str]) -> LinearModel:
    """A listwise ranker put on a log-odds scale.

    Args:
        groups: Fitting groups (:func:`_ranker_data`).
        features: The column names, in order.

    Returns:
        The model: weights from :func:`fit_conditional_logit` times the slope, and the
        intercept, of a logistic fit of its scores to the labels.
    """
    weights = fit_conditional_logit(groups)
    # Scores are relative within a question; the intercept puts them on a log-odds scale
    # so that passages of other documents can be compared with a fixed probability.
    stacked = np.vstack([matrix for matrix, _ in groups])
    labels = np.concatenate([positives for _, positives in groups])
    intercept, (slope,) = fit_logistic((stacked @ weights)[:, None], labels, l2=0.0)
    return LinearModel(intercept, {name: float(w * slope) for name, w in zip(features, weights, strict=True)})


def calibration_mismatch(answerer: Answerer) -> str | None:
    """Why the answerer's calibration does not fit its index's embedding model, or None.

    The ranker, abstention and confidence models are fitted on similarities of one model; an
    index embedded by another (a corpus whose pairs changed, an adapted model trained on a CPU
    with other vector instructions) needs them refitted.

    Args:
        answerer: A warm answerer.

    Returns:
        The message, with the commands to run, or None when the hashes agree.
    """
    fitted = answerer.calibration.provenance.get(MODEL_HASH_KEY)
    used = answerer.embedder.weights_hash
    if fitted == used:
        return None
    return (
        f"qa/calibration.toml was fitted with embedding model {fitted or '(not recorded)'}, but the index "
        f"{answerer.settings.index_dir} is embedded by {used}. Rebuild the index and refit with: "
        f"verbatim ingest --force --index {answerer.settings.index_dir} && "
        f"verbatim eval --calibrate --index {answerer.settings.index_dir}"
    )


def corpus_unanswerable(paths: Sequence[Path]) -> list[str]:
    """The out-of-scope training questions a corpus keeps for the abstention model's fit.

    Args:
        paths: The corpus's files or folders (their ``*.pairs.jsonl`` are read; rows that fail
            the pairs checks, e.g. near-duplicates of eval questions, are left out).

    Returns:
        The questions of the rows marked ``"fit": "abstention"``.
    """
    return load_pairs(pairs_files(paths), {}).out_of_scope_for("abstention")


def calibrate(
    answerer: Answerer,
    questions: list[EvalQuestion],
    max_false_abstention: float = TUNABLES.training.max_false_abstention,
    unanswerable: Sequence[str] = (),
    unanswerable_weight: float = TUNABLES.training.unanswerable_weight,
) -> CalibrationReport:
    """Fit ranker and abstention model on ``questions`` (the dev split) and install them.

    Args:
        answerer: A warm answerer; its calibration is replaced in place.
        questions: Dev questions.
        max_false_abstention: Highest share of answerable dev questions allowed to abstain.
        unanswerable: More questions the sources do not answer (the corpus's out-of-scope
            training questions for the abstention model, :func:`corpus_unanswerable`); they join
            the abstention model's fit only, not its threshold.
        unanswerable_weight: Weight of each of those in the fit (a dev question weighs 1).

    Returns:
        The report; ``report.calibration`` is ready to be written with ``to_toml``.
    """
    groups, pair_groups = _ranker_data(answerer, questions)
    labels = np.concatenate([positives for _, positives in groups])
    ranker = fit_ranker(groups, RANKER_FEATURES)
    # An index without training questions gets none: the plain ranker's choice is quoted.
    pair_ranker = fit_ranker(pair_groups, PAIR_RANKER_FEATURES) if pair_groups else None
    answerer.calibration = Calibration(
        ranker, answerer.calibration.abstention, answerer.calibration.threshold, pair_ranker=pair_ranker
    )
    answerer.reload()

    rows, answerable = [], []
    for question in questions:
        _, trace = answerer.trace(answerer.prepare(question.question))
        values = trace.decision.features.values()
        rows.append([values[name] for name in ABSTENTION_FEATURES])
        answerable.append(0.0 if question.abstain else 1.0)
    extra = []
    for text in unanswerable:
        _, trace = answerer.trace(answerer.prepare(text))
        values = trace.decision.features.values()
        extra.append([values[name] for name in ABSTENTION_FEATURES])
    matrix, target = np.array(rows), np.array(answerable)
    fit_matrix = np.vstack([matrix, np.array(extra)]) if extra else matrix
    fit_target = np.concatenate([target, np.zeros(len(extra))])
    fit_weights = np.concatenate([np.ones(len(target)), np.full(len(extra), unanswerable_weight)])
    intercept, weights = fit_logistic(fit_matrix, fit_target, sample_weights=fit_weights)
    abstention = LinearModel(intercept, {name: float(w) for name, w in zip(ABSTENTION_FEATURES, weights, strict=True)})
    probabilities = np.array([abstention.probability(dict(zip(ABSTENTION_FEATURES, row, strict=True))) for row in matrix])
    positives = probabilities[target == 1]
    negatives = probabilities[target == 0]
    # Highest threshold whose false abstentions stay within the budget.
    allowed = int(np.floor(max_false_abstention * len(positives)))
    threshold = float(np.sort(positives)[allowed]) - 1e-6 if len(positives) else 0.5
    threshold = min(max(threshold, 0.05), 0.95)
    answerer.calibration = Calibration(ranker, abstention, threshold, pair_ranker=pair_ranker)
    answerer.reload()

    rows, correct = [], []
    for question in questions:
        if not question.abstain and not question.gold:
            continue  # judged on its disclaimer alone: no right answer to learn from
        answer, trace = answerer.trace(answerer.prepare(question.question))
        if answer.abstained or trace.extraction is None:
            continue
        values = confidence_features(trace.decision, trace.extraction)
        rows.append([values[name] for name in CONFIDENCE_FEATURES])
        correct.append(float(not question.abstain and contains_gold(answer.answer, question.gold)))
    intercept, weights = fit_logistic(np.array(rows), np.array(correct))
    correctness = LinearModel(intercept, {name: float(w) for name, w in zip(CONFIDENCE_FEATURES, weights, strict=True)})
    calibration = Calibration(
        ranker=ranker,
        abstention=abstention,
        threshold=threshold,
        provenance={
            "command": "verbatim eval --calibrate",
            "data": f"dev split, {len(questions)} questions"
            + (f", and {len(extra)} out-of-scope training questions (abstention only)" if extra else ""),
            "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            # The fit holds for this embedding model only (the corpus's adapted one, if any).
            MODEL_HASH_KEY: str(answerer.embedder.weights_hash),
        },
        correctness=correctness,
        pair_ranker=pair_ranker,
    )
    answerer.calibration = calibration
    answerer.reload()
    return CalibrationReport(
        calibration=calibration,
        ranker_examples=len(labels),
        ranker_positives=int(labels.sum()),
        abstention_examples=len(target),
        dev_false_abstention=float((positives < threshold).mean()) if len(positives) else 0.0,
        dev_abstention_recall=float((negatives < threshold).mean()) if len(negatives) else 0.0,
        confidence_examples=len(correct),
        confidence_correct=int(sum(correct)),
        unanswerable_examples=len(extra),
        pair_ranker_views=len(pair_groups),
    )
