"""``verbatim eval``: arguments and dispatch (the runner, calibration and MedQuAD benchmark)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eval.dialogs import DEFAULT_TRAIN_DIALOGS, fit_followup_model, load_dialogs, score_dialogs
from eval.evidence import (
    format_score,
    format_selection,
    score_articles,
    score_medquad,
    selection_effect,
    targets_met,
)
from eval.feedback_questions import load_feedback_questions
from eval.medquad.cli import run_benchmark_command
from eval.metrics import load_thresholds
from eval.report import new_report_dir, readme_summary, replace_marked_block, terminal_summary, write_report
from eval.runner import HttpTarget, InProcessTarget, run_eval
from eval.stats import EVAL_README as README
from eval.stats import command_line
from ingest.ensure import ensure_index
from qa.calibration import DEFAULT_CALIBRATION_PATH
from qa.followup import DEFAULT_FOLLOWUP_CALIBRATION_PATH
from qa.pipeline import Answerer
from qa.training.calibrate import calibrate, calibration_mismatch, corpus_unanswerable
from qa.training.crossval import cross_validate
from qa.training.dataset import load_questions
from qa.training.factheldout import fact_held_out
from verbatim.embedding import Embedder
from verbatim.settings import Settings

FOLLOWUP_HIT_BAR = 0.80  # issue 22's bar for the follow-up turns


def _warm_answerer(settings: Settings, embedder: Embedder | None = None) -> Answerer | None:
    """A warm answerer over the index of ``settings``; None (said on stderr) when there is no usable index."""
    if not ensure_index(settings):
        return None
    answerer = Answerer(settings, embedder=embedder)
    answerer.warm_up()
    return answerer


def _other_split_refused(args: argparse.Namespace, option: str, note: str = "") -> bool:
    """Whether ``--split`` names another split than dev for an option that fits on dev (said on stderr)."""
    if args.split in (None, "dev"):
        return False
    print(f"error: {option} fits and scores the dev split only{note}", file=sys.stderr)
    return True


def _questions(args: argparse.Namespace, settings: Settings, split: str) -> list:
    """The questions of ``split`` to score: the first ``--limit``, plus the accepted feedback questions with ``--feedback``."""
    questions = load_questions(args.questions, split)
    if args.limit:
        questions = questions[: args.limit]
    if getattr(args, "feedback", False):
        questions = questions + _accepted_feedback_questions(settings)
    return questions


def run_calibration(settings: Settings, questions: Path | None) -> int:
    """Fit ``qa/calibration.toml`` on the dev split and report the dev figures."""
    answerer = _warm_answerer(settings)
    if answerer is None:
        return 1
    report = calibrate(answerer, load_questions(questions, "dev"), unanswerable=corpus_unanswerable([settings.corpus_dir]))
    DEFAULT_CALIBRATION_PATH.write_text(report.calibration.to_toml(), encoding="utf-8")
    print(f"wrote {DEFAULT_CALIBRATION_PATH}")
    print(f"  ranker: {report.ranker_examples} candidate sentences, {report.ranker_positives} holding a gold fact")
    if report.calibration.pair_ranker is not None:
        print(f"  pair ranker: {report.pair_ranker_views} question views (the index's training questions and the fact dropout's)")
    print(
        f"  abstention: {report.abstention_examples} dev questions"
        f" and {report.unanswerable_examples} out-of-scope training questions, threshold {report.calibration.threshold:.3f}"
    )
    print(f"  dev false abstention {report.dev_false_abstention:.1%}, dev abstention recall {report.dev_abstention_recall:.1%}")
    print(f"  confidence: {report.confidence_examples} answered dev questions, {report.confidence_correct} answered right")
    return 0


def run_cross_validation(args: argparse.Namespace, settings: Settings) -> int:
    """Cross-validate the fitted models on the dev split and print the held-out figures."""
    if _other_split_refused(args, "--cross-validate", " (test is for reporting)"):
        return 2
    questions = _questions(args, settings, "dev")
    if args.seeds < 1 or not 2 <= args.folds <= len(questions):
        print(f"error: need --seeds >= 1 and 2 <= --folds <= {len(questions)} (dev questions)", file=sys.stderr)
        return 2
    answerer = _warm_answerer(settings)
    if answerer is None:
        return 1
    result = cross_validate(
        answerer, questions, folds=args.folds, seeds=range(args.seeds), unanswerable=corpus_unanswerable([settings.corpus_dir])
    )
    print(f"command: {command_line()}")
    print(
        f"{result.folds}-fold cross-validation on the dev split ({result.questions} questions): each fold answered by "
        f"models fitted on the other folds as --calibrate fits them; qa/calibration.toml unchanged"
    )
    for seed, counts in zip(result.seeds, result.per_seed, strict=True):
        print(f"  seed {seed}: {counts.summary()}")
    print(f"  all {len(result.seeds)} seeds: {result.total.summary()}")
    return 0


def run_fact_held_out(args: argparse.Namespace, settings: Settings) -> int:
    """Fact-held-out figures of the base and the adapted embedder on the dev split."""
    if _other_split_refused(args, "--fact-held-out"):
        return 2
    if args.groups < 2:
        print("error: need --groups >= 2", file=sys.stderr)
        return 2
    questions = load_questions(args.questions, "dev")
    print(f"command: {command_line()}")
    print(
        f"fact-held-out on the dev split: {args.groups} groups of questions sharing no gold sentence; each group "
        f"answered with models refitted on the other dev questions, by the base embedder and by one adapted on "
        f"the pairs of {settings.corpus_dir} that avoid the group's gold sentences"
    )
    base, adapted, groups = fact_held_out(settings, Path(settings.corpus_dir), questions, groups=args.groups)
    print(f"  base model:    {base.total.summary()}")
    print(f"  adapted model: {adapted.total.summary()} (pairs kept per group: {', '.join(map(str, adapted.pairs_used))})")
    base_hit, adapted_hit = base.total.answer_hit or 0.0, adapted.total.answer_hit or 0.0
    print(f"  difference: {100 * (adapted_hit - base_hit):+.1f} points of answer hit")
    return 0


def run_evidence(args: argparse.Namespace, settings: Settings) -> int:
    """Score the evidence labeller (issue 26) and the anecdote rule; 1 when an article target is missed."""
    print(f"command: {command_line()}")
    embedder = Embedder()
    embedder.warm_up()
    articles = score_articles(Path(settings.corpus_dir), embedder, settings)
    print(format_score(articles, targets=True))
    for gold, predicted in articles.errors():
        print(f"    hand {gold.kind}, labelled {predicted}: {gold.text[:100]}")
    if args.benchmark:
        print()
        print(format_score(score_medquad(args.benchmark, embedder, settings), targets=False))
    answerer = _warm_answerer(settings, embedder)
    if answerer is None:
        return 1
    print()
    for split in ("dev", "test"):
        print(format_selection(selection_effect(answerer, load_questions(args.questions, split), split)))
    return 0 if targets_met(articles) else 1


def run_eval_set(args: argparse.Namespace, settings: Settings) -> int:
    """Score the eval set, write the report, print the tables; 1 when a threshold is missed."""
    split = args.split or "test"
    questions = _questions(args, settings, split)
    if not questions:
        print("error: no questions to score", file=sys.stderr)
        return 2
    if args.url:
        target = HttpTarget(args.url)
    else:
        answerer = _warm_answerer(settings)
        if answerer is None:
            return 1
        mismatch = calibration_mismatch(answerer)
        if mismatch:
            print(f"CALIBRATION MISMATCH: {mismatch}", file=sys.stderr)
            return 1
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


def _shown(path: Path) -> str:
    """A path as the provenance shows it: relative to the working folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_dialogs(args: argparse.Namespace, settings: Settings) -> int:
    """Score the follow-up turns of ``--dialogs`` (or fit the carried-over decision on dev)."""
    # Imported here like every runner of this module: building the argument parser must not load
    # the model stack.

    if args.url:
        print("error: --dialogs runs in-process (no --url)", file=sys.stderr)
        return 2
    answerer = _warm_answerer(settings)
    if answerer is None:
        return 1
    if args.calibrate_followup:
        train_path = args.train_dialogs or DEFAULT_TRAIN_DIALOGS
        dev, train = load_dialogs(args.dialogs, "dev"), load_dialogs(train_path, "train") if train_path.exists() else []
        data = f"dev split of {_shown(args.dialogs)}" + (f" and train split of {_shown(train_path)}" if train else "")
        model, examples, carried = fit_followup_model(answerer, dev + train, data)
        DEFAULT_FOLLOWUP_CALIBRATION_PATH.write_text(model.to_toml(), encoding="utf-8")
        print(f"wrote {DEFAULT_FOLLOWUP_CALIBRATION_PATH} (margin {model.margin:+.4f}, fitted on the {data}): {examples} "
              f"follow-ups where one reading did better, {carried} of them the carried one")
        return 0
    split = args.split or "test"
    dialogs = load_dialogs(args.dialogs, split)
    if args.limit:
        dialogs = dialogs[: args.limit]
    scores = score_dialogs(answerer, dialogs)
    print(f"command: {command_line()}")
    print(f"{len(dialogs)} conversations of the {split} split; follow-up turns (each with the history of the system's own answers):")
    for line in scores.lines():
        print(f"  {line}")
    if scores.misses:
        print("wrong follow-up turns:")
        for line in scores.misses:
            print(f"  {line}")
    bars = {
        f"follow-up answer hit >= {FOLLOWUP_HIT_BAR:.0%}": scores.answerable == 0
        or scores.hits / scores.answerable >= FOLLOWUP_HIT_BAR,
        "disclaimer recall 100%": scores.disclaimer_right == scores.disclaimer_expected,
        "no repeats": scores.repeats == 0,
        "no invariant violation": scores.violations == 0,
    }
    missed = [bar for bar, met in bars.items() if not met]
    if missed:
        print(f"BARS MISSED: {', '.join(missed)}", file=sys.stderr)
    passed = not missed
    return 0 if passed else 1



def _accepted_feedback_questions(settings: Settings) -> list:
    """The accepted feedback questions of the data folder (``--feedback``), announced on stderr."""
    accepted = load_feedback_questions(settings.data_dir)
    print(
        f"feedback category: {len(accepted.questions)} accepted questions from {settings.data_dir} "
        f"({accepted.from_pairs} from training pairs, {accepted.from_candidates} from eval candidates; "
        f"{accepted.waiting} candidates still without a gold fact)",
        file=sys.stderr,
    )
    return accepted.questions

def run_eval_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``verbatim eval``."""
    if args.calibrate_followup and not args.dialogs:
        print("error: --calibrate-followup needs --dialogs FILE", file=sys.stderr)
        return 2
    if args.dialogs:
        return run_dialogs(args, settings)
    if args.calibrate:
        return run_calibration(settings, args.questions)
    if args.cross_validate:
        return run_cross_validation(args, settings)
    if args.fact_held_out:
        return run_fact_held_out(args, settings)
    if args.evidence:
        return run_evidence(args, settings)
    if args.benchmark:
        return run_benchmark_command(args, settings)
    return run_eval_set(args, settings)
