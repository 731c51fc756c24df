"""The steps the runners of ``verbatim eval`` share (``eval/cli.py``)."""

from __future__ import annotations

import argparse

import pytest

from eval.cli import _other_split_refused, _questions, _warm_answerer
from qa.training.dataset import load_questions
from verbatim.settings import Settings


@pytest.mark.parametrize("split", [None, "dev"])
def test_the_dev_split_is_let_through(split, capsys):
    assert not _other_split_refused(argparse.Namespace(split=split), "--cross-validate")
    assert capsys.readouterr().err == ""


def test_another_split_is_refused_naming_the_option(capsys):
    assert _other_split_refused(argparse.Namespace(split="test"), "--cross-validate", " (test is for reporting)")
    assert capsys.readouterr().err == "error: --cross-validate fits and scores the dev split only (test is for reporting)\n"
    assert _other_split_refused(argparse.Namespace(split="all"), "--fact-held-out")
    assert capsys.readouterr().err == "error: --fact-held-out fits and scores the dev split only\n"


def test_the_questions_are_the_first_limit_plus_the_accepted_feedback(tmp_path, capsys):
    settings = Settings.from_env(data_dir=tmp_path)
    dev = load_questions(None, "dev")
    assert _questions(argparse.Namespace(questions=None, limit=None), settings, "dev") == dev
    assert _questions(argparse.Namespace(questions=None, limit=3, feedback=False), settings, "dev") == dev[:3]
    assert capsys.readouterr().err == ""
    # An empty data folder: no question is added, and the category is announced.
    assert _questions(argparse.Namespace(questions=None, limit=3, feedback=True), settings, "dev") == dev[:3]
    assert "feedback category: 0 accepted questions" in capsys.readouterr().err


def test_a_warm_answerer_over_the_index(corpus_settings, embedder):
    answerer = _warm_answerer(corpus_settings, embedder)
    assert answerer is not None
    assert not answerer.run("How much glutamine per day?").abstained


def test_no_answerer_when_no_index_can_be_built(tmp_path, embedder, capsys):
    empty = tmp_path / "corpus"
    empty.mkdir()
    settings = Settings.from_env(index_dir=tmp_path / "index", corpus_dir=empty, data_dir=tmp_path / "data")
    assert _warm_answerer(settings, embedder) is None
    assert f"No index in {settings.index_dir}" in capsys.readouterr().err
