"""Metric functions of the offline eval (pure functions over answers already produced).

The runner turns every answer, in-process or over HTTP, into an :class:`Outcome`; everything
here only reads outcomes, so the metrics can be tested on hand-made answers.

Definitions (per category and overall; a metric whose denominator is empty is ``None``).
*Answerable* questions are those with gold facts and ``abstain`` false; a row with neither gold
facts nor ``abstain`` is judged on its disclaimer alone (the safety probes):

* ``answer_hit``: share of answerable questions answered with text that contains a gold fact
  (:func:`qa.training.dataset.contains_gold`).
* ``passage_hit@k``: share of answerable questions with a gold fact in one of the first ``k``
  passage quotes. In-process the passages are those the pipeline builds for its chosen answer
  whether or not it then abstains, so retrieval is scored apart from the abstention decision
  (which has its own metrics); over HTTP an abstention has no passages and counts as a miss.
* ``mrr``: mean reciprocal rank of the first passage holding a gold fact (0 when none does).
* ``doc_recall@k``: share of a question's expected documents among the first ``k`` passages'
  documents, averaged over answerable questions that list documents.
* ``disclaimer_recall`` / ``disclaimer_precision``: over all questions, with the eval row's
  ``disclaimer`` flag as the truth and "the answer carries a disclaimer" as the prediction.
* ``abstention_recall``: share of abstain-expected questions the system abstains on.
* ``false_abstention``: share of answerable questions the system abstains on.
* ``invariant_violations``: number of broken verbatim invariants (see :func:`check_invariants`).
* ``answer_chars_p50``: median length of the answers given (abstentions left out), so that a
  change which buys answer hits with longer quotes shows.
* ``confidence_brier``: mean squared gap between an answer's confidence and whether it was
  right (holds a gold fact; an answer to an abstain-expected question is wrong), over the
  answers given; 0 is perfect, and always saying 0.8 to answers right 80% of the time scores 0.16.
* ``latency_p50_ms`` / ``latency_p95_ms``: percentiles of the per-question answer time.

Ranking metrics of the MedQuAD benchmark (binary relevance) are here too: :func:`ndcg_at_k`,
:func:`recall_at_k`, :func:`reciprocal_rank_at_k`.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eval.stats import percentile
from qa.confidence import CONFIDENCE_LEVELS, describe_confidence
from qa.training.dataset import EvalQuestion, contains_gold

PASSAGE_DEPTH = 10  # passages requested per question (the API maximum); MRR is MRR@10

# Metric names in report order, with whether higher is better.
METRICS: dict[str, bool] = {
    "answer_hit": True,
    "passage_hit@1": True,
    "passage_hit@3": True,
    "mrr": True,
    "doc_recall@1": True,
    "doc_recall@3": True,
    "disclaimer_recall": True,
    "disclaimer_precision": True,
    "abstention_recall": True,
    "false_abstention": False,
    "invariant_violations": False,
    "answer_chars_p50": False,
    "confidence_brier": False,
    "latency_p50_ms": False,
    "latency_p95_ms": False,
}


@dataclass(frozen=True)
class PassageView:
    """A passage as the scorer sees it (from ``qa.types.Passage`` or the API's JSON).

    Attributes:
        doc_id: Document id.
        quote: Quoted text.
        start: Start offset in the document's canonical text.
        end: End offset.
        highlight_start: Start of the highlighted span (the answer, in the first passage).
        highlight_end: End of the highlighted span.
    """

    doc_id: str
    quote: str
    start: int
    end: int
    highlight_start: int | None = None
    highlight_end: int | None = None


@dataclass
class Outcome:
    """What the system did with one eval question.

    Attributes:
        question: The eval row (the expected behaviour).
        answer: Answer text ("" when abstained).
        abstained: Whether the system abstained.
        disclaimer: Whether the answer carried the safety disclaimer.
        passages: Passages returned to the user, best first.
        ranked_passages: Passages used for the passage metrics: in-process, the ones built for
            the chosen answer even when it was withheld; ``None`` means "same as passages".
        safety_topics: Topics that fired.
        reason: Abstention reason, if any.
        violations: Broken verbatim invariants (empty when all hold).
        latency_ms: Time to answer.
        confidence: The confidence reported with the answer (None when unknown).
    """

    question: EvalQuestion
    answer: str
    abstained: bool
    disclaimer: bool
    passages: list[PassageView]
    ranked_passages: list[PassageView] | None = None
    safety_topics: list[str] = field(default_factory=list)
    reason: str | None = None
    violations: list[str] = field(default_factory=list)
    latency_ms: float = 0.0
    confidence: float | None = None

    @property
    def scored_passages(self) -> list[PassageView]:
        """The passages the passage metrics look at."""
        return self.passages if self.ranked_passages is None else self.ranked_passages


# -- per-question checks ------------------------------------------------------------------------


def answer_hit(outcome: Outcome) -> bool:
    """Whether an answer was given and contains a gold fact."""
    return not outcome.abstained and bool(outcome.question.gold) and contains_gold(outcome.answer, outcome.question.gold)


def gold_rank(passages: Sequence[PassageView], gold: tuple[str, ...], depth: int = PASSAGE_DEPTH) -> int | None:
    """1-based rank of the first passage whose quote contains a gold fact.

    Args:
        passages: Passages, best first.
        gold: Gold fact substrings.
        depth: Passages looked at.

    Returns:
        The rank, or None when no passage within ``depth`` holds a gold fact.
    """
    for rank, passage in enumerate(passages[:depth], start=1):
        if contains_gold(passage.quote, gold):
            return rank
    return None


def doc_recall(passages: Sequence[PassageView], expected: Iterable[str], k: int) -> float:
    """Share of the expected documents among the first ``k`` passages' documents."""
    wanted = set(expected)
    if not wanted:
        raise ValueError("doc_recall needs at least one expected document")
    found = {passage.doc_id for passage in passages[:k]}
    return len(wanted & found) / len(wanted)


def check_invariants(
    answer: str, abstained: bool, passages: Sequence[PassageView], document_text: Callable[[str], str | None]
) -> list[str]:
    """The verbatim invariants of one answer.

    Args:
        answer: Answer text.
        abstained: Whether the system abstained.
        passages: Returned passages.
        document_text: Canonical text of a document by id (None when unknown).

    Returns:
        One message per broken invariant (empty when all hold): every quote equals its
        document's text at ``[start:end]``; an answer is a substring of the first quote and,
        when the first passage carries a highlight, is that document's text at the highlight;
        an abstention has an empty answer and no passages; an answer is never empty.
    """
    problems = []
    if abstained:
        if answer:
            problems.append("abstained but the answer is not empty")
        if passages:
            problems.append(f"abstained but {len(passages)} passage(s) were returned")
        return problems
    if not answer:
        problems.append("answered with empty text")
    if not passages:
        problems.append("answered without passages")
    else:
        first = passages[0]
        if answer not in first.quote:
            problems.append("answer is not a substring of the first passage's quote")
        text = document_text(first.doc_id)
        if first.highlight_start is not None and text is not None and text[first.highlight_start : first.highlight_end] != answer:
            problems.append(f"answer != {first.doc_id}[{first.highlight_start}:{first.highlight_end}] (the highlight)")
    for number, passage in enumerate(passages, start=1):
        text = document_text(passage.doc_id)
        if text is None:
            problems.append(f"passage {number}: unknown document {passage.doc_id!r}")
        elif text[passage.start : passage.end] != passage.quote:
            problems.append(f"passage {number}: quote != {passage.doc_id}[{passage.start}:{passage.end}]")
    return problems


# -- aggregates ----------------------------------------------------------------------------------


def share(flags: Iterable[bool | float]) -> float | None:
    """Mean of booleans or numbers; None for an empty input."""
    values = [float(flag) for flag in flags]
    return sum(values) / len(values) if values else None




def _judged_answers(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Answers given, with a confidence, to questions that can be answered right or wrong."""
    return [o for o in outcomes if not o.abstained and o.confidence is not None and (o.question.abstain or o.question.gold)]


def summarise(outcomes: Sequence[Outcome]) -> dict[str, float | int | None]:
    """Every metric of :data:`METRICS` over a group of outcomes.

    Args:
        outcomes: Outcomes of one group (a category, a mode, or all).

    Returns:
        Metric name -> value (None where undefined), plus ``questions``.
    """
    answerable = [o for o in outcomes if not o.question.abstain and o.question.gold]
    with_docs = [o for o in answerable if o.question.docs]
    ranks = [gold_rank(o.scored_passages, o.question.gold) for o in answerable]
    expected_disclaimer = [o for o in outcomes if o.question.disclaimer]
    shown_disclaimer = [o for o in outcomes if o.disclaimer]
    latencies = [o.latency_ms for o in outcomes]
    p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
    answer_chars = percentile([len(o.answer) for o in outcomes if not o.abstained], 0.5)
    judged_answers = _judged_answers(outcomes)
    return {
        "questions": len(outcomes),
        "answer_hit": share(answer_hit(o) for o in answerable),
        "passage_hit@1": share(rank is not None and rank <= 1 for rank in ranks),
        "passage_hit@3": share(rank is not None and rank <= 3 for rank in ranks),
        "mrr": share(1 / rank if rank else 0.0 for rank in ranks),
        "doc_recall@1": share(doc_recall(o.scored_passages, o.question.docs, 1) for o in with_docs),
        "doc_recall@3": share(doc_recall(o.scored_passages, o.question.docs, 3) for o in with_docs),
        "disclaimer_recall": share(o.disclaimer for o in expected_disclaimer),
        "disclaimer_precision": share(o.question.disclaimer for o in shown_disclaimer),
        "abstention_recall": share(o.abstained for o in outcomes if o.question.abstain),
        "false_abstention": share(o.abstained for o in answerable),
        "invariant_violations": sum(len(o.violations) for o in outcomes),
        "answer_chars_p50": answer_chars,
        "confidence_brier": share((o.confidence - float(answer_hit(o))) ** 2 for o in judged_answers),
        "latency_p50_ms": round(p50, 3) if p50 is not None else None,
        "latency_p95_ms": round(p95, 3) if p95 is not None else None,
    }


def confidence_bands(outcomes: Sequence[Outcome]) -> list[tuple[str, int, float | None]]:
    """How many answers fall in each of the chat page's confidence bands, and how many are right.

    Args:
        outcomes: Outcomes of one group.

    Returns:
        (band words, answers, share right) per band, highest band first; only answers given to
        questions that can be right or wrong count (see ``confidence_brier``).
    """
    judged = _judged_answers(outcomes)
    bands = []
    for level in CONFIDENCE_LEVELS:
        members = [o for o in judged if describe_confidence(o.confidence) == level]
        bands.append((level.words, len(members), share(answer_hit(o) for o in members)))
    return bands


def failure_kinds(outcome: Outcome) -> list[str]:
    """Why an outcome counts as a failure (empty when it is right in every respect).

    Returns:
        Short labels: ``wrong answer``, ``false abstention``, ``missed abstention``,
        ``missing disclaimer``, ``unexpected disclaimer``, ``invariant``.
    """
    kinds = []
    row = outcome.question
    if row.abstain and not outcome.abstained:
        kinds.append("missed abstention")
    if not row.abstain and row.gold and outcome.abstained:
        kinds.append("false abstention")
    elif not row.abstain and row.gold and not answer_hit(outcome):
        kinds.append("wrong answer")
    if row.disclaimer and not outcome.disclaimer:
        kinds.append("missing disclaimer")
    if outcome.disclaimer and not row.disclaimer:
        kinds.append("unexpected disclaimer")
    if outcome.violations:
        kinds.append("invariant")
    return kinds


# -- ranking metrics (binary relevance) ----------------------------------------------------------


def ndcg_at_k(ranking: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    """Normalised discounted cumulative gain with binary gains and the log2 discount.

    Args:
        ranking: Document ids, best first (duplicates are ignored after their first place).
        relevant: Relevant document ids (at least one).
        k: Cut-off.

    Returns:
        DCG@k / ideal DCG@k, where DCG = sum of 1 / log2(rank + 1) over relevant ranks.
    """
    wanted = set(relevant)
    if not wanted:
        raise ValueError("ndcg_at_k needs at least one relevant document")
    gains = sum(1 / math.log2(rank + 1) for rank, doc in enumerate(_unique(ranking)[:k], start=1) if doc in wanted)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(k, len(wanted)) + 1))
    return gains / ideal


def recall_at_k(ranking: Sequence[str], relevant: Iterable[str], k: int) -> float:
    """Share of the relevant documents among the first ``k`` ranked."""
    wanted = set(relevant)
    if not wanted:
        raise ValueError("recall_at_k needs at least one relevant document")
    return len(wanted & set(_unique(ranking)[:k])) / len(wanted)


def reciprocal_rank_at_k(ranking: Sequence[str], relevant: Iterable[str], k: int = 10) -> float:
    """1 / rank of the first relevant document within ``k`` (0 when there is none)."""
    wanted = set(relevant)
    for rank, doc in enumerate(_unique(ranking)[:k], start=1):
        if doc in wanted:
            return 1 / rank
    return 0.0


def _unique(ranking: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    result = []
    for doc in ranking:
        if doc not in seen:
            seen.add(doc)
            result.append(doc)
    return result


# -- thresholds ----------------------------------------------------------------------------------

DEFAULT_THRESHOLDS = Path(__file__).with_name("thresholds.toml")


@dataclass(frozen=True)
class Threshold:
    """A bar a metric must clear.

    Attributes:
        metric: Metric name (a key of :data:`METRICS`).
        bound: ``min`` (value >= bar) or ``max`` (value <= bar).
        bar: The gate: a run that misses it fails (``verbatim eval`` exits 1, ``make test`` fails).
        why: What the metric means, for the report.
        target: The product's goal when the gate is still below it (the issue's bar); reported,
            not enforced, so the gate can guard against regressions while the goal is unmet.
    """

    metric: str
    bound: str
    bar: float
    why: str = ""
    target: float | None = None

    def meets_target(self, value: float | int | None) -> bool:
        """Whether ``value`` reaches the target (the bar when there is no separate target)."""
        goal = self.bar if self.target is None else self.target
        return Threshold(self.metric, self.bound, goal).passes(value)

    def passes(self, value: float | int | None) -> bool:
        """Whether ``value`` clears the bar (an undefined value never does)."""
        if value is None:
            return False
        return value >= self.bar - 1e-12 if self.bound == "min" else value <= self.bar + 1e-12


@dataclass(frozen=True)
class ThresholdCheck:
    """A threshold with the measured value."""

    threshold: Threshold
    value: float | int | None

    @property
    def passed(self) -> bool:
        """Whether the bar is cleared."""
        return self.threshold.passes(self.value)


def load_thresholds(path: Path | None = None) -> list[Threshold]:
    """Read ``eval/thresholds.toml``.

    Args:
        path: Another thresholds file.

    Returns:
        The thresholds in file order.

    Raises:
        ValueError: On an unknown metric or a table without exactly one of ``min``/``max``.
    """
    raw = tomllib.loads(Path(path or DEFAULT_THRESHOLDS).read_text(encoding="utf-8"))
    thresholds = []
    for metric, table in raw.items():
        if metric not in METRICS:
            raise ValueError(f"thresholds: unknown metric {metric!r}")
        bounds = [bound for bound in ("min", "max") if bound in table]
        if len(bounds) != 1:
            raise ValueError(f"thresholds: {metric} needs exactly one of min or max")
        target = table.get("target")
        thresholds.append(
            Threshold(
                metric, bounds[0], float(table[bounds[0]]), str(table.get("why", "")), None if target is None else float(target)
            )
        )
    return thresholds


def check_thresholds(summary: dict[str, float | int | None], thresholds: Sequence[Threshold]) -> list[ThresholdCheck]:
    """Compare a summary (from :func:`summarise`) with the thresholds."""
    return [ThresholdCheck(threshold, summary.get(threshold.metric)) for threshold in thresholds]
