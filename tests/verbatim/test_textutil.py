"""Text helpers shared by ingest and the question path."""

import pytest

from verbatim.textutil import light_stem


@pytest.mark.parametrize(
    ("plural", "singular"),
    [("migraines", "migraine"), ("headaches", "headache"), ("diseases", "disease"), ("doses", "dose"),
     ("churches", "church"), ("boxes", "box"), ("allergies", "allergy"), ("kidneys", "kidney"), ("classes", "class")],
)
def test_a_plural_and_its_singular_share_a_light_stem(plural, singular):
    assert light_stem(plural) == light_stem(singular)


def test_word_runs_break_at_punctuation_but_not_at_spaces_or_hyphens():
    from verbatim.textutil import word_runs, words

    text = "I take Accutane, glutamine? Post-viral fatigue"
    assert words(text) == ["i", "take", "accutane", "glutamine", "post", "viral", "fatigue"]
    assert word_runs(text) == [0, 0, 0, 1, 2, 2, 2]
