"""The ``verbatim eval`` subcommand's options (light: the command's parser is built at every start)."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_BENCHMARK_INDEX = Path(".cache/medquad-index")


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``eval`` subcommand's options."""
    parser.add_argument("--questions", type=Path, help="eval set (default eval/questions.jsonl)")
    parser.add_argument(
        "--split",
        choices=["dev", "test", "train", "all"],
        help="which split to score (default test; train: the written training conversations, with --dialogs only)",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="fit the answer ranker and abstention model on the dev split and write qa/calibration.toml",
    )
    parser.add_argument(
        "--cross-validate",
        action="store_true",
        help="score the dev split with models fitted on the other folds (qa/calibration.toml is not changed)",
    )
    parser.add_argument(
        "--fact-held-out",
        action="store_true",
        help="answer dev questions grouped by their gold sentences with an embedder adapted without those "
        "sentences' pairs, against the base model (trains one model per group; not in CI)",
    )
    parser.add_argument("--groups", type=int, default=5, help="fact groups for --fact-held-out (default 5)")
    parser.add_argument(
        "--evidence",
        action="store_true",
        help="score the evidence-kind labels against eval/evidence_labels.jsonl (and the MedQuAD sample with --benchmark DIR) "
        "and the anecdote rule's effect on the dev and test splits",
    )
    parser.add_argument("--folds", type=int, default=5, help="folds per deal for --cross-validate (default 5)")
    parser.add_argument("--seeds", type=int, default=3, help="deals (seeds 0..N-1) for --cross-validate (default 3)")
    parser.add_argument(
        "--dialogs",
        type=Path,
        metavar="FILE",
        help="score the follow-up turns of the conversations in FILE (eval/dialogs.jsonl) instead of the question set",
    )
    parser.add_argument(
        "--calibrate-followup",
        action="store_true",
        help="with --dialogs: fit the carried-over decision's margin on the dev conversations of FILE and the training "
        "conversations of --train-dialogs, and write qa/followup_calibration.toml",
    )
    parser.add_argument(
        "--train-dialogs",
        type=Path,
        metavar="FILE",
        help="training conversations --calibrate-followup also fits on (default eval/dialogs_train.jsonl)",
    )
    parser.add_argument("--url", help="evaluate a running server over HTTP (e.g. http://127.0.0.1:8000) instead of in-process")
    parser.add_argument("--out", type=Path, help="report folder (default eval/reports/<UTC timestamp>/)")
    parser.add_argument("--thresholds", type=Path, help="thresholds file (default eval/thresholds.toml)")
    parser.add_argument("--no-modes", action="store_true", help="score the production retrieval mode only")
    parser.add_argument("--no-charts", action="store_true", help="do not draw the PNG charts")
    parser.add_argument("--update-readme", action="store_true", help="write the summary into eval/README.md")
    parser.add_argument(
        "--feedback",
        action="store_true",
        help="also score accepted feedback questions from the data folder ($VERBATIM_DATA) as the category 'feedback' "
        "(kept out of the overall figures and the thresholds)",
    )
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
    benchmark.add_argument(
        "--write-pairs",
        type=Path,
        metavar="FILE",
        help="write training pairs from the benchmark's dev split (each dev question and the best chunk of one of its "
        "relevant documents) to FILE (*.pairs.jsonl, outside the repository) and stop",
    )
    benchmark.add_argument(
        "--benchmark-pairs",
        type=Path,
        metavar="FILE",
        help="give ingest these training pairs with the benchmark corpus: the benchmark index is embedded by the "
        "model adapted on them (ingest/adapt.py); use a separate --benchmark-index",
    )
