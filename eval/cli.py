"""``verbatim eval``: arguments and dispatch (the runner, calibration and MedQuAD benchmark)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from verbatim.settings import Settings

README = Path(__file__).with_name("README.md")
DEFAULT_BENCHMARK_INDEX = Path(".cache/medquad-index")


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``eval`` subcommand's options."""
    parser.add_argument("--questions", type=Path, help="eval set (default eval/questions.jsonl)")
    parser.add_argument("--split", choices=["dev", "test", "all"], help="which split to score (default test)")
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="fit the answer ranker and abstention model on the dev split and write qa/calibration.toml",
    )
    parser.add_argument("--url", help="evaluate a running server over HTTP (e.g. http://127.0.0.1:8000) instead of in-process")
    parser.add_argument("--out", type=Path, help="report folder (default eval/reports/<UTC timestamp>/)")
    parser.add_argument("--thresholds", type=Path, help="thresholds file (default eval/thresholds.toml)")
    parser.add_argument("--no-modes", action="store_true", help="score the production retrieval mode only")
    parser.add_argument("--no-charts", action="store_true", help="do not draw the PNG charts")
    parser.add_argument("--update-readme", action="store_true", help="write the summary into eval/README.md")
    parser.add_argument(
        "--limit", type=int, metavar="N", help="only the first N questions (eval set) or a deterministic N-question sample (benchmark)"
    )
    benchmark = parser.add_argument_group("MedQuAD benchmark")
    benchmark.add_argument("--benchmark", type=Path, metavar="DIR", help="run the MedQuAD benchmark in DIR instead of the eval set")
    benchmark.add_argument(
        "--benchmark-index", type=Path, metavar="DIR", help=f"index of the benchmark corpus (default {DEFAULT_BENCHMARK_INDEX})"
    )
    benchmark.add_argument(
        "--distractors",
        type=int,
        metavar="M",
        help="index only the sampled questions' relevant documents plus M other documents (quick checks, CI)",
    )
    benchmark.add_argument("--rebuild", action="store_true", help="run ingest on the benchmark index even if it already holds the corpus")
    benchmark.add_argument("--tune", action="store_true", help="choose fusion and aggregation parameters on the dev split")
    benchmark.add_argument("--no-answers", action="store_true", help="skip the extractive answer pass")


def run_calibration(settings: Settings, questions: Path | None) -> int:
    """Fit ``qa/calibration.toml`` on the dev split and report the dev figures."""
    from eval.calibrate import calibrate
    from eval.dataset import load_questions
    from qa.calibration import DEFAULT_CALIBRATION_PATH
    from qa.pipeline import Answerer
    from verbatim.cli import ensure_index

    if not ensure_index(settings):
        return 1
    answerer = Answerer(settings)
    answerer.warm_up()
    report = calibrate(answerer, load_questions(questions, "dev"))
    DEFAULT_CALIBRATION_PATH.write_text(report.calibration.to_toml(), encoding="utf-8")
    print(f"wrote {DEFAULT_CALIBRATION_PATH}")
    print(f"  ranker: {report.ranker_examples} candidate sentences, {report.ranker_positives} holding a gold fact")
    print(f"  abstention: {report.abstention_examples} dev questions, threshold {report.calibration.threshold:.3f}")
    print(f"  dev false abstention {report.dev_false_abstention:.1%}, dev abstention recall {report.dev_abstention_recall:.1%}")
    print(f"  confidence: {report.confidence_examples} answered dev questions, {report.confidence_correct} answered right")
    return 0


def command_line(argv: list[str] | None = None) -> str:
    """The command that reproduces this run, as typed (``verbatim eval ...``)."""
    words = list(sys.argv[1:] if argv is None else argv)
    return "verbatim " + shlex.join(words)


def run_eval_set(args: argparse.Namespace, settings: Settings) -> int:
    """Score the eval set, write the report, print the tables; 1 when a threshold is missed."""
    from eval.dataset import load_questions
    from eval.metrics import load_thresholds
    from eval.report import (
        new_report_dir,
        readme_summary,
        replace_marked_block,
        terminal_summary,
        write_report,
    )
    from eval.runner import HttpTarget, InProcessTarget, run_eval

    split = args.split or "test"
    questions = load_questions(args.questions, split)
    if args.limit:
        questions = questions[: args.limit]
    if not questions:
        print("error: no questions to score", file=sys.stderr)
        return 2
    if args.url:
        target = HttpTarget(args.url)
    else:
        from qa.pipeline import Answerer
        from verbatim.cli import ensure_index

        if not ensure_index(settings):
            return 1
        answerer = Answerer(settings)
        answerer.warm_up()
        target = InProcessTarget(answerer)
    result = run_eval(
        target,
        questions,
        load_thresholds(args.thresholds),
        split=split,
        command=command_line(),
        compare_modes=not args.no_modes,
    )
    folder = args.out or new_report_dir()
    written = write_report(result, folder, charts=not args.no_charts)
    print(terminal_summary(result))
    print()
    for name, path in written.items():
        print(f"wrote {name}: {path}")
    if args.update_readme:
        README.write_text(replace_marked_block(README.read_text(encoding="utf-8"), f"eval-{split}", readme_summary(result)), encoding="utf-8")
        print(f"updated {README}")
    if not result.passed:
        for check in result.failed_checks:
            bound = ">=" if check.threshold.bound == "min" else "<="
            print(f"THRESHOLD MISSED: {check.threshold.metric} = {check.value} (bar {bound} {check.threshold.bar})", file=sys.stderr)
        return 1
    return 0


def run_eval_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``verbatim eval``."""
    if args.calibrate:
        return run_calibration(settings, args.questions)
    if args.benchmark:
        from eval.medquad_cli import run_benchmark_command

        return run_benchmark_command(args, settings)
    return run_eval_set(args, settings)
