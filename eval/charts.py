"""PNG charts of an eval run (matplotlib with the Agg backend: no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eval.runner import EvalResult


def _pyplot():
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError("charts need the eval extra: pip install -e '.[eval]' (or make eval), or pass --no-charts") from error

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def grouped_bars(
    groups: Sequence[str],
    series: dict[str, Sequence[float | None]],
    path: Path,
    title: str,
    ylabel: str = "share of questions",
    ylim: tuple[float, float] | None = (0.0, 1.05),
) -> Path:
    """Grouped bar chart: one group per label, one bar per series (None draws no bar).

    Args:
        groups: Group labels (x axis).
        series: Series name -> one value per group.
        path: PNG to write.
        title: Chart title.
        ylabel: Y axis label.
        ylim: Y axis range (None: automatic).

    Returns:
        ``path``.
    """
    plt = _pyplot()
    width = 0.8 / max(1, len(series))
    positions = np.arange(len(groups))
    figure, axes = plt.subplots(figsize=(max(6.0, 1.3 * len(groups) + 2), 4.8), dpi=110)
    for number, (name, values) in enumerate(series.items()):
        heights = [np.nan if value is None else value for value in values]
        bars = axes.bar(positions + (number - (len(series) - 1) / 2) * width, heights, width, label=name)
        for bar, value in zip(bars, values, strict=True):
            if value is not None:
                axes.annotate(f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                              ha="center", va="bottom", fontsize=6, xytext=(0, 1), textcoords="offset points")
    axes.set_xticks(positions, groups, rotation=20, ha="right")
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    if ylim:
        axes.set_ylim(*ylim)
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=min(4, len(series)), frameon=False)
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return Path(path)


def category_chart(result: EvalResult, path: Path) -> Path:
    """Answer hit, passage hit@3, abstention recall and false abstention per category."""
    groups = [*result.by_category, "overall"]
    summaries = [*result.by_category.values(), result.overall]
    series = {
        label: [summary.get(metric) for summary in summaries]
        for label, metric in (
            ("answer hit", "answer_hit"),
            ("gold in top-3 passages", "passage_hit@3"),
            ("abstention recall", "abstention_recall"),
            ("false abstention", "false_abstention"),
        )
    }
    return grouped_bars(groups, series, path, f"Per category ({result.split} split, {result.production_mode})")


def mode_chart(result: EvalResult, path: Path) -> Path:
    """Answer hit and passage metrics per retrieval mode."""
    groups = list(result.modes)
    series = {
        label: [summary.get(metric) for summary in result.modes.values()]
        for label, metric in (
            ("answer hit", "answer_hit"),
            ("passage hit@1", "passage_hit@1"),
            ("passage hit@3", "passage_hit@3"),
            ("MRR", "mrr"),
        )
    }
    return grouped_bars(groups, series, path, f"Retrieval modes ({result.split} split)")
