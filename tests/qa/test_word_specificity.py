"""Word specificity, typo correction against everyday English, and the language of a question."""

import pytest

from qa.word_specificity import english_correction, other_language, specificity, typo_tolerant_specificity
from verbatim.textutil import words


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("natrually", "naturally"), ("frige", "fridge"), ("pregnent", "pregnant"), ("breastfeding", "breastfeeding")],
)
def test_one_slip_from_an_everyday_word_is_corrected(typed, meant):
    assert english_correction(typed) == meant


@pytest.mark.parametrize("word", ["naturally", "swole", "ashwagandha", "creatine", "tub", "xqzvbn"])
def test_real_words_rare_terms_and_gibberish_are_left_alone(word):
    assert english_correction(word) is None


def test_a_misspelt_everyday_word_is_not_a_rare_term():
    assert specificity("natrually") == 4.0  # unknown to wordfreq
    assert typo_tolerant_specificity("natrually") == pytest.approx(specificity("naturally"))
    assert typo_tolerant_specificity("natrually") < 2.0
    # A rare name stays fully specific: it is what an off-topic question is about.
    assert typo_tolerant_specificity("ashwagandha") >= 3.5


def test_a_slip_on_an_everyday_word_has_a_nearest_everyday_word_and_a_brand_has_none():
    from qa.word_specificity import nearest_everyday_word

    # wordfreq knows "stomache" (a common misspelling), so english_correction leaves it alone,
    # but it is still one edit from "stomach".
    assert nearest_everyday_word("stomache") == "stomach"
    assert nearest_everyday_word("eliquis") is None


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("¿Cuánta glutamina debo tomar?", "Spanish"),
        ("Wie viel Glutamin soll ich nehmen?", "German"),
        ("Combien de glutamine dois-je prendre?", "French"),
        ("How much glutamine should I take?", None),
        ("Is ashwagandha good for sleep?", None),
        ("is glutamine halal", None),
        ("Can I take glutamine with yerba mate?", None),
    ],
)
def test_a_question_in_another_language_is_recognised(question, language):
    assert other_language(words(question)) == language
