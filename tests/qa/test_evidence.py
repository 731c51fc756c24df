"""Evidence kinds in the index and in answers (issue 26), on a fresh build of the seed corpus."""

from __future__ import annotations

import dataclasses

import pytest

from eval.evidence import ARTICLE_LABELS, TARGET_ACCURACY, TARGET_PRECISION, EvidenceScore, load_hand_labels
from tests.qa.regressions import PAIR_CHOICE_REGRESSION
from verbatim.index_format import EVIDENCE_DESIGNS, EVIDENCE_KINDS

CLINICIAN = "glutamine-clinician-guide"
RESEARCH = "glutamine-benefits-research"


def sentence_number(store, doc_id: str, text: str) -> int:
    doc = store.doc_index[doc_id]
    for sentence in store.sentences_in(doc, 0, len(store.documents[doc].text)):
        if store.sentence_text(sentence).startswith(text):
            return sentence
    raise AssertionError(f"no sentence of {doc_id} starts with {text!r}")


@pytest.mark.parametrize(
    ("doc_id", "text", "kind", "design"),
    [
        (CLINICIAN, "A 2023 systematic review published in Nutrients", "study", "systematic review or meta-analysis"),
        (CLINICIAN, "They found glutamine supplementation significantly improved", "study", "systematic review or meta-analysis"),
        (CLINICIAN, "I had a patient last year", "anecdote", None),
        (CLINICIAN, "She also reported 70% fewer bloating episodes.", "anecdote", None),
        (CLINICIAN, "Typical dose: 5-15 grams daily, divided", "recommendation", None),
        (CLINICIAN, "For gut health: Start with 5 grams twice daily", "recommendation", None),
        (CLINICIAN, "Bipolar disorder: Case reports suggest", "caution", "observational or case report"),
        (CLINICIAN, "I had a patient—a 58-year-old with compensated cirrhosis", "caution", None),
        (CLINICIAN, "Who Should Absolutely Avoid Glutamine", "background", None),
        (RESEARCH, "Exercise recovery | Mixed | Athletes, resistance trainers", "background", None),
        (RESEARCH, "Glutamine is a conditionally essential amino acid", "background", None),
        (RESEARCH, "Some studies report modest benefits in these areas", "study", "randomized trial"),
    ],
)
def test_known_sentences_carry_their_label_in_the_index(answerer, doc_id, text, kind, design):
    store = answerer.store
    assert store.sentence_evidence(sentence_number(store, doc_id, text)) == (kind, design)


def test_the_index_labels_meet_the_issue_targets_on_the_hand_labels(answerer):
    """The labels a fresh build stores, scored against every hand-labelled sentence of the articles."""
    store = answerer.store
    gold = load_hand_labels(ARTICLE_LABELS)
    by_span = {}
    for sentence in range(len(store.sentence_doc)):
        doc = store.documents[store.sentence_doc[sentence]]
        by_span[(doc.doc_id, int(store.sentence_start[sentence]), int(store.sentence_end[sentence]))] = store.sentence_evidence(sentence)
    assert {(g.doc_id, g.start, g.end) for g in gold} == set(by_span), "every sentence is hand-labelled, once"
    predicted = [by_span[(g.doc_id, g.start, g.end)] for g in gold]
    score = EvidenceScore("articles", gold, [kind for kind, _ in predicted], [design for _, design in predicted])
    assert score.accuracy >= TARGET_ACCURACY
    per_kind = score.per_kind()
    for kind, bar in TARGET_PRECISION.items():
        assert per_kind[kind][0] >= bar, kind


def test_a_span_takes_the_first_kind_in_priority_order(answerer):
    store = answerer.store
    story = sentence_number(store, CLINICIAN, "I had a patient last year")
    review = sentence_number(store, CLINICIAN, "A 2023 systematic review")
    found = sentence_number(store, CLINICIAN, "They found glutamine")
    doc = store.doc_index[CLINICIAN]
    # review + result + the background sentences after them up to the story: study wins over background and anecdote.
    start, end = int(store.sentence_start[review]), int(store.sentence_end[story])
    assert store.span_evidence(doc, start, end) == ("study", "systematic review or meta-analysis")
    assert store.span_evidence(doc, int(store.sentence_start[story]), int(store.sentence_end[story])) == ("anecdote", None)
    assert store.span_evidence(doc, int(store.sentence_start[found]), int(store.sentence_start[found])) == (
        "study",
        "systematic review or meta-analysis",
    )
    # The contraindication list and the cirrhosis story: caution wins over anecdote.
    item = sentence_number(store, CLINICIAN, "Liver disease: Glutamine metabolism")
    cirrhosis = sentence_number(store, CLINICIAN, "I had a patient—a 58-year-old")
    assert store.span_evidence(doc, int(store.sentence_start[item]), int(store.sentence_end[cirrhosis]))[0] == "caution"


def test_every_passage_has_the_evidence_of_its_highlight(answerer):
    answer = answerer.run("How much glutamine should I take for gut health?", top_k=5)
    assert not answer.abstained and answer.passages
    store = answerer.store
    for passage in answer.passages:
        assert passage.evidence.kind in EVIDENCE_KINDS and passage.evidence.design in EVIDENCE_DESIGNS
        doc = store.doc_index[passage.doc_id]
        start, end = passage.highlight_start, passage.highlight_end
        if end <= start:
            start, end = passage.start, passage.end
        assert (passage.evidence.kind, passage.evidence.design) == store.span_evidence(doc, start, end)
    # The answer holds the advice ("Start with 5 grams twice daily") and what the research uses:
    # study comes first in the priority order.
    assert "Start with 5 grams" in answer.answer and "The research typically uses" in answer.answer
    assert answer.passages[0].evidence.kind == "study"


# Dev questions about effectiveness whose best-scoring sentence is an anecdote while a study
# sentence scores within the margin (found by `verbatim eval --evidence`, d120). With the base
# model these were q063 and d107; the embedder adapted to the corpus (issue 21) already ranks a
# study first for both, so the rule no longer changes them.
ANECDOTE_WINS_WITHOUT_THE_RULE = [
    pytest.param(
        "Does glutamine work the same for everyone?",
        # the pair ranker quotes a non-anecdote sentence here, so the rule moves no eval answer
        marks=PAIR_CHOICE_REGRESSION,
    ),
]


@pytest.mark.parametrize("question", ANECDOTE_WINS_WITHOUT_THE_RULE)
def test_an_anecdote_gives_way_to_a_study_of_similar_score(answerer, question):
    policy = answerer.evidence_policy
    assert policy.asks_effect_or_dose(answerer.prepare(question).normalised)
    with_rule = answerer.run(question)
    answerer.evidence_policy = dataclasses.replace(policy, preferred=frozenset())
    try:
        without_rule = answerer.run(question)
    finally:
        answerer.evidence_policy = policy
    assert without_rule.passages[0].evidence.kind == "anecdote"
    assert with_rule.passages[0].evidence.kind in ("study", "recommendation")
    assert with_rule.answer != without_rule.answer


def test_an_anecdote_still_answers_a_question_about_the_anecdote(answerer):
    answer = answerer.run("How old was the IBS patient and what did she do for work?")
    assert not answerer.evidence_policy.asks_effect_or_dose(answerer.prepare(answer.question).normalised)
    assert "42-year-old teacher" in answer.answer
    assert answer.passages[0].evidence.kind == "anecdote"
