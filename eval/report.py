"""Eval reports: ``metrics.json``, ``report.md`` and the terminal summary of an eval run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.metrics import (
    METRICS,
    Outcome,
    ThresholdCheck,
    answer_hit,
    confidence_bands,
    failure_kinds,
    gold_rank,
)
from eval.runner import EvalResult

DEFAULT_REPORTS = Path(__file__).with_name("reports")

# Columns of the per-category and mode tables.
CATEGORY_COLUMNS = (
    "answer_hit", "passage_hit@1", "passage_hit@3", "mrr", "doc_recall@3",
    "disclaimer_recall", "disclaimer_precision", "abstention_recall", "false_abstention", "invariant_violations",
)
MODE_COLUMNS = ("answer_hit", "passage_hit@1", "passage_hit@3", "mrr", "doc_recall@1", "doc_recall@3", "abstention_recall", "false_abstention")
_COUNTS = {"invariant_violations", "questions", "answer_chars_p50"}
_MILLISECONDS = {"latency_p50_ms", "latency_p95_ms"}
_SHORT = {
    "answer_hit": "answer hit", "passage_hit@1": "passage @1", "passage_hit@3": "passage @3", "mrr": "MRR",
    "doc_recall@1": "doc recall @1", "doc_recall@3": "doc recall @3", "disclaimer_recall": "disclaimer recall",
    "disclaimer_precision": "disclaimer precision", "abstention_recall": "abstention recall",
    "false_abstention": "false abstention", "invariant_violations": "invariant violations",
    "answer_chars_p50": "answer length p50 (chars)",
    "confidence_brier": "confidence Brier score",
    "latency_p50_ms": "latency p50", "latency_p95_ms": "latency p95", "questions": "questions",
}


def new_report_dir(root: Path | None = None) -> Path:
    """A fresh ``eval/reports/<UTC timestamp>/`` folder (suffixed if the second is taken)."""
    root = Path(root or DEFAULT_REPORTS)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder, number = root / stamp, 2
    while folder.exists():
        folder, number = root / f"{stamp}-{number}", number + 1
    folder.mkdir(parents=True)
    return folder


def format_value(metric: str, value: Any) -> str:
    """A metric value for tables: shares as percentages, counts as integers, times in ms."""
    if value is None:
        return "—"
    if metric in _COUNTS:
        return str(int(value))
    if metric in _MILLISECONDS:
        return f"{value:.1f} ms"
    if metric in ("mrr", "confidence_brier"):
        return f"{value:.3f}"
    return f"{100 * value:.1f}%"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: bool = True) -> str:
    """A GitHub-flavoured Markdown table (first column left-aligned, the others right-aligned
    when ``numeric``)."""
    rule = ["---"] + ["---:" if numeric else "---"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def overall_table(result: EvalResult) -> str:
    """Overall metrics with their gate (enforced) and target (the product's goal)."""
    bars = {check.threshold.metric: check for check in result.checks}
    rows = []
    for metric in METRICS:
        check = bars.get(metric)
        gate = target = status = ""
        if check is not None:
            sign = "≥" if check.threshold.bound == "min" else "≤"
            gate = f"{sign} {format_value(metric, check.threshold.bar)}"
            goal = check.threshold.bar if check.threshold.target is None else check.threshold.target
            met = check.threshold.meets_target(check.value)
            target = f"{sign} {format_value(metric, goal)}" + ("" if met else " (not yet)")
            status = "pass" if check.passed else "**FAIL**"
        rows.append([_SHORT[metric], format_value(metric, result.overall.get(metric)), gate, status, target])
    return markdown_table(["metric", "value", "gate", "", "target"], rows)


def category_table(result: EvalResult) -> str:
    """Production-mode metrics per category, then overall."""
    rows = [
        [name, str(summary["questions"]), *(format_value(m, summary.get(m)) for m in CATEGORY_COLUMNS)]
        for name, summary in result.by_category.items()
    ]
    rows.append(["**overall**", str(result.overall["questions"]), *(format_value(m, result.overall.get(m)) for m in CATEGORY_COLUMNS)])
    return markdown_table(["category", "n", *(_SHORT[m] for m in CATEGORY_COLUMNS)], rows)


def mode_table(result: EvalResult) -> str:
    """The same questions under each retrieval mode."""
    rows = [
        [f"{name}{' (production)' if summary.get('production') else ''}", *(format_value(m, summary.get(m)) for m in MODE_COLUMNS)]
        for name, summary in result.modes.items()
    ]
    return markdown_table(["mode", *(_SHORT[m] for m in MODE_COLUMNS)], rows)


def confidence_table(result: EvalResult) -> str:
    """Answers per confidence band (as the chat page words them) and the share that is right."""
    rows = [
        [words, str(count), format_value("answer_hit", right)] for words, count, right in confidence_bands(result.outcomes)
    ]
    return markdown_table(["confidence", "answers", "right"], rows)


def _expected(outcome: Outcome) -> str:
    row = outcome.question
    parts = ["abstain" if row.abstain else "gold: " + " / ".join(f"“{g}”" for g in row.gold)]
    parts.append("disclaimer" if row.disclaimer else "no disclaimer")
    return "; ".join(parts)


def _actual(outcome: Outcome) -> str:
    if outcome.abstained:
        text = f"(abstained: {outcome.reason or 'no reason'})"
    else:
        answer = outcome.answer if len(outcome.answer) <= 300 else outcome.answer[:297] + "..."
        text = f"“{answer}”"
    rank = gold_rank(outcome.scored_passages, outcome.question.gold) if outcome.question.gold else None
    extras = [f"disclaimer ({', '.join(outcome.safety_topics)})" if outcome.disclaimer else "no disclaimer"]
    if outcome.question.gold:
        extras.append(f"gold in passage {rank}" if rank else "gold in no passage")
    extras += outcome.violations
    return f"{text}; {'; '.join(extras)}"


def failures_section(outcomes: Sequence[Outcome]) -> str:
    """Every question that is wrong in any respect, with expected and actual behaviour."""
    failing = [(o, failure_kinds(o)) for o in outcomes]
    failing = [(o, kinds) for o, kinds in failing if kinds]
    if not failing:
        return "No failures."
    rows = [
        [o.question.id, o.question.category, ", ".join(kinds), o.question.question, _expected(o), _actual(o)]
        for o, kinds in failing
    ]
    return f"{len(failing)} of {len(outcomes)} questions.\n\n" + markdown_table(
        ["id", "category", "failure", "question", "expected", "actual"], rows, numeric=False
    )


def render_markdown(result: EvalResult, charts: Sequence[Path] = ()) -> str:
    """The whole ``report.md``."""
    target = result.target
    where = target.get("url") or target.get("index", "")
    status = "all thresholds met" if result.passed else f"{len(result.failed_checks)} threshold(s) missed: " + ", ".join(
        check.threshold.metric for check in result.failed_checks
    )
    lines = [
        f"# Verbatim eval — {result.split} split",
        "",
        f"- command: `{result.command}`",
        f"- run at {result.started_at} ({result.seconds:.1f} s) on revision {target.get('revision') or 'unknown'}, "
        f"{result.overall['questions']} questions, target {target.get('kind')} `{where}`",
        f"- production mode: {result.production_mode}; retriever {target.get('retriever', {})}",
        f"- result: **{status}**",
        "",
        "Latency is the in-process time to answer one question on a shared machine (not a benchmark; see `verbatim bench`).",
        "",
        "## Overall",
        "",
        overall_table(result),
        "",
        "## Per category",
        "",
        category_table(result),
        "",
        "## Confidence",
        "",
        "Answers given (to questions that can be answered right or wrong) per confidence band, and the share holding a gold fact.",
        "",
        confidence_table(result),
        "",
    ]
    if len(result.modes) > 1:
        lines += ["## Retrieval modes", "", "The same questions; latency of non-production modes excludes the question embedding.", "", mode_table(result), ""]
    if charts:
        lines += ["## Charts", ""] + [f"![{path.stem}]({path.name})" for path in charts] + [""]
    lines += ["## Failures", "", failures_section(result.outcomes), ""]
    return "\n".join(lines)


def outcome_record(outcome: Outcome) -> dict[str, Any]:
    """One question's outcome for metrics.json."""
    row = outcome.question
    return {
        "id": row.id,
        "category": row.category,
        "question": row.question,
        "expected": {"gold": list(row.gold), "docs": list(row.docs), "abstain": row.abstain, "disclaimer": row.disclaimer},
        "answer": outcome.answer,
        "abstained": outcome.abstained,
        "confidence": outcome.confidence,
        "reason": outcome.reason,
        "disclaimer": outcome.disclaimer,
        "safety_topics": outcome.safety_topics,
        "answer_hit": answer_hit(outcome) if not row.abstain else None,
        "gold_passage_rank": gold_rank(outcome.scored_passages, row.gold) if row.gold else None,
        "passage_docs": [p.doc_id for p in outcome.scored_passages],
        "violations": outcome.violations,
        "latency_ms": round(outcome.latency_ms, 3),
        "failures": failure_kinds(outcome),
    }


def metrics_document(result: EvalResult) -> dict[str, Any]:
    """The content of metrics.json."""
    return {
        "split": result.split,
        "command": result.command,
        "started_at": result.started_at,
        "seconds": result.seconds,
        "target": result.target,
        "production_mode": result.production_mode,
        "passed": result.passed,
        "overall": result.overall,
        "by_category": result.by_category,
        "modes": result.modes,
        "thresholds": [_check_record(check) for check in result.checks],
        "questions": [outcome_record(outcome) for outcome in result.outcomes],
    }


def _check_record(check: ThresholdCheck) -> dict[str, Any]:
    return {
        **asdict(check.threshold),
        "value": check.value,
        "passed": check.passed,
        "target_met": check.threshold.meets_target(check.value),
    }


def write_report(result: EvalResult, folder: Path, charts: bool = True) -> dict[str, Path]:
    """Write metrics.json, report.md and the charts.

    Args:
        result: The eval run.
        folder: Output folder (created if needed).
        charts: Also draw the PNG charts.

    Returns:
        Name -> path of every file written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    chart_paths: list[Path] = []
    if charts:
        # Optional dependency: matplotlib is loaded only when charts are drawn (--no-charts skips it).
        from eval.charts import category_chart, mode_chart

        chart_paths.append(category_chart(result, folder / "categories.png"))
        if len(result.modes) > 1:
            chart_paths.append(mode_chart(result, folder / "modes.png"))
        written.update({path.stem: path for path in chart_paths})
    metrics_path = folder / "metrics.json"
    metrics_path.write_text(json.dumps(metrics_document(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    report_path = folder / "report.md"
    report_path.write_text(render_markdown(result, chart_paths), encoding="utf-8")
    written["metrics"] = metrics_path
    written["report"] = report_path
    return written


def terminal_summary(result: EvalResult) -> str:
    """Tables printed by ``verbatim eval``."""
    lines = [
        f"Verbatim eval, {result.split} split: {result.overall['questions']} questions in {result.seconds:.1f} s",
        "",
        overall_table(result),
        "",
        category_table(result),
    ]
    if len(result.modes) > 1:
        lines += ["", mode_table(result)]
    return "\n".join(lines)


def readme_summary(result: EvalResult) -> str:
    """The block that ``--update-readme`` writes into eval/README.md."""
    return "\n".join(
        [
            f"Command: `{result.command}` ({result.started_at}, revision {result.target.get('revision') or 'unknown'}, "
            f"{result.overall['questions']} questions, "
            f"{'all thresholds met' if result.passed else 'thresholds missed: ' + ', '.join(c.threshold.metric for c in result.failed_checks)}).",
            "",
            overall_table(result),
            "",
            category_table(result),
            "",
            mode_table(result) if len(result.modes) > 1 else "",
        ]
    ).rstrip() + "\n"


def replace_marked_block(text: str, marker: str, content: str) -> str:
    """Replace what lies between ``<!-- marker:start -->`` and ``<!-- marker:end -->``.

    Raises:
        ValueError: When the markers are missing.
    """
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"markers {start} / {end} not found")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{content}{end}{tail}"
