"""The answer path on the seed corpus: verbatim answers, units, typos, abstention, sources."""

from __future__ import annotations

import pytest

from qa.retriever import RetrievalMode
from qa.training.dataset import load_questions
from qa.tunables import TUNABLES
from tests.qa.regressions import ADAPTATION_REGRESSION, PAIR_CHOICE_REGRESSION


def _check_invariants(answerer, answer):
    documents = {d.doc_id: d for d in answerer.store.documents}
    if answer.abstained:
        assert answer.answer == "" and answer.passages == []
        return
    first = answer.passages[0]
    for passage in answer.passages:
        assert documents[passage.doc_id].text[passage.start : passage.end] == passage.quote
        assert passage.start <= passage.highlight_start <= passage.highlight_end <= passage.end
    assert answer.answer in first.quote
    assert documents[first.doc_id].text[answer.answer_start : answer.answer_end] == answer.answer
    assert first.doc_id == answer.answer_doc_id
    spans = [(p.doc_id, p.start, p.end) for p in answer.passages]
    for index, (doc, start, end) in enumerate(spans):
        for other_doc, other_start, other_end in spans[index + 1 :]:
            assert doc != other_doc or end <= other_start or other_end <= start, "no passage is shown twice"


def test_offsets_hold_for_every_eval_question(answerer):
    for question in load_questions(split="dev")[::3]:
        for mode in RetrievalMode:
            _check_invariants(answerer, answerer.run(question.question, top_k=5, mode=mode))


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How much glutamine should I take for gut health?", "5 grams twice daily"),
        ("What is the typical dose of glutamine?", "5-15 grams daily"),
        ("How long until I see results for gut issues?", "8-12 weeks"),
        ("Does glutamine help with weight loss?", "virtually non-existent"),
        ("How much did muscle soreness drop in the 2024 meta-analysis?", "15%"),
        ("Which cells rely on glutamine as their main fuel in the gut?", "enterocytes"),
        ("what is the best form of glutamine to buy", "Pure L-glutamine powder"),
        ("Is glutamine an essential amino acid?", "Conditionally essential"),
        ("Can glutamine replace my IBD medication?", "No. Absolutely not."),
    ],
)
def test_known_facts_are_quoted(answerer, question, expected):
    answer = answerer.run(question)
    assert not answer.abstained
    assert expected.casefold() in answer.answer.casefold()  # as the eval matches gold facts


def test_a_faq_question_is_never_its_own_answer(answerer):
    answer = answerer.run("Is glutamine safe long-term?")
    assert not answer.abstained
    assert answer.answer.strip() != "Is glutamine safe long-term?"
    assert "16 weeks" in answer.answer


@pytest.mark.parametrize("question", ["How much glutamine should I take?", "how much should you take"])
def test_a_sentence_that_asks_is_never_the_answer(answerer, question):
    # The clinician's "Okay, so how much should you take?" restates these questions word for word.
    answer = answerer.run(question)
    assert not answer.abstained
    assert not answer.answer.rstrip().endswith("?")
    assert "how much should you take" not in answer.answer


def test_a_faq_answer_keeps_its_verdict_only_for_its_own_question(answerer):
    from qa.extractor import ScoredSentence

    extractor, store = answerer._require().extractor, answerer.store
    text = next(d.text for d in store.documents if d.doc_id == "glutamine-clinician-guide")
    verdict = text.index("No. Absolutely not.")
    after_verdict = (s for s in range(len(store.sentence_start)) if int(store.sentence_start[s]) > verdict)
    sentence = next(s for s in after_verdict if store.sentence_text(s).startswith("Glutamine can be"))
    ranked = [ScoredSentence(sentence, 1.0, 0.0, 0.0, 0.0, 0)]
    first, _ = extractor._unit(extractor.unit_ranking(ranked), restates_pointer=True)
    assert int(store.sentence_start[first]) == verdict
    first, last = extractor._unit(extractor.unit_ranking(ranked), restates_pointer=False)
    assert int(store.sentence_start[first]) > verdict and first <= sentence <= last
    # End to end: the FAQ's own question gets the verdict.
    assert answerer.run("Can glutamine replace my IBD meds?").answer.startswith("No. Absolutely not.")


@pytest.mark.parametrize(
    "question", ["Can glutamine help with IBS?", "Is glutamine good for IBD?", "Can I stop my IBS meds and use glutamine instead?"]
)
def test_a_verdict_is_not_quoted_for_a_question_that_only_resembles_its_faq_question(answerer, question):
    # These resemble "Can glutamine replace my medications for IBD or IBS?" (cosine 0.83-0.87) but
    # do not ask it in its words; "No. Absolutely not." would tell them glutamine does not help IBS.
    answer = answerer.run(question)
    assert not answer.abstained
    assert "No. Absolutely not." not in answer.answer
    assert "helpful adjunct therapy" in answer.answer


def test_typos_and_shorthand_are_normalised_before_embedding(answerer):
    assert answerer.prepare("whats the reccomended dosege of glutamin").normalised == "whats the recommend dose of glutamine"
    assert answerer.prepare("how mutch shud u take lol").normalised == "how much should you take"
    assert answerer.prepare("Is glutamine safe?").normalised == "Is glutamine safe?"
    # Shorthand holding a digit is one word; numbers next to units stay as typed.
    assert answerer.prepare("how long b4 glutamine works").normalised == "how long before glutamine works"
    assert answerer.prepare("wen should i take 5g").normalised == "when should i take 5g"
    assert answerer.prepare("is vitamin b12 needed").normalised == "is vitamin b12 needed"
    # "per" appears nowhere in the sources; "how much glutamine per day" used to abstain for it.
    assert answerer.prepare("how much glutamine per day").normalised == "how much glutamine daily"
    assert not answerer.run("how much glutamine per day").abstained
    # Idioms read as the sources' plain words; "going off glutamine" (stopping it) is left alone.
    assert answerer.prepare("Can I take it on an empty stomach?").normalised == "Can I take it away from meals?"
    assert answerer.prepare("does it go bad in water").normalised == "does it degrade in water"
    assert answerer.prepare("what happens if I go off glutamine").normalised == "what happens if I go off glutamine"
    # A word the sources never use is fixed against everyday English; slang is left as typed.
    assert answerer.prepare("what foods have it natrually").normalised == "what foods have it naturally"
    assert answerer.prepare("does it make you swole").normalised == "does it make you swole"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("whats the reccomended dosege of glutamin for gut helth?", "grams"),
        ("how long til glutamine works for gut issus", "4 weeks"),
        ("is capsuls or powdr better for glutamine", "Capsules often contain fillers"),
        # Idioms: both abstained while "empty" and "bad", words the sources never use, counted.
        ("Can I take glutamine on an empty stomach?", "away from meals"),
        ("Does glutamine go bad in water?", "degrades in liquid form"),
    ],
)
def test_typos_and_idioms_are_answered(answerer, question, expected):
    answer = answerer.run(question)
    assert not answer.abstained
    assert expected in answer.answer


@pytest.mark.parametrize(
    "question",
    [
        pytest.param("does cheese have glutamine?", marks=ADAPTATION_REGRESSION),
        "Is there glutamine in chicken?",
        "do lentils contain glutamine",
        pytest.param("can I get glutamine from rice", marks=ADAPTATION_REGRESSION),
    ],
)
def test_a_food_the_sources_never_name_is_answered_by_its_food_group(answerer, question):
    answer = answerer.run(question)
    assert not answer.abstained
    assert "(meat, fish, poultry, dairy, eggs)" in answer.answer


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "How do I make a sourdough starter?",
        "Who won the 2018 FIFA World Cup?",
        "Write me a short poem about autumn.",
    ],
)
def test_out_of_domain_questions_abstain(answerer, question):
    answer = answerer.run(question)
    assert answer.abstained
    assert answer.reason


@pytest.mark.parametrize(
    ("question", "reason"),
    [
        # Both words are missing from the sources; the one the question is about comes first.
        ("Is glutamine better than whey?", "the sources never mention: whey, better"),
        ("Does glutamine stop snoring?", "the sources never mention: snoring, stop"),
        # Foods of no group the sources name, and foods that are no question about food.
        ("is there glutamine in spinach?", "the sources never mention: spinach"),
        ("does almond milk contain glutamine?", "the sources never mention: almond, milk"),
        ("Is L-glutamine halal?", "the sources never mention: halal"),
        # "disease" belongs to the name before it, which the sources never use: their "Liver
        # disease" line does not answer these.
        ("Does glutamine help with sickle cell disease?", "the sources never mention: sickle, cell, disease"),
        ("Does glutamine help with Lyme disease?", "the sources never mention: lyme, disease"),
        # "chicken" reads as the sources' "poultry", once: the rest is still unknown.
        ("how many calories are in chicken breast", "the sources never mention: calories, breast"),
        ("¿Cuánta glutamina debo tomar?", "the sources are in English and the question looks like Spanish"),
        ("hello", "the message names nothing to look up in the sources"),
        ("Thanks!", "the message names nothing to look up in the sources"),
        ("What can you tell me about?", "the message names nothing to look up in the sources"),
    ],
)
def test_an_abstention_says_why(answerer, question, reason):
    answer = answerer.run(question)
    assert answer.abstained
    assert answer.reason == reason


@PAIR_CHOICE_REGRESSION  # the other source's passage no longer shows beside the quoted answer
def test_the_other_source_is_shown_when_it_speaks_to_the_question(answerer):
    answer = answerer.run("How does glutamine support the immune system?", top_k=3)
    assert not answer.abstained
    assert {p.doc_id for p in answer.passages} == {"glutamine-benefits-research", "glutamine-clinician-guide"}


def test_a_list_question_quotes_the_list_item(answerer):
    answer = answerer.run("Why is glutamine a problem for people with liver disease?")
    assert "ammonia" in answer.answer


def test_a_sentence_that_resembles_the_whole_corpus_is_ranked_down(answerer):
    components, store = answerer._require(), answerer.store
    query = answerer.prepare("What are the cells lining the small intestine called?")
    retrieved = components.retriever.run(query, top_k=TUNABLES.retrieval.depth)
    before = components.extractor.score_sentences(query, retrieved)
    winner = before[0]
    assert "enterocytes" in store.sentence_text(winner.sentence)
    original = store.sentence_hubness
    try:
        store.sentence_hubness = original.copy()
        store.sentence_hubness[winner.sentence] = original.max() + 1.0
        after = components.extractor.score_sentences(query, retrieved)
    finally:
        store.sentence_hubness = original
    rescored = next(candidate for candidate in after if candidate.sentence == winner.sentence)
    weight = answerer.calibration.ranker.weights["hubness"]
    assert weight < 0
    expected_drop = -weight * (original.max() + 1.0 - original[winner.sentence])
    assert winner.score - rescored.score == pytest.approx(expected_drop, rel=1e-6)
    assert after[0].sentence != winner.sentence


def _paragraph_of_at_least(store, sentences):
    from verbatim.index_format import BlockKind

    for block in range(len(store.block_kind)):
        members = store.block_sentences(block)
        if store.block_kind_of(block) == BlockKind.PARAGRAPH and len(members) >= sentences:
            return members
    raise AssertionError(f"no paragraph of {sentences} sentences in the seed corpus")


def test_the_two_best_sentences_close_together_are_quoted_as_one_span(answerer):
    from qa.extractor import ScoredSentence

    extractor, store = answerer._require().extractor, answerer.store
    members = _paragraph_of_at_least(store, 5)
    winner = members.start + 3

    def ranked(runner_up):
        # Only the order matters to the answer unit: winner first, runner-up second.
        return [ScoredSentence(s, 10.0 - rank, 0.0, 0.0, 0.0, 0) for rank, s in enumerate((winner, runner_up))]

    first, last = extractor._unit(extractor.unit_ranking(ranked(winner - 2)), restates_pointer=False)
    assert first == winner - 2 and last >= winner
    first, last = extractor._unit(extractor.unit_ranking(ranked(winner + 1)), restates_pointer=False)
    assert first <= winner and last == winner + 1
    # Three sentences away, or in another paragraph, the runner-up is not quoted.
    first, last = extractor._unit(extractor.unit_ranking(ranked(winner - 3)), restates_pointer=False)
    assert first > winner - 3
    other = members.stop if members.stop < len(store.sentence_block) else members.start - 1
    first, last = extractor._unit(extractor.unit_ranking(ranked(other)), restates_pointer=False)
    assert members.start <= first <= last < members.stop


def test_a_question_answered_across_two_adjacent_sentences_quotes_both(answerer):
    answer = answerer.run("How abundant is glutamine in the human body?")
    assert "one of the most abundant amino acids" in answer.answer


def test_top_k_bounds_the_passages(answerer):
    for top_k in (1, 2, 5):
        answer = answerer.run("What does glutamine do for the gut?", top_k=top_k)
        assert 1 <= len(answer.passages) <= top_k


@pytest.mark.parametrize(
    ("question", "missing"),
    [
        ("In what year was glutamine first sold as a supplement?", "year"),
        ("How much does a bottle of glutamine cost?", "price"),
        ("Which country produces the most glutamine?", "country"),
        ("Should I take more glutamine in winter than in summer?", "season"),
        ("How many grams of glutamine per kg should a 90 kg lifter take?", "dose per body weight"),
    ],
)
def test_a_question_for_a_kind_of_fact_the_sources_never_give_abstains(answerer, question, missing):
    answer = answerer.run(question)
    assert answer.abstained
    assert answer.passages == []
    assert answer.reason == f"the sources give no {missing} for this"


@pytest.mark.parametrize(
    ("question", "not_missing"),
    [
        ("What time of day should I take glutamine?", "season"),
        ("I'm cutting for summer, is glutamine worth it?", "season"),
        ("Can glutamine help me lose a pound a week?", "dose per body weight"),
        ("Does glutamine change your body weight?", "dose per body weight"),
    ],
)
def test_naming_a_season_or_a_weight_is_not_asking_for_one(answerer, question, not_missing):
    answer = answerer.run(question)
    assert answer.reason != f"the sources give no {not_missing} for this"


def test_a_time_of_day_question_is_answered(answerer):
    answer = answerer.run("What time of day should I take glutamine?")
    assert not answer.abstained
    assert answer.reason is None


def test_a_dose_question_is_not_mistaken_for_a_price_question(answerer):
    answer = answerer.run("How much glutamine should I take for gut health?")
    assert not answer.abstained
    assert "grams" in answer.answer


def test_a_pronoun_in_a_label_is_not_evidence(answerer):
    # "Brands I trust:" shares only "I" with "Can I take glutamine at night?"; "Who should avoid:"
    # still matches the "who" of a who-question.
    from qa.extractor import RANKER_FEATURES

    components, store = answerer._require(), answerer.store
    column = RANKER_FEATURES.index("label_lexical")

    def label_lexical(question, label_start):
        query = answerer.prepare(question)
        sentences, _, scores, dense = components.extractor.candidates(components.retriever.run(query, top_k=TUNABLES.retrieval.depth))
        features = components.extractor.features(query, sentences, scores, dense)
        row = next(i for i, s in enumerate(sentences) if store.sentence_text(int(s)).startswith(label_start))
        return features[row, column]

    assert label_lexical("Can I take glutamine at night? Which brands?", "Brands I trust:") > 0  # "brands"
    assert label_lexical("Can I take glutamine at night?", "Brands I trust:") == 0
    assert label_lexical("Who should avoid glutamine?", "Who should avoid:") > 0


def test_a_paragraph_ending_on_a_colon_brings_what_it_announces(answerer):
    answer = answerer.run("Why do study results on glutamine differ?")
    assert not answer.abstained
    assert "Several factors drive this variability:" in answer.answer
    assert not answer.answer.rstrip().endswith(":")
    assert "Baseline glutamine status is probably the most important." in answer.answer
