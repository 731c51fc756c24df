"""Cross-validation on dev questions (real model, real index of corpus/)."""

from __future__ import annotations

import numpy as np
import pytest

from qa.training.crossval import CrossValidation, HeldOutCounts, cross_validate, deal_folds
from qa.training.dataset import load_questions
from qa.training.factheldout import FactHeldOutResult


def test_folds_are_an_even_deal_that_a_seed_repeats():
    folds = deal_folds(23, 5, seed=7)
    sizes = np.bincount(folds)
    assert sizes.sum() == 23 and sizes.max() - sizes.min() <= 1
    assert np.array_equal(folds, deal_folds(23, 5, seed=7))
    assert not np.array_equal(folds, deal_folds(23, 5, seed=8))


def test_counts_add_and_give_shares():
    total = HeldOutCounts(4, 3, 1, 2, 1).add(HeldOutCounts(6, 4, 0, 2, 2))
    assert (total.answerable, total.answered_right, total.false_abstentions) == (10, 7, 1)
    assert total.answer_hit == pytest.approx(0.7)
    assert total.false_abstention == pytest.approx(0.1)
    assert total.abstention_recall == pytest.approx(0.75)
    assert HeldOutCounts().answer_hit is None
    assert "answer hit 70.0% (7/10)" in total.summary()


def test_the_totals_of_deals_and_of_fact_groups_are_the_sum_of_their_counts():
    parts = [HeldOutCounts(4, 3, 1, 2, 1), HeldOutCounts(6, 4, 0, 2, 2), HeldOutCounts(1, 0, 1, 3, 0)]
    expected = HeldOutCounts(11, 7, 2, 7, 3)
    assert HeldOutCounts.summed(parts) == expected
    assert HeldOutCounts.summed([]) == HeldOutCounts()
    assert CrossValidation(folds=5, questions=20, seeds=[0, 1, 2], per_seed=parts).total == expected
    assert FactHeldOutResult("adapted", per_group=parts).total == expected


def test_every_question_is_held_out_once_per_seed_and_the_models_are_restored(fresh_answerer):
    questions = load_questions(split="dev")[:60]
    original = fresh_answerer.calibration
    before = fresh_answerer.run("How much glutamine should I take for gut health?")

    result = cross_validate(fresh_answerer, questions, folds=3, seeds=[0, 1])

    answerable = sum(1 for q in questions if not q.abstain and q.gold)
    out_of_scope = sum(1 for q in questions if q.abstain)
    assert len(result.per_seed) == 2
    for counts in result.per_seed:
        assert (counts.answerable, counts.out_of_scope) == (answerable, out_of_scope)
        assert counts.answered_right + counts.false_abstentions <= counts.answerable
        # Fitted on two thirds of these questions, the models still answer most of the rest.
        assert counts.answer_hit > 0.5
    assert result.total.answerable == 2 * answerable
    assert fresh_answerer.calibration is original
    after = fresh_answerer.run("How much glutamine should I take for gut health?")
    assert (after.answer, after.confidence) == (before.answer, before.confidence)


def test_fewer_than_two_folds_is_refused(fresh_answerer):
    with pytest.raises(ValueError, match="folds"):
        cross_validate(fresh_answerer, load_questions(split="dev")[:10], folds=1)


def test_cli_prints_held_out_figures_and_leaves_the_calibration_file_alone(corpus_settings, capsys):
    from qa.calibration import DEFAULT_CALIBRATION_PATH
    from verbatim.cli import main

    before = DEFAULT_CALIBRATION_PATH.read_bytes()
    code = main(["eval", "--index", str(corpus_settings.index_dir), "--cross-validate", "--limit", "30", "--folds", "2", "--seeds", "2"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "2-fold cross-validation on the dev split (30 questions)" in printed
    assert "seed 0: answer hit" in printed and "seed 1: answer hit" in printed
    assert "all 2 seeds: answer hit" in printed
    assert DEFAULT_CALIBRATION_PATH.read_bytes() == before


@pytest.mark.parametrize(("options", "message"), [(["--folds", "1"], "--folds"), (["--split", "test"], "dev split only")])
def test_cli_refuses_one_fold_and_the_test_split(corpus_settings, capsys, options, message):
    from verbatim.cli import main

    assert main(["eval", "--index", str(corpus_settings.index_dir), "--cross-validate", *options]) == 2
    assert message in capsys.readouterr().err
