"""Helpers shared by eval, the MedQuAD benchmark, the speed bench and the load test: one
definition each of a percentile, min-max normalisation, a deterministic question sample, the
process's memory, the source revision and the command that reproduces a run."""

from __future__ import annotations

import hashlib
import math
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np

EVAL_README = Path(__file__).with_name("README.md")
REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def command_line(argv: list[str] | None = None) -> str:
    """The command that reproduces this run, as typed (``verbatim eval ...``).

    Args:
        argv: The arguments after the program name (default: this process's).

    Returns:
        ``verbatim`` followed by the arguments, shell-quoted.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    return "verbatim " + shlex.join(words)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """A percentile with linear interpolation between the two nearest ranks.

    Args:
        values: Samples, in any order.
        fraction: 0.5 for the median, 0.95 for p95, ...

    Returns:
        The percentile; None for no samples.
    """
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def min_max(values: np.ndarray) -> np.ndarray:
    """Scale scores to 0..1 (all ones when they are all equal); infinite or NaN scores become 0.

    Args:
        values: Scores.

    Returns:
        The normalised scores.
    """
    values = np.where(np.isfinite(values), values, np.nan)
    low, high = np.nanmin(values), np.nanmax(values)
    normalised = (values - low) / (high - low) if high > low else np.ones_like(values)
    return np.nan_to_num(normalised, nan=0.0)


def stable_order_key(identifier: str) -> bytes:
    """Deterministic pseudo-random order of ids (SHA-256), independent of file order."""
    return hashlib.sha256(identifier.encode("utf-8")).digest()


def sample(items: Sequence[T], limit: int | None, key: Callable[[T], str]) -> list[T]:
    """A deterministic sample: the first ``limit`` items in SHA-256 order of their ids.

    Args:
        items: Everything to sample from (MedQuAD questions, ...).
        limit: Sample size (None or 0: all, in their own order).
        key: The id of an item.

    Returns:
        The sample.
    """
    if not limit or limit >= len(items):
        return list(items)
    return sorted(items, key=lambda item: stable_order_key(key(item)))[:limit]


def rss_mb(pid: int | None = None, peak: bool = False) -> float | None:
    """Resident memory of a process (this one by default) in MiB, from ``/proc``.

    Args:
        pid: The process (None: this one).
        peak: The peak resident memory so far (``VmHWM``) instead of the current (``VmRSS``).

    Returns:
        MiB to one decimal; None when unavailable.
    """
    field = "VmHWM:" if peak else "VmRSS:"
    try:
        for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
            if line.startswith(field):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def source_revision() -> str | None:
    """Git commit of the checkout being measured (``+dirty`` with uncommitted changes), if any."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if commit.returncode != 0:
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
