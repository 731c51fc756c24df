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
