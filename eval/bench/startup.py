"""Start-up: time from process start to the first answer, and memory at rest.

Each repeat starts a fresh Python process that does what ``verbatim ask`` and the server's
start-up do — load the model, load and verify the index, answer one question — and stamps the
wall clock after each step. The parent stamps the clock just before starting it, so the total
includes the interpreter's own start and every import.

As a module it is that worker::

    python -m eval.bench.startup --index DIR --question "..."
"""

from __future__ import annotations

import time

STARTED = time.time()  # noqa: E402 - first thing, so the worker's own import time is counted

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from eval.bench.harness import spread  # noqa: E402
from eval.stats import rss_mb  # noqa: E402

PHASES = ("python_start", "imports", "model_load", "index_load", "first_answer")




def _worker(index: Path, question: str) -> dict[str, Any]:
    """Load everything, answer once, report wall-clock stamps and memory."""
    stamps = {"module_loaded": STARTED}
    # Imported here, not at the top: their import time is the "imports" phase this measures,
    # and the model libraries must see the offline switch first.
    from verbatim.settings import Settings, force_offline

    force_offline()
    from qa.pipeline import Answerer  # measured import (see above)
    from verbatim.embedding import Embedder  # measured import (see above)

    stamps["imports"] = time.time()
    embedder = Embedder()
    embedder.warm_up()
    stamps["model_load"] = time.time()
    answerer = Answerer(Settings.from_env(index_dir=index), embedder=embedder)
    answerer.warm_up()
    stamps["index_load"] = time.time()
    answer = answerer.run(question)
    stamps["first_answer"] = time.time()
    started = time.perf_counter()
    answerer.run(question)
    second_ms = (time.perf_counter() - started) * 1000
    gc.collect()

    return {
        "stamps": stamps,
        "second_answer_ms": round(second_ms, 2),
        "abstained": answer.abstained,
        "rss_mb_at_rest": rss_mb(),
        "peak_rss_mb": rss_mb(peak=True),
        "chunks": len(answerer.store.chunk_doc),
    }


def start_once(index: Path, question: str, timeout: float = 900.0) -> dict[str, Any]:
    """Start one worker process and turn its stamps into phase durations (seconds).

    Args:
        index: Index to load.
        question: The first question.
        timeout: Seconds allowed.

    Returns:
        Seconds per phase (``python_start`` runs from just before the process was started to
        when the worker module was loaded), ``total_seconds`` to the first answer, memory.
    """
    command = [sys.executable, "-m", "eval.bench.startup", "--index", str(index), "--question", question]
    launched = time.time()
    process = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ})
    if process.returncode != 0:
        raise RuntimeError(f"start-up worker failed: {process.stderr[-2000:]}")
    report = json.loads(process.stdout.strip().splitlines()[-1])
    stamps = report.pop("stamps")
    previous = launched
    phases = {}
    for phase, stamp in zip(PHASES, ("module_loaded", "imports", "model_load", "index_load", "first_answer"), strict=True):
        phases[phase] = round(stamps[stamp] - previous, 3)
        previous = stamps[stamp]
    return {"phases_seconds": phases, "total_seconds": round(stamps["first_answer"] - launched, 3), **report}


def measure_startup(index: Path, question: str, repeats: int) -> dict[str, Any]:
    """Start-up ``repeats`` times; medians and ranges of every phase.

    Args:
        index: Index to load.
        question: First question asked.
        repeats: Fresh processes started one after the other.

    Returns:
        Median and range of the total, of each phase and of memory at rest.
    """
    runs = [start_once(index, question) for _ in range(repeats)]
    return {
        "index": str(index),
        "question": question,
        "repeats": repeats,
        "chunks": runs[0]["chunks"],
        "total_seconds": spread([run["total_seconds"] for run in runs]),
        "phases_seconds": {phase: spread([run["phases_seconds"][phase] for run in runs]) for phase in PHASES},
        "second_answer_ms": spread([run["second_answer_ms"] for run in runs], 2),
        "rss_mb_at_rest": spread([run["rss_mb_at_rest"] for run in runs], 1),
        "peak_rss_mb": spread([run["peak_rss_mb"] for run in runs], 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Worker entry point: print one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m eval.bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--question", required=True)
    args = parser.parse_args(argv)
    print(json.dumps(_worker(args.index, args.question)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
