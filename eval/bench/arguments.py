"""The ``verbatim bench`` subcommand's options (light: the command's parser is built at every start)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from verbatim.settings import Settings

SECTIONS = ("startup", "query", "http", "ingest", "scale")
# Run only when named: they need the optional extra verbatim[ray] and start a local cluster.
OPTIONAL_SECTIONS = ("cluster",)
DEFAULT_SCALES = (1_000, 10_000, 0, 100_000, 1_000_000)  # 0: every real chunk of the source


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
    parser.add_argument(
        "--cluster-ingress", choices=["proxy", "haproxy"], default="proxy",
        help="Ray Serve's HTTP ingress in the cluster section (verbatim serve --ingress; default proxy)",
    )
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
        "cluster_ingress",
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
