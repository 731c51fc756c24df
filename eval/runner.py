"""The eval runner: ask every eval question, score the answers, compare retrieval modes.

Two targets answer the questions:

* :class:`InProcessTarget` runs the real QA pipeline (``qa.pipeline.Answerer``) in this
  process and can switch retrieval mode (BM25 only, dense only, hybrid with min-max or
  reciprocal-rank fusion) on the same questions;
* :class:`HttpTarget` asks a running server over its JSON API (production mode only).

:func:`run_eval` turns the answers into :class:`~eval.metrics.Outcome` objects and summarises
them per category, overall and per mode, and checks the thresholds. It measures whatever
``qa/`` currently does: nothing here knows the answers or the calibration.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from eval.feedback_questions import is_feedback
from eval.metrics import (
    PASSAGE_DEPTH,
    Outcome,
    PassageView,
    Threshold,
    ThresholdCheck,
    check_invariants,
    check_thresholds,
    summarise,
)
from eval.stats import source_revision
from qa.passages import build_passages
from qa.pipeline import Answerer
from qa.retriever import Fusion, RetrievalMode
from qa.training.dataset import EvalQuestion

# Report order of the eval set's categories (others follow alphabetically).
CATEGORY_ORDER = ("fact", "paraphrase", "typo", "casual", "multi_source", "safety", "near_miss", "out_of_scope")


@dataclass(frozen=True)
class ModeSpec:
    """A retrieval configuration to score.

    Attributes:
        name: Label in reports (``hybrid-minmax``, ``hybrid-rrf``, ``dense``, ``bm25``).
        mode: ``qa.retriever.RetrievalMode`` value.
        fusion: ``qa.retriever.Fusion`` value for hybrid mode, else None.
        production: Whether this is what the server runs.
    """

    name: str
    mode: str
    fusion: str | None
    production: bool = False


class Target(Protocol):
    """Something that answers eval questions."""

    def describe(self) -> dict[str, Any]:
        """What is being evaluated (for metrics.json and the report)."""

    def modes(self) -> list[ModeSpec]:
        """Modes this target can run; the production mode first."""

    def answer_all(
        self, questions: Sequence[EvalQuestion], spec: ModeSpec, progress: Callable[[int], None] | None = None
    ) -> list[Outcome]:
        """Answer every question in one mode."""


def _passage_views(passages) -> list[PassageView]:
    return [
        PassageView(p.doc_id, p.quote, p.start, p.end, p.highlight_start, p.highlight_end) for p in passages
    ]


class InProcessTarget:
    """Answers with ``qa.pipeline.Answerer`` in this process.

    Args:
        answerer: A warm answerer (its retriever config is the production configuration).
    """

    def __init__(self, answerer) -> None:
        self.answerer = answerer
        self._siblings: dict[str, Any] = {}
        self._queries: dict[str, Any] = {}

    def describe(self) -> dict[str, Any]:
        """Index and configuration being evaluated."""
        info = self.answerer.store.info()
        config = self.answerer.retriever_config
        return {
            "kind": "in-process",
            "index": info.path,
            "index_built_at": info.built_at,
            "documents": info.documents,
            "chunks": info.chunks,
            "retriever": {name: str(value) for name, value in vars(config).items()},
            "calibration": dict(getattr(self.answerer.calibration, "provenance", {}) or {}),
        }

    def modes(self) -> list[ModeSpec]:
        """Production hybrid, the other fusion, dense only and BM25 only."""
        production = Fusion(self.answerer.retriever_config.fusion)
        other = Fusion.RRF if production == Fusion.MINMAX else Fusion.MINMAX
        return [
            ModeSpec(f"hybrid-{production.value}", RetrievalMode.HYBRID.value, production.value, production=True),
            ModeSpec(f"hybrid-{other.value}", RetrievalMode.HYBRID.value, other.value),
            ModeSpec("dense", RetrievalMode.DENSE.value, None),
            ModeSpec("bm25", RetrievalMode.BM25.value, None),
        ]

    def _answerer_for(self, spec: ModeSpec):
        """The production answerer, or a sibling with another fusion (same model, policy, calibration)."""
        config = self.answerer.retriever_config
        if spec.fusion is None or Fusion(spec.fusion) == Fusion(config.fusion):
            return self.answerer
        if spec.fusion not in self._siblings:
            sibling = Answerer(
                self.answerer.settings,
                embedder=self.answerer.embedder,
                policy=self.answerer.policy,
                calibration=self.answerer.calibration,
                retriever_config=replace(config, fusion=Fusion(spec.fusion)),
                extractor_config=self.answerer.extractor_config,
            )
            sibling.warm_up()
            self._siblings[spec.fusion] = sibling
        return self._siblings[spec.fusion]

    def answer_all(
        self, questions: Sequence[EvalQuestion], spec: ModeSpec, progress: Callable[[int], None] | None = None
    ) -> list[Outcome]:
        """Answer every question in one mode.

        The question embedding is computed once per question (timed with the production mode)
        and reused by the other modes, whose latency therefore excludes it.

        Args:
            questions: Eval rows.
            spec: Mode to run.
            progress: Called with 1 after each question.

        Returns:
            One outcome per question, in order.
        """
        answerer = self._answerer_for(spec)
        store = answerer.store

        def document_text(doc_id: str) -> str | None:
            number = store.doc_index.get(doc_id)
            return None if number is None else store.documents[number].text

        outcomes = []
        for row in questions:
            started = time.perf_counter()
            query = self._queries.get(row.question)
            if query is None:
                query = answerer.prepare(row.question)
                self._queries[row.question] = query
            answer, trace = answerer.trace(query, top_k=PASSAGE_DEPTH, mode=RetrievalMode(spec.mode), question=row.question)
            latency = (time.perf_counter() - started) * 1000
            passages = _passage_views(answer.passages)
            ranked = passages
            if answer.abstained and trace.extraction is not None:
                # What the user would have seen had the answer not been withheld: scores retrieval
                # and extraction apart from the abstention decision.
                ranked = _passage_views(build_passages(store, trace.retrieved, trace.extraction, PASSAGE_DEPTH))
            violations = check_invariants(answer.answer, answer.abstained, passages, document_text)
            violations += _answer_offset_violations(answer, passages, document_text)
            outcomes.append(
                Outcome(
                    question=row,
                    answer=answer.answer,
                    abstained=answer.abstained,
                    disclaimer=answer.disclaimer is not None,
                    passages=passages,
                    ranked_passages=ranked,
                    safety_topics=list(answer.safety_topics),
                    reason=answer.reason,
                    violations=violations,
                    latency_ms=latency,
                    confidence=answer.confidence,
                )
            )
            if progress:
                progress(1)
        return outcomes


def _answer_offset_violations(answer, passages: list[PassageView], document_text: Callable[[str], str | None]) -> list[str]:
    """In-process only: the answer lies at ``answer_start:answer_end`` of the first passage's document."""
    if answer.abstained:
        return []
    text = document_text(answer.answer_doc_id or "")
    if not passages or answer.answer_doc_id != passages[0].doc_id or text is None:
        return ["the answer's document is not the first passage's document"]
    if text[answer.answer_start : answer.answer_end] != answer.answer:
        return [f"answer != {answer.answer_doc_id}[{answer.answer_start}:{answer.answer_end}]"]
    return []


class HttpTarget:
    """Asks a running Verbatim server (``POST /api/ask``) over HTTP.

    Args:
        url: Base URL, e.g. ``http://127.0.0.1:8000``.
        timeout: Seconds per request.
        client: An ``httpx.Client`` to use instead of a new one (e.g. FastAPI's TestClient).
    """

    def __init__(self, url: str, timeout: float = 30.0, client=None) -> None:
        self.url = url.rstrip("/")
        if client is None:
            try:
                import httpx
            except ImportError as error:  # pragma: no cover - httpx is a dev dependency
                raise RuntimeError("--url needs httpx: pip install httpx (or make install-dev)") from error
            client = httpx.Client(base_url=self.url, timeout=timeout)
        self.client = client
        self._documents: dict[str, str | None] = {}

    def describe(self) -> dict[str, Any]:
        """The server and its health report."""
        health = self.client.get("/healthz")
        health.raise_for_status()
        return {"kind": "http", "url": self.url, "health": health.json()}

    def modes(self) -> list[ModeSpec]:
        """Only what the server runs."""
        return [ModeSpec("server", "hybrid", None, production=True)]

    def document_text(self, doc_id: str) -> str | None:
        """Canonical text of a document (``GET /api/documents/{id}``, cached)."""
        if doc_id not in self._documents:
            response = self.client.get(f"/api/documents/{doc_id}")
            self._documents[doc_id] = response.json()["text"] if response.status_code == 200 else None
        return self._documents[doc_id]

    def answer_all(
        self, questions: Sequence[EvalQuestion], spec: ModeSpec, progress: Callable[[int], None] | None = None
    ) -> list[Outcome]:
        """Ask every question; latency is the HTTP round trip."""
        outcomes = []
        for row in questions:
            started = time.perf_counter()
            response = self.client.post("/api/ask", json={"question": row.question, "top_k": PASSAGE_DEPTH})
            latency = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            body = response.json()
            passages = [
                PassageView(p["doc_id"], p["quote"], p["start"], p["end"], p.get("highlight_start"), p.get("highlight_end"))
                for p in body["passages"]
            ]
            outcomes.append(
                Outcome(
                    question=row,
                    answer=body["answer"],
                    abstained=bool(body["abstained"]),
                    disclaimer=body.get("disclaimer") is not None,
                    passages=passages,
                    safety_topics=list(body.get("safety_topics") or []),
                    reason=body.get("reason"),
                    violations=check_invariants(body["answer"], bool(body["abstained"]), passages, self.document_text),
                    latency_ms=latency,
                    confidence=float(body["confidence"]),
                )
            )
            if progress:
                progress(1)
        return outcomes


@dataclass
class EvalResult:
    """Everything one eval run measured.

    Attributes:
        split: Split scored.
        command: Command line that reproduces the run.
        target: What was evaluated (:meth:`Target.describe`).
        production_mode: Name of the production mode.
        outcomes: Per-question outcomes in the production mode.
        overall: Metrics over all questions (production mode).
        by_category: Metrics per category (production mode).
        modes: Metrics per mode (the production mode included).
        checks: Thresholds with the measured values.
        started_at: UTC start time (ISO 8601).
        seconds: Wall time of the run.
    """

    split: str
    command: str
    target: dict[str, Any]
    production_mode: str
    outcomes: list[Outcome]
    overall: dict[str, Any]
    by_category: dict[str, dict[str, Any]]
    modes: dict[str, dict[str, Any]]
    checks: list[ThresholdCheck] = field(default_factory=list)
    started_at: str = ""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Whether every threshold is met."""
        return all(check.passed for check in self.checks)

    @property
    def failed_checks(self) -> list[ThresholdCheck]:
        """Thresholds that are missed."""
        return [check for check in self.checks if not check.passed]




def ordered_categories(categories: set[str]) -> list[str]:
    """Categories in report order."""
    known = [name for name in CATEGORY_ORDER if name in categories]
    return known + sorted(categories - set(CATEGORY_ORDER))


def run_eval(
    target: Target,
    questions: Sequence[EvalQuestion],
    thresholds: Sequence[Threshold] = (),
    split: str = "",
    command: str = "",
    compare_modes: bool = True,
    show_progress: bool | None = None,
) -> EvalResult:
    """Answer and score every question.

    Args:
        target: In-process or HTTP target.
        questions: Eval rows (one split).
        thresholds: Bars checked against the overall production-mode metrics.
        split: Name of the split (for the report).
        command: Command line that reproduces the run.
        compare_modes: Also run the target's other retrieval modes.
        show_progress: Progress bar; default: only when stderr is a terminal.

    Returns:
        The result.
    """
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    clock = time.perf_counter()
    specs = target.modes() if compare_modes else target.modes()[:1]
    production = specs[0]
    description = {**target.describe(), "revision": source_revision()}
    bar = _progress_bar(len(questions) * len(specs), show_progress)
    try:
        by_mode = {spec.name: target.answer_all(questions, spec, bar.update if bar else None) for spec in specs}
    finally:
        if bar:
            bar.close()
    outcomes = by_mode[production.name]
    # Accepted feedback questions (--feedback) are reported as their own category only.
    overall = summarise([o for o in outcomes if not is_feedback(o.question)])
    categories = ordered_categories({row.question.category for row in outcomes})
    by_category = {name: summarise([o for o in outcomes if o.question.category == name]) for name in categories}
    modes = {}
    for spec in specs:
        summary = summarise([o for o in by_mode[spec.name] if not is_feedback(o.question)])
        summary["production"] = spec.production
        modes[spec.name] = summary
    return EvalResult(
        split=split,
        command=command,
        target=description,
        production_mode=production.name,
        outcomes=outcomes,
        overall=overall,
        by_category=by_category,
        modes=modes,
        checks=check_thresholds(overall, thresholds),
        started_at=started_at,
        seconds=round(time.perf_counter() - clock, 2),
    )


def _progress_bar(total: int, enabled: bool | None):
    if not (sys.stderr.isatty() if enabled is None else enabled) or not total:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="eval", unit="q", file=sys.stderr, dynamic_ncols=True)
