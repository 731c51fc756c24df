"""The answer ranker's features (qa/extractor.py ``features``), column by column, and the unit a
winning sentence expands into (``_unit``), on a small synthetic index without the model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qa.calibration import LinearModel
from qa.extractor import RANKER_FEATURES, AnswerExtractor, ScoredSentence
from qa.tunables import TUNABLES
from tests.qa.synthetic import Block, build_store, query
from verbatim.index_format import BlockKind as K

# Sentence numbers of the synthetic guide (one axis each).
HEADING, DOSE, LEANS, SHORT_STUDY, FAQ, VERDICT, VERDICT_MORE, LEAD_IN, ITEM_A, ITEM_B, LABEL, ROW, OTHER = range(13)


@pytest.fixture(scope="module")
def store():
    return build_store(
        {
            "guide": [
                Block(K.HEADING, ["Dosage"]),
                Block(K.PARAGRAPH, ["Take 5 grams of glutamine twice daily with water.",
                                    "This dose suits most adults who train hard.",
                                    "A trial agreed."], topics=[0, 2, 0], hubness=[0.1, 0.4, 0.2]),
                Block(K.FAQ_QUESTION, ["Can glutamine replace my medication?"]),
                Block(K.PARAGRAPH, ["No. Absolutely not.", "Glutamine is a supplement, not a treatment for disease."], pointer=FAQ),
                Block(K.LEAD_IN, ["Good food sources include:"]),
                Block(K.LIST_ITEM, ["Beef and chicken"], pointer=LEAD_IN),
                Block(K.LIST_ITEM, ["Eggs and dairy products"], pointer=LEAD_IN),
                Block(K.LABEL_VALUE, ["Typical dose: 5-15 grams daily, divided"]),
                Block(K.TABLE_ROW, ["Sleep | 2 grams | before bed"]),
            ],
            "other": [Block(K.PARAGRAPH, ["Creatine is a different supplement altogether?"])],
        },
        topic_ids=("kidney", "cancer"),
    )


@pytest.fixture(scope="module")
def extractor(store):
    return AnswerExtractor(store, LinearModel(0.0, dict.fromkeys(RANKER_FEATURES, 0.0)))


def _features(extractor, question, weights, safety_question=False):
    sentences = np.arange(len(extractor.store.sentence_doc))
    chunk_scores = np.linspace(0.1, 0.9, len(sentences))
    chunk_dense = np.linspace(0.9, 0.1, len(sentences))
    matrix = extractor.features(query(question, weights), sentences, chunk_scores, chunk_dense, safety_question)
    return {name: matrix[:, position] for position, name in enumerate(RANKER_FEATURES)}, chunk_scores, chunk_dense


def _share(store, question_terms, sentence_terms):
    weights = {term: store.idf(term) for term in set(question_terms)}
    return sum(w for t, w in weights.items() if t in sentence_terms) / (sum(weights.values()) or 1.0)


def test_every_column_is_tested_here():
    tested = {
        "dense", "dense_best", "heading_sim", "pointer_sim", "pointer_strong", "previous_sim", "next_sim",
        "safety_content", "safety_content_for_safety_question", "chunk_score", "chunk_dense", "hubness", "lexical",
        "lexical_context", "previous_lexical", "echo", "is_question", "label_lexical", "is_label", "is_list_item",
        "is_table_row", "is_faq_answer", "is_short", "log_chars", "first_in_block", "answer_type",
    }
    assert tested == set(RANKER_FEATURES)


def test_similarity_columns(extractor):
    # 3:4 on two sentences gives them similarities 0.6 and 0.8; the pointer FAQ question gets 0.
    columns, _, _ = _features(extractor, "how much glutamine", {DOSE: 3.0, LEANS: 4.0, HEADING: 0.0})
    expected_dense = np.zeros(13)
    expected_dense[[DOSE, LEANS]] = [0.6, 0.8]
    assert columns["dense"] == pytest.approx(expected_dense)
    assert list(np.flatnonzero(columns["dense_best"])) == [LEANS]
    # previous / next: the neighbour in the same block only.
    assert columns["previous_sim"][LEANS] == pytest.approx(0.6) and columns["next_sim"][DOSE] == pytest.approx(0.8)
    assert columns["previous_sim"][DOSE] == 0.0  # first of its block: its predecessor is the heading block
    assert columns["next_sim"][SHORT_STUDY] == 0.0


def test_heading_and_pointer_columns(extractor):
    columns, _, _ = _features(extractor, "dosage", {HEADING: 0.6, FAQ: 0.8})
    # Every sentence after the heading hangs from it (one section per synthetic document).
    assert columns["heading_sim"][DOSE] == pytest.approx(0.6) and columns["heading_sim"][ROW] == pytest.approx(0.6)
    assert columns["heading_sim"][HEADING] == 0.0 and columns["heading_sim"][OTHER] == 0.0
    assert columns["pointer_sim"][VERDICT] == pytest.approx(0.8) and columns["pointer_sim"][VERDICT_MORE] == pytest.approx(0.8)
    assert columns["pointer_sim"][DOSE] == 0.0
    assert columns["pointer_strong"][VERDICT] == pytest.approx(0.8 - TUNABLES.extraction.strong_pointer)
    weak, _, _ = _features(extractor, "dosage", {FAQ: 0.7, DOSE: 0.714})
    assert weak["pointer_sim"][VERDICT] == pytest.approx(0.7 / math.hypot(0.7, 0.714)) and weak["pointer_strong"][VERDICT] == 0.0


def test_passed_through_columns(extractor, store):
    columns, chunk_scores, chunk_dense = _features(extractor, "glutamine", {DOSE: 1.0}, safety_question=True)
    assert columns["chunk_score"] == pytest.approx(chunk_scores) and columns["chunk_dense"] == pytest.approx(chunk_dense)
    assert columns["hubness"] == pytest.approx(store.sentence_hubness)
    assert list(np.flatnonzero(columns["safety_content"])) == [LEANS]
    assert list(np.flatnonzero(columns["safety_content_for_safety_question"])) == [LEANS]
    not_safety, _, _ = _features(extractor, "glutamine", {DOSE: 1.0}, safety_question=False)
    assert not not_safety["safety_content_for_safety_question"].any() and not_safety["safety_content"][LEANS] == 1.0


def test_lexical_columns(extractor, store):
    question = "how many grams of glutamine for adults"
    columns, _, _ = _features(extractor, question, {DOSE: 1.0})
    terms = query(question, {}).terms
    for sentence in range(13):
        assert columns["lexical"][sentence] == pytest.approx(_share(store, terms, store.sentence_terms(sentence)))
    assert columns["lexical"][DOSE] > 0 and columns["lexical"][OTHER] == 0.0
    # The context adds the heading's and the pointer's terms; the previous sentence's own share.
    context = store.sentence_terms(LEANS) | store.sentence_terms(HEADING)
    assert columns["lexical_context"][LEANS] == pytest.approx(_share(store, terms, context))
    assert columns["previous_lexical"][LEANS] == pytest.approx(columns["lexical"][DOSE])
    assert columns["previous_lexical"][DOSE] == 0.0
    dosage, _, _ = _features(extractor, "dosage", {DOSE: 1.0})
    assert dosage["lexical"][DOSE] == 0.0 and dosage["lexical_context"][DOSE] == pytest.approx(1.0)


def test_echo_and_label_columns(extractor, store):
    question = "typical dose of glutamine"
    columns, _, _ = _features(extractor, question, {LABEL: 1.0})
    question_terms = set(query(question, {}).terms)
    for sentence in range(13):
        terms = store.sentence_terms(sentence)
        assert columns["echo"][sentence] == pytest.approx(len(terms & question_terms) / len(terms) if terms else 0.0)
    assert list(np.flatnonzero(columns["is_label"])) == [LABEL]
    # "Typical dose" holds two of the three question terms ("typic", "dose" of "typic", "dose", "glutamin").
    assert columns["label_lexical"][LABEL] == pytest.approx(_share(store, question_terms, {"typic", "dose"}))
    assert columns["label_lexical"][LABEL] > 0 and not columns["label_lexical"][np.arange(13) != LABEL].any()


def test_structure_columns(extractor, store):
    columns, _, _ = _features(extractor, "glutamine", {DOSE: 1.0})
    assert list(np.flatnonzero(columns["is_question"])) == [FAQ, OTHER]
    assert list(np.flatnonzero(columns["is_list_item"])) == [ITEM_A, ITEM_B]
    assert list(np.flatnonzero(columns["is_table_row"])) == [ROW]
    assert list(np.flatnonzero(columns["is_faq_answer"])) == [VERDICT, VERDICT_MORE]
    lengths = [len(store.sentence_text(sentence)) for sentence in range(13)]
    assert columns["log_chars"] == pytest.approx([math.log(1 + length) for length in lengths])
    assert list(columns["is_short"]) == [float(length < extractor.config.short_sentence_chars) for length in lengths]
    firsts = [HEADING, DOSE, FAQ, VERDICT, LEAD_IN, ITEM_A, ITEM_B, LABEL, ROW, OTHER]
    assert list(np.flatnonzero(columns["first_in_block"])) == firsts


@pytest.mark.parametrize(
    ("question", "shaped"),
    [
        ("how much should I take", {DOSE, LABEL, ROW}),  # an amount: a digit
        ("when should I take it", {DOSE, LABEL, ROW}),  # a time: "twice", "daily", "before bed"
        ("who should take it", {LEANS}),  # a person or group: "adults"
        ("is it safe", set()),  # no answer type asked: the column stays 0
    ],
)
def test_answer_type_column(extractor, question, shaped):
    columns, _, _ = _features(extractor, question, {DOSE: 1.0})
    assert set(np.flatnonzero(columns["answer_type"])) == shaped


def _scored(sentence, score):
    return ScoredSentence(sentence=sentence, score=score, dense=0.0, lexical=0.0, context=0.0, chunk=0)


def _unit(extractor, ranked, restates_pointer):
    return extractor._unit(extractor.unit_ranking(ranked), restates_pointer)


def test_unit_brings_the_sentence_a_short_or_leaning_one_rests_on(extractor):
    assert _unit(extractor, [_scored(DOSE, 1.0)], False) == (DOSE, DOSE)
    assert _unit(extractor, [_scored(LEANS, 1.0)], False) == (DOSE, LEANS)  # "This dose ..."


def test_unit_ranking_holds_what_the_unit_reads_of_the_ranking(extractor):
    ranking = extractor.unit_ranking([_scored(ITEM_A, 1.0), _scored(ITEM_B, 0.99), _scored(DOSE, 0.5), _scored(LABEL, 0.1)])
    assert (ranking.best, ranking.runner_up, ranking.list_sibling) == (ITEM_A, ITEM_B, ITEM_B)
    assert ranking.close == frozenset([ITEM_A, ITEM_B, DOSE, LABEL][: TUNABLES.extraction.neighbour_rank])
    # The sibling item further than list_margin below the winner: no whole list.
    far = [_scored(ITEM_A, 1.0), _scored(ITEM_B, 1.0 - TUNABLES.extraction.list_margin - 0.01)]
    assert extractor.unit_ranking(far).list_sibling is None
    assert _unit(extractor, far, False) == (ITEM_A, ITEM_A)
    # A lone candidate has no runner-up; scores and the order below the top ones do not count.
    assert TUNABLES.extraction.neighbour_rank <= 3  # the places swapped below are not among the top ones
    assert extractor.unit_ranking([_scored(DOSE, 3.0)]) == extractor.unit_ranking([_scored(DOSE, 1.0)])
    assert extractor.unit_ranking([_scored(DOSE, 1.0)]).runner_up is None
    assert extractor.unit_ranking(
        [_scored(DOSE, 1.0), _scored(LEANS, 0.0), _scored(LABEL, -1.0), _scored(ROW, -2.0), _scored(ITEM_A, -3.0)]
    ) == extractor.unit_ranking(
        [_scored(DOSE, 1.0), _scored(LEANS, 0.0), _scored(LABEL, -1.0), _scored(ITEM_A, -2.0), _scored(ROW, -3.0)]
    )


def test_unit_of_list_label_row_and_faq_answer(extractor):
    # A list item alone, or the whole list when the runner-up is its sibling and scores close.
    assert _unit(extractor, [_scored(ITEM_A, 1.0), _scored(DOSE, 0.0)], False) == (ITEM_A, ITEM_A)
    whole_list = _unit(extractor, [_scored(ITEM_A, 1.0), _scored(ITEM_B, 0.99)], False)
    assert whole_list == (LEAD_IN, ITEM_B)
    assert _unit(extractor, [_scored(LABEL, 1.0)], False) == (LABEL, LABEL)
    assert _unit(extractor, [_scored(ROW, 1.0)], False) == (ROW, ROW)
    # A FAQ answer is quoted whole only for a question that restates its FAQ question.
    assert _unit(extractor, [_scored(VERDICT_MORE, 1.0)], True) == (VERDICT, VERDICT_MORE)
    assert _unit(extractor, [_scored(VERDICT_MORE, 1.0)], False)[1] == VERDICT_MORE
