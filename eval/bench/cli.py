"""``verbatim bench``: options and the run that measures every section and writes the report.

Sections: ``startup``, ``query``, ``http``, ``ingest``, ``scale`` (all by default). Each writes
its figures next to its floor; see docs/benchmark.md for what is measured and how to read it.
The report goes to ``REPORTS/bench-<UTC timestamp>/`` (``bench.json``, ``bench.md``, PNG).
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verbatim.settings import Settings

SECTIONS = ("startup", "query", "http", "ingest", "scale")
# Run only when named: they need the optional extra verbatim[ray] and start a local cluster.
OPTIONAL_SECTIONS = ("cluster",)
DEFAULT_SCALES = (1_000, 10_000, 0, 100_000, 1_000_000)  # 0: every real chunk of the source
REPO = Path(__file__).resolve().parents[2]


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from error
    if not values or any(value < 1 for value in values):
        raise argparse.ArgumentTypeError("expected positive integers")
    return values


def _scales(text: str) -> list[int]:
    """Chunk counts; ``real`` stands for every chunk of the source index, unchanged."""
    try:
        values = [0 if part.strip() == "real" else int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers or 'real', got {text!r}") from error
    if not values or any(value < 0 for value in values):
        raise argparse.ArgumentTypeError("expected positive integers or 'real'")
    return values


def _hnsw_pair(text: str) -> tuple[int, int] | None:
    if text.strip().lower() == "none":
        return None
    try:
        neighbours, construction = (int(part) for part in text.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected M,EF_CONSTRUCTION or none, got {text!r}") from error
    return neighbours, construction


def _sections(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS) - set(OPTIONAL_SECTIONS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"sections are {', '.join(SECTIONS + OPTIONAL_SECTIONS)}; got {text!r}")
    return chosen


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` subcommand's options (``--index`` is added by ``verbatim.cli``)."""
    parser.add_argument("--sections", type=_sections, default=list(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS + OPTIONAL_SECTIONS)} (default: all but {','.join(OPTIONAL_SECTIONS)})")
    parser.add_argument("--reports", type=Path, default=Path("eval/reports"), help="reports folder (default eval/reports)")
    parser.add_argument(
        "--medquad-data", type=Path, default=Path(os.environ.get("VERBATIM_MEDQUAD_DATA", "../shared/benchmarks/medquad")),
        help="folder with MedQuAD's corpus.jsonl and questions.dev.jsonl (default $VERBATIM_MEDQUAD_DATA or ../shared/benchmarks/medquad)",
    )
    parser.add_argument("--medquad-index", type=Path, default=Path(".cache/medquad-index"), help="built MedQuAD index (default .cache/medquad-index)")
    parser.add_argument("--skip-medquad", action="store_true", help="measure the served index only")
    parser.add_argument("--questions", type=int, default=300, help="questions per round in the query section (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="recorded passes over the questions (default 3)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed questions before measuring (default 30)")
    parser.add_argument("--http-requests", type=int, default=2000, help="measured requests per repeat and concurrency (default 2000)")
    parser.add_argument("--http-concurrency", type=_int_list, default=[1, 4, 16], help="concurrencies (default 1,4,16)")
    parser.add_argument("--http-repeats", type=int, default=3, help="measured phases per concurrency (default 3)")
    parser.add_argument("--http-warmup", type=int, default=200, help="unmeasured requests per concurrency (default 200)")
    parser.add_argument("--http-target", choices=["index", "medquad"], default="index", help="index the server serves (default: --index)")
    parser.add_argument("--floor-seconds", type=float, default=10.0, help="seconds per encode-throughput floor run (default 10)")
    parser.add_argument("--floor-repeats", type=int, default=3, help="runs of each throughput floor (default 3)")
    parser.add_argument("--ingest-docs", type=int, default=500, help="first N MedQuAD documents ingested (default 500)")
    parser.add_argument("--cluster-requests", type=int, default=1000, help="measured requests per server in the cluster section (default 1000)")
    parser.add_argument("--ingest-repeats", type=int, default=3, help="fresh builds per corpus (default 3)")
    parser.add_argument(
        "--scales", type=_scales, default=list(DEFAULT_SCALES),
        help="chunk counts; 'real' = every chunk of the source index (default 1000,10000,real,100000,1000000)",
    )
    parser.add_argument("--scale-queries", type=int, default=200, help="queries per size (default 200)")
    parser.add_argument("--scale-rounds", type=int, default=3, help="recorded passes over the queries per size (default 3)")
    parser.add_argument(
        "--noise", type=float, default=0.03,
        help="noise per dimension of repeated vectors (default 0.03: copies about as close to their original as real chunks are to their nearest neighbour)",
    )
    parser.add_argument(
        "--candidate-hnsw", type=_hnsw_pair, default=(32, 200), metavar="M,EF_CONSTRUCTION",
        help="another HNSW measured beside ingest's at sizes that get HNSW (default 32,200; 'none' to skip)",
    )
    parser.add_argument("--startup-repeats", type=int, default=3, help="fresh processes per index (default 3)")
    parser.add_argument("--max-load", type=float, default=None, help="wait until the 1-minute load average is at most this")
    parser.add_argument("--max-wait", type=float, default=3600.0, help="seconds to wait for --max-load (default 3600)")


def command_line(args: argparse.Namespace, settings: Settings) -> str:
    """The full ``verbatim bench`` command that reproduces this run (every option spelled out)."""
    parts = ["verbatim", "bench", "--index", str(settings.index_dir), "--sections", ",".join(args.sections)]
    options = (
        "reports", "medquad_data", "medquad_index", "questions", "rounds", "warmup", "http_requests", "http_concurrency",
        "http_repeats", "http_warmup", "http_target", "floor_seconds", "floor_repeats", "ingest_docs", "ingest_repeats", "cluster_requests",
        "scales", "scale_queries", "scale_rounds", "noise", "candidate_hnsw", "startup_repeats",
    )
    for name in options:
        value = getattr(args, name)
        if name == "scales":
            value = ",".join("real" if size == 0 else str(size) for size in value)
        elif name == "candidate_hnsw":
            value = "none" if value is None else f"{value[0]},{value[1]}"
        elif isinstance(value, list):
            value = ",".join(map(str, value))
        parts += [f"--{name.replace('_', '-')}", str(value)]
    if args.skip_medquad:
        parts.append("--skip-medquad")
    return " ".join(parts)


def _git() -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {}
    if commit.returncode != 0:
        return {}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


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
    from eval.bench.harness import LoadMonitor, machine_info
    from eval.bench.medquad import MedQuAD, sample_questions
    from eval.bench.report import PEERS, write_reports
    from eval.dataset import load_questions
    from verbatim.cli import ensure_index
    from verbatim.embedding import Embedder

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
        "git": _git(),
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
    from eval.bench.startup import measure_startup

    repeats = context.args.startup_repeats
    result = {"seed": measure_startup(context.settings.index_dir, context.seed_questions[0], repeats)}
    if not context.index_problem:
        result["medquad"] = measure_startup(context.medquad.index_dir, context.medquad_questions[0], repeats)
    return result


def _query(context: _Context) -> dict[str, Any]:
    from eval.bench.query import measure_answer_path
    from qa.pipeline import Answerer

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
    from eval.bench.http import measure_floor, measure_http

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
    from eval.bench.ingest import measure_ingest
    from eval.bench.medquad import write_subset

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
    from eval.bench.scale import measure_scale
    from verbatim import index_format

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
    from eval.bench.cluster import measure_cluster
    from eval.bench.medquad import write_subset

    args = context.args
    if context.data_problem:
        return {"skipped": f"MedQuAD data: {context.data_problem}"}
    with tempfile.TemporaryDirectory(prefix="verbatim-bench-subset-") as folder:
        subset = Path(folder) / "medquad-subset.jsonl"
        count = write_subset(context.medquad.corpus, args.ingest_docs, subset)
        return measure_cluster(
            subset, count, context.settings.index_dir, context.seed_questions, args.cluster_requests, 16, args.http_warmup
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
