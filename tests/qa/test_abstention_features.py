"""The abstention model's term features (qa/abstention.py ``_term_features``), column by column,
on a small synthetic index without the model."""

from __future__ import annotations

import pytest

from qa.abstention import AbstentionPolicy
from qa.calibration import Calibration
from qa.word_specificity import typo_tolerant_specificity
from tests.qa.synthetic import Block, build_store, query
from verbatim.index_format import BlockKind as K
from verbatim.safety_policy import SafetyPolicy

COLUMNS = {"foreign_entity", "foreign_entity_with_subject", "coverage", "covered_specific", "subject_mentioned",
           "unsupported_safety", "uncovered",
           "key_term_count", "name_words"}  # the last two for the training questions' words (test_pair_words.py)


@pytest.fixture(scope="module")
def policy():
    return SafetyPolicy.load()


@pytest.fixture(scope="module")
def abstention(policy):
    kidney = 1 << policy.topic_ids.index("kidney-disease") | 1 << policy.topic_ids.index(policy.evidence_topic)
    store = build_store(
        {
            "guide": [
                Block(K.PARAGRAPH, ["Glutamine is an amino acid that adults make every day.",
                                    "Athletes take glutamine after training.",
                                    "Glutamine powder dissolves in water."]),
                Block(K.PARAGRAPH, ["People with kidney disease should avoid glutamine."], topics=[kidney]),
                Block(K.PARAGRAPH, ["It is not a treatment for any disease.", "Muscle soreness may ease."]),
            ]
        },
        topic_ids=tuple(policy.topic_ids),
    )
    return AbstentionPolicy(store, policy, Calibration.load())


def _features(abstention, text, question_topics=None, discussed=frozenset()):
    features = abstention._term_features(query(text, {}), question_topics or {}, set(discussed))
    assert set(features) == COLUMNS
    return features


def test_the_synthetic_corpus_is_about_glutamine_and_discusses_kidney_disease(abstention, policy):
    assert abstention.store.subject_words == {"glutamine"}
    assert abstention.store.supported_topics == {"kidney-disease", policy.evidence_topic}


def test_coverage_subject_and_specificity_of_covered_words(abstention):
    features = _features(abstention, "Do athletes take glutamine powder?")
    assert features["subject_mentioned"] == 1.0
    assert features["uncovered"] == [] and features["coverage"] == 1.0
    covered = [term for term in query("Do athletes take glutamine powder?", {}).key_terms if term != "glutamine"]
    assert covered and features["covered_specific"] == pytest.approx(sum(typo_tolerant_specificity(t) for t in covered))
    assert features["foreign_entity"] == features["foreign_entity_with_subject"] == features["unsupported_safety"] == 0.0


def test_a_word_the_sources_never_use_is_uncovered(abstention):
    features = _features(abstention, "Do athletes take glutamine for dandruff?")
    terms = query("Do athletes take glutamine for dandruff?", {}).key_terms
    assert features["uncovered"] == ["dandruff"]
    assert features["coverage"] == pytest.approx((len(terms) - 1) / len(terms))
    no_subject = _features(abstention, "Do they take it for dandruff?")
    assert no_subject["subject_mentioned"] == 0.0 and no_subject["uncovered"] == ["dandruff"]


def test_the_head_of_a_condition_the_sources_never_name_is_not_covered(abstention):
    assert "disease" in _features(abstention, "Does glutamine help with Parkinson's disease?")["uncovered"]
    assert "disease" not in _features(abstention, "Is glutamine a treatment for disease?")["uncovered"]


def test_a_safety_word_of_a_discussed_topic_counts_as_covered(abstention):
    renal = _features(abstention, "Is glutamine safe with renal problems?", {"kidney-disease": ["term:renal"]})
    assert "renal" not in renal["uncovered"] and renal["unsupported_safety"] == 0.0


def test_a_named_safety_topic_the_sources_never_discuss_is_unsupported(abstention):
    pregnant = {"pregnancy": ["term:pregnant"]}
    assert _features(abstention, "Is glutamine safe when pregnant?", pregnant)["unsupported_safety"] == 1.0
    # ... unless the question is about a topic they do discuss, or the topic only resembles it.
    assert _features(abstention, "Is glutamine safe when pregnant?", pregnant, {"kidney-disease"})["unsupported_safety"] == 0.0
    resembles = {"pregnancy": ["example:0.61"]}
    assert _features(abstention, "Is glutamine safe when pregnant?", resembles)["unsupported_safety"] == 0.0


def test_another_supplement_is_a_foreign_entity(abstention):
    alone = _features(abstention, "What is the typical dose of ashwagandha?")
    assert (alone["foreign_entity"], alone["foreign_entity_with_subject"]) == (1.0, 0.0)
    compared = _features(abstention, "Is ashwagandha better than glutamine?")
    assert (compared["foreign_entity"], compared["foreign_entity_with_subject"]) == (0.0, 1.0)
