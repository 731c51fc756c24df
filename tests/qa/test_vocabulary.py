"""Typo-tolerant lookup of question words in the corpus vocabulary."""

import os
import subprocess
import sys

import pytest

from qa.vocabulary import Vocabulary

WORDS = {"time": [2, 3], "type": [2, 3], "glutamine": [2, 40], "repair": [1, 5], "timing": [1, 2]}


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("glutamene", "glutamine"),  # one vowel slip
        ("repare", "repair"),
        ("tyme", "time"),  # "type" is as frequent and as close; the vowel-only slip wins
        ("glutamine", "glutamine"),
    ],
)
def test_correction_finds_the_corpus_word(typed, meant):
    assert Vocabulary(WORDS).correction(typed) == meant


@pytest.mark.parametrize(("typed", "meant"), [("stable", "stability"), ("ability", "able")])
def test_adjective_and_noun_forms_count_as_the_same_word(typed, meant):
    # The stemmer keeps short pairs apart: "stable" (stabl) and "stability" (stabil).
    assert Vocabulary({"stability": [1, 2], "able": [1, 1]}).correction(typed) == meant


def test_correction_leaves_real_and_far_words_alone():
    vocabulary = Vocabulary(WORDS)
    assert vocabulary.correction("creatine") is None
    assert vocabulary.uncovered(["tyme", "creatine"]) == ["creatine"]


def test_ties_do_not_depend_on_hash_order():
    # Set iteration order of strings changes with PYTHONHASHSEED; the correction must not.
    script = f"from qa.vocabulary import Vocabulary; print(Vocabulary({WORDS!r}).correction('tyme'))"
    answers = set()
    for seed in range(8):
        environment = {**os.environ, "PYTHONHASHSEED": str(seed)}
        result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, check=True)
        answers.add(result.stdout.strip())
    assert answers == {"time"}
