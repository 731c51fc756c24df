"""``verbatim bench``: options and the run that measures every section and writes the report.

Sections: ``startup``, ``query``, ``http``, ``ingest``, ``scale`` (all by default). Each writes
its figures next to its floor; see docs/benchmark.md for what is measured and how to read it.
The report goes to ``REPORTS/bench-<UTC timestamp>/`` (``bench.json``, ``bench.md``, PNG).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.bench.arguments import OPTIONAL_SECTIONS, SECTIONS, command_line
from eval.bench.cluster import measure_cluster
from eval.bench.harness import LoadMonitor, machine_info
from eval.bench.http import measure_floor, measure_http
from eval.bench.ingest import measure_ingest
from eval.bench.medquad import MedQuAD, sample_questions, write_subset
from eval.bench.query import measure_answer_path
from eval.bench.report import PEERS, write_reports
from eval.bench.scale import measure_scale
from eval.bench.startup import measure_startup
from eval.stats import source_revision
from ingest.ensure import ensure_index
from qa.pipeline import Answerer
from qa.training.dataset import load_questions
from verbatim import index_format
from verbatim.embedding import Embedder
from verbatim.settings import Settings

REPO = Path(__file__).resolve().parents[2]



def _git(revision: str | None) -> dict[str, Any]:
    """The report's ``git`` field from :func:`eval.stats.source_revision`."""
    if revision is None:
        return {}
    return {"commit": revision.removesuffix("+dirty"), "dirty": revision.endswith("+dirty")}


def wait_for_quiet(max_load: float, max_wait: float, poll: float = 60.0) -> dict[str, Any]:
    """Wait until the 1-minute load average drops to ``max_load`` (at most ``max_wait`` s)."""
    started = time.monotonic()
    while os.getloadavg()[0] > max_load and time.monotonic() - started < max_wait:
        print(f"bench: load average {os.getloadavg()[0]:.2f} > {max_load}; waiting ...", file=sys.stderr, flush=True)
        time.sleep(min(poll, max(1.0, max_wait - (time.monotonic() - started))))
    return {"waited_seconds": round(time.monotonic() - started, 1), "load_after_wait": round(os.getloadavg()[0], 2)}


def _note(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run_bench(args: argparse.Namespace, settings: Settings) -> tuple[dict[str, Any], Path]:
    """Run the chosen sections and write the report.

    Args:
        args: Parsed ``bench`` options.
        settings: Settings (``index_dir`` is the served index measured by every section).

    Returns:
        The results and the report folder.
    """
    if not ensure_index(settings):
        raise SystemExit("error: the served index could not be built")
    quiet = wait_for_quiet(args.max_load, args.max_wait) if args.max_load is not None else None
    started_at = datetime.now(UTC)
    folder = Path(args.reports) / f"bench-{started_at.strftime('%Y%m%dT%H%M%SZ')}"
    medquad = MedQuAD(Path(args.medquad_data), Path(args.medquad_index))
    skipped: dict[str, str] = {}
    data_problem = "--skip-medquad" if args.skip_medquad else medquad.data_problem()
    index_problem = data_problem or medquad.index_problem()
    if data_problem:
        skipped["MedQuAD data"] = data_problem
    elif index_problem:
        skipped["MedQuAD index"] = index_problem
    for name, reason in skipped.items():
        _note(f"skipping the {name} parts: {reason}")

    seed_questions = [question.question for question in load_questions()][: args.questions]
    medquad_questions = [] if data_problem else sample_questions(medquad.dev_questions, args.questions)
    results: dict[str, Any] = {
        "command": command_line(args, settings),
        "started_at": started_at.isoformat(timespec="seconds"),
        "git": _git(source_revision()),
        "machine": machine_info(),
        "load_average": {"before": list(os.getloadavg()), "sections": {}},
        "quiet_wait": quiet,
        "section_seconds": {},
        "skipped": skipped,
        "peers_quoted": list(PEERS),
    }
    embedder = Embedder()
    context = _Context(args, settings, embedder, medquad, data_problem, index_problem, seed_questions, medquad_questions, skipped)
    for name in SECTIONS + OPTIONAL_SECTIONS:
        if name not in args.sections:
            continue
        _note(f"{name} ...")
        clock = time.perf_counter()
        with LoadMonitor() as monitor:
            try:
                results[name] = _SECTION_RUNNERS[name](context)
            except Exception as error:  # one failed section must not lose the others' figures
                results[name] = {"error": f"{type(error).__name__}: {error}", "traceback": traceback.format_exc()}
                _note(f"{name} failed: {type(error).__name__}: {error}")
            finally:
                gc.collect()
        results["load_average"]["sections"][name] = monitor.summary()
        results["section_seconds"][name] = round(time.perf_counter() - clock, 1)
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["load_average"]["after"] = list(os.getloadavg())
    write_reports(results, folder)
    return results, folder


@dataclass
class _Context:
    """What every section needs."""

    args: argparse.Namespace
    settings: Settings
    embedder: Any
    medquad: Any
    data_problem: str | None
    index_problem: str | None
    seed_questions: list[str]
    medquad_questions: list[str]
    skipped: dict[str, str]


def _startup(context: _Context) -> dict[str, Any]:
    repeats = context.args.startup_repeats
    result = {"seed": measure_startup(context.settings.index_dir, context.seed_questions[0], repeats)}
    if not context.index_problem:
        result["medquad"] = measure_startup(context.medquad.index_dir, context.medquad_questions[0], repeats)
    return result


def _query(context: _Context) -> dict[str, Any]:
    args = context.args
    context.embedder.warm_up()
    answerer = Answerer(context.settings, embedder=context.embedder)
    answerer.warm_up()
    result = {"seed": measure_answer_path(answerer, context.seed_questions, args.rounds, args.warmup)}
    if not context.index_problem:
        answerer = Answerer(context.settings.replace(index_dir=context.medquad.index_dir), embedder=context.embedder)
        answerer.warm_up()
        result["medquad"] = measure_answer_path(answerer, context.medquad_questions, args.rounds, args.warmup, with_bare_script=True)
    return result


def _http(context: _Context) -> dict[str, Any]:
    args = context.args
    use_medquad = args.http_target == "medquad"
    if use_medquad and context.index_problem:
        return {"skipped": f"--http-target medquad: {context.index_problem}"}
    questions = context.medquad_questions if use_medquad else context.seed_questions
    floor = measure_floor(questions, args.floor_seconds, args.floor_repeats, batch_size=16)
    load = measure_http(
        context.medquad.index_dir if use_medquad else context.settings.index_dir, questions, args.http_concurrency,
        args.http_requests, args.http_warmup, args.http_repeats,
    )
    return {"floor": floor, "load": load}


def _ingest(context: _Context) -> dict[str, Any]:
    args, settings, embedder = context.args, context.settings, context.embedder
    embedder.warm_up()
    result = {"seed": measure_ingest("seed corpus", [settings.corpus_dir], embedder, settings, args.ingest_repeats)}
    if not context.data_problem:
        with tempfile.TemporaryDirectory(prefix="verbatim-bench-subset-") as folder:
            subset = Path(folder) / "medquad-subset.jsonl"
            count = write_subset(context.medquad.corpus, args.ingest_docs, subset)
            item = measure_ingest("MedQuAD subset", [subset], embedder, settings, args.ingest_repeats)
        item["subset"] = f"first {count:,} documents of corpus.jsonl"
        result["medquad_subset"] = item
    return result


def _scale(context: _Context) -> dict[str, Any]:
    args, embedder = context.args, context.embedder
    embedder.warm_up()
    if context.index_problem:
        source_dir, source_name, questions = context.settings.index_dir, f"the served index ({context.settings.index_dir})", context.seed_questions
    else:
        source_dir, source_name, questions = context.medquad.index_dir, "MedQuAD", context.medquad_questions
    model_path = index_format.build_model_path(source_dir)  # a corpus with training pairs has its own model
    embedder = embedder.for_model(None if model_path is None else str(model_path))
    contents = index_format.load_build(source_dir, embedder.name, embedder.weights_hash)
    return measure_scale(
        contents, source_name, questions[: args.scale_queries], args.scales, args.scale_rounds,
        min(args.warmup, args.scale_queries), args.noise, candidate_hnsw=args.candidate_hnsw,
    )


def _cluster(context: _Context) -> dict[str, Any]:
    args = context.args
    if context.data_problem:
        return {"skipped": f"MedQuAD data: {context.data_problem}"}
    with tempfile.TemporaryDirectory(prefix="verbatim-bench-subset-") as folder:
        subset = Path(folder) / "medquad-subset.jsonl"
        count = write_subset(context.medquad.corpus, args.ingest_docs, subset)
        return measure_cluster(
            subset, count, context.settings.index_dir, context.seed_questions, args.cluster_requests, 16, args.http_warmup,
            ingress=args.cluster_ingress,
        )


_SECTION_RUNNERS = {"startup": _startup, "query": _query, "http": _http, "ingest": _ingest, "scale": _scale, "cluster": _cluster}


def run_bench_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``verbatim bench`` and print where the report is and how the targets came out.

    Returns:
        0 when the run completed (targets missed are reported, not an error), 1 when a
        section failed.
    """
    results, folder = run_bench(args, settings)
    print((folder / "bench.md").read_text(encoding="utf-8"))
    print(f"wrote {folder / 'bench.json'}, {folder / 'bench.md'}" + (f", {folder / results['plot']}" if results.get("plot") else ""))
    failed = [name for name in SECTIONS + OPTIONAL_SECTIONS if isinstance(results.get(name), dict) and "error" in results[name]]
    failed += [f"scale {size['chunks']}" for size in (results.get("scale") or {}).get("sizes", []) if "error" in size]
    if failed:
        print(f"bench: failed: {', '.join(failed)} (see bench.json)", file=sys.stderr)
    return 1 if failed else 0
