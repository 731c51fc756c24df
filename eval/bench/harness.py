"""The measurement harness: warm-up, repeated rounds, interleaving, percentiles and spread.

A shared, noisy 2-core machine moves every absolute figure; what holds is the ratio of a
measurement to its floor when both are taken in the same process, interleaved, so noise hits
both alike. Everything here is built for that: :func:`interleave` alternates the measured
callables item by item (and flips their order every item), each round gives its own medians,
and a report shows the pooled percentiles together with the median and range of the per-round
figures.
"""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.stats import percentile


def distribution(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """p50/p95/p99, mean, min, max and interquartile range of samples.

    Args:
        values: Samples (milliseconds, seconds, ... all the same unit).
        digits: Rounding of the figures.

    Returns:
        The summary, with ``n`` the number of samples.
    """
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(percentile(values, 0.50), digits),
        "p95": round(percentile(values, 0.95), digits),
        "p99": round(percentile(values, 0.99), digits),
        "mean": round(statistics.fmean(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "iqr": round(percentile(values, 0.75) - percentile(values, 0.25), digits),
    }


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """Median and range of a handful of repeated figures (one per round or repeat).

    Args:
        values: One figure per round.

    Returns:
        ``median``, ``min``, ``max`` and the individual ``values``.
    """
    if not values:
        return {"median": 0.0, "min": 0.0, "max": 0.0, "values": []}
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "values": [round(value, digits) for value in values],
    }


@dataclass
class Interleaved:
    """Samples of several callables measured side by side.

    Attributes:
        samples_ms: Pooled samples per name (all rounds), in milliseconds.
        rounds_ms: Samples per name, one list per round.
        extras: Whatever the callables returned, per name (e.g. answers, for stage timings).
    """

    samples_ms: dict[str, list[float]] = field(default_factory=dict)
    rounds_ms: dict[str, list[list[float]]] = field(default_factory=dict)
    extras: dict[str, list[Any]] = field(default_factory=dict)

    def summary(self, name: str) -> dict[str, Any]:
        """Pooled distribution of one callable plus the spread of its per-round p50 and p95."""
        rounds = self.rounds_ms[name]
        return {
            **distribution(self.samples_ms[name]),
            "round_p50": spread([percentile(values, 0.5) for values in rounds]),
            "round_p95": spread([percentile(values, 0.95) for values in rounds]),
        }

    def ratio(self, name: str, floor: str, fraction: float = 0.5) -> dict[str, Any]:
        """Ratio of a percentile of ``name`` to the same percentile of ``floor``, per round.

        Returns:
            ``pooled`` (from all samples) and the ``rounds`` spread.
        """
        pooled = percentile(self.samples_ms[name], fraction) / max(percentile(self.samples_ms[floor], fraction), 1e-9)
        per_round = [
            percentile(mine, fraction) / max(percentile(theirs, fraction), 1e-9)
            for mine, theirs in zip(self.rounds_ms[name], self.rounds_ms[floor], strict=True)
        ]
        return {"pooled": round(pooled, 3), "rounds": spread(per_round)}


def interleave(
    callables: dict[str, Callable[[Any], Any]],
    items: Sequence[Any],
    rounds: int,
    warmup: int,
    keep_results: Iterable[str] = (),
) -> Interleaved:
    """Measure several callables on the same items, alternating them item by item.

    Every item is given to every callable in turn; the order of the callables is reversed on
    every other item so neither always runs first (cache effects, CPU frequency). The first
    ``warmup`` items of the first pass are run but not recorded.

    Args:
        callables: Name -> function of one item.
        items: Inputs (e.g. questions).
        rounds: Full passes over the items that are recorded.
        warmup: Items run untimed before the first round.
        keep_results: Names whose return values are kept in ``extras``.

    Returns:
        The samples.
    """
    names = list(callables)
    keep = set(keep_results)
    result = Interleaved(
        samples_ms={name: [] for name in names},
        rounds_ms={name: [] for name in names},
        extras={name: [] for name in names if name in keep},
    )
    for number in range(min(warmup, len(items) * 3)):
        item = items[number % len(items)]
        for name in names:
            callables[name](item)
    clock = time.perf_counter
    for _ in range(rounds):
        current = {name: [] for name in names}
        for position, item in enumerate(items):
            order = names if position % 2 == 0 else names[::-1]
            for name in order:
                started = clock()
                value = callables[name](item)
                current[name].append((clock() - started) * 1000)
                if name in keep:
                    result.extras[name].append(value)
        for name in names:
            result.rounds_ms[name].append(current[name])
            result.samples_ms[name].extend(current[name])
    return result




class LoadMonitor:
    """Samples the 1-minute load average in the background while a section runs.

    The machine is shared; the load average next to each figure says how quiet it was.

    Args:
        interval: Seconds between samples.
    """

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LoadMonitor:
        self.samples = [os.getloadavg()[0]]
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, name="bench-load-monitor", daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(os.getloadavg()[0])

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        """Median, minimum and maximum 1-minute load average seen."""
        return {
            "median": round(statistics.median(self.samples), 2),
            "min": round(min(self.samples), 2),
            "max": round(max(self.samples), 2),
        }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """The machine and library versions a run was made on."""
    import faiss
    import numpy
    import sentence_transformers
    import torch

    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "faiss": faiss.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "memory_total_mb": _memory_total_mb(),
    }


def _memory_total_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None
