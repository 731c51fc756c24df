"""``verbatim eval``: arguments and dispatch (the runner, calibration and MedQuAD benchmark)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from verbatim.settings import Settings


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``eval`` subcommand's options."""
    parser.add_argument("--questions", type=Path, help="eval set (default eval/questions.jsonl)")
    parser.add_argument("--split", default="test", choices=["dev", "test", "all"], help="which split to score")
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="fit the answer ranker and abstention model on the dev split and write qa/calibration.toml",
    )


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
    return 0


def run_eval_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``verbatim eval``."""
    if args.calibrate:
        return run_calibration(settings, args.questions)
    print("error: only --calibrate is available so far", file=sys.stderr)
    return 2
