"""Safety policy: the one disclaimer, every topic, paraphrases, typos, near-misses, evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.safety import SafetyChecker
from tests.qa.regressions import ADAPTATION_REGRESSION
from verbatim.index_format import BlockKind
from verbatim.safety_policy import SafetyPolicy

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def policy() -> SafetyPolicy:
    return SafetyPolicy.load()


def test_disclaimer_text_lives_only_in_the_policy_file(policy):
    holders = []
    for path in REPO.rglob("*"):
        if not path.is_file() or any(part in {".git", ".venv", "index", "reports", "__pycache__", ".cache"} for part in path.parts):
            continue
        if path.suffix not in {".py", ".toml", ".html", ".js", ".css", ".md", ".txt", ".json", ".jsonl"}:
            continue
        if policy.disclaimer in path.read_text(encoding="utf-8", errors="ignore"):
            holders.append(path.relative_to(REPO).as_posix())
    assert holders == ["verbatim/safety_policy.toml"]


def test_disclaimer_says_what_it_must(policy):
    text = policy.disclaimer.lower()
    assert "not medical advice" in text
    assert "doctor or pharmacist" in text
    assert "unsafe" in text and "medicines" in text


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Can I take glutamine if I have liver disease?", "liver-disease"),
        ("Is glutamine safe with kidney disease?", "kidney-disease"),
        ("Should people with cancer avoid glutamine?", "cancer"),
        ("Is glutamine safe for people with bipolar disorder?", "bipolar-disorder"),
        ("Does glutamine interact with lactulose?", "medications"),
        ("Who should avoid glutamine?", "general"),
        ("Is glutamine safe during pregnancy?", "pregnancy"),
        ("What are the side effects of glutamine?", "side-effects"),
        ("Is glutamine okay with high blood pressure?", "heart-and-circulation"),
        # Children by age or school, everyday medicines and chronic conditions.
        ("is glutamine ok for my teenage son", "children"),
        ("Can I give glutamine to my 8 yo?", "children"),
        ("should a 15-year-old athlete use glutamine", "children"),
        ("is it fine for high schoolers to take glutamine", "children"),
        ("I take warfarin, can I take glutamine", "medications"),
        ("does glutamine interact with my antidepressants", "medications"),
        ("I have diabetes, is glutamine okay", "general"),
        ("I'm having surgery next week, should I stop glutamine?", "general"),
        ("is glutamine bad for people with gout?", "general"),
        ("i have ulcerative colitis and take mesalamine, can glutamine replace it", "medications"),
        ("can glutamine mess with my birth control", "medications"),
        ("Im on ozempic can I take glutamine", "medications"),
        ("should my elderly mother with dementia take glutamine?", "general"),
        ("i get migraines, will glutamine trigger them?", "side-effects"),  # plural of a term in -e
        ("I have HIV, can I take glutamine?", "general"),
        ("can i take glutamine with xanax", "medications"),
        ("is glutamine ok for a 16 yr old", "children"),
        ("with my condition should i skip glutamine", "general"),
        ("I take methadone, can I take glutamine?", "medications"),
        ("can glutamine be taken with insulin", "medications"),
        ("i take prozac can i add glutamine", "medications"),
        ("I have sickle cell, can I take glutamine", "general"),
        ("are there any downsides to glutamine", "general"),
        ("I have MS, can I take glutamine?", "general"),
        ("I take Norco for back pain", "medications"),  # missed by the third probe
        ("is glutamine ok with tramadol", "medications"),
    ],
)
def test_each_topic_fires_on_its_terms(answerer, question, topic):
    answer = answerer.run(question)
    assert topic in answer.safety_topics
    assert answer.disclaimer == answerer.policy.disclaimer


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("I have cirrhosis, is glutamine okay for me?", "liver-disease"),
        ("I'm on dialysis three times a week, can I use L-glutamine powder?", "kidney-disease"),
        ("I'm going through chemo right now, can I take glutamine for my gut?", "cancer"),
        ("I get manic episodes sometimes, is glutamine a bad idea for me?", "bipolar-disorder"),
        ("I take Keppra for my seizures, is that a problem?", "medications"),
        ("Could glutamine take the place of the drugs I'm on for Crohn's?", "medications"),
        ("I'm 20 weeks along, is glutamine powder okay?", "pregnancy"),
        ("who is glutamine not for", "general"),
    ],
)
def test_paraphrases_without_the_obvious_keyword_fire(answerer, question, topic):
    assert topic in answerer.run(question).safety_topics


@pytest.mark.parametrize(
    ("question", "name", "topic"),
    [
        # Brand names English barely knows.
        ("I take Eliquis, is glutamine ok?", "eliquis", "medications"),
        ("I take Xarelto, can I add glutamine?", "xarelto", "medications"),
        # Known English words whose meaning is a condition or a drug.
        ("i have lupus, should i take glutamine", "lupus", "general"),
        ("I'm on tamoxifen, can I use glutamine", "tamoxifen", "medications"),
        ("I have pernicious anemia", "pernicious anemia", "general"),
        ("my dad has COPD, would glutamine help", "copd", "general"),
        # "disease" alone is a cue word, but it belongs to the name: "graves" alone reads as a place.
        ("I have Graves disease, is glutamine okay", "graves disease", "general"),
        # An acronym names a condition even when its lower-case form is an everyday word.
        ("I have POTS, can I take glutamine", "pots", "general"),
        ("I have GERD", "gerd", "general"),
    ],
)
def test_drugs_and_conditions_the_policy_does_not_list_fire(answerer, question, name, topic):
    query = answerer.prepare(question)
    assert not answerer.policy.match_terms(query.text), "the point is a name the policy does not list"
    triggers = answerer.safety.question_triggers(query, answerer.store)
    assert f"unlisted:{name}" in triggers.get(topic, []), triggers
    assert answerer.run(question).disclaimer == answerer.policy.disclaimer


def test_a_question_full_of_made_up_names_costs_a_bounded_batch(answerer, monkeypatch):
    from qa.tunables import TUNABLES

    MAX_NAMES_PER_QUESTION = TUNABLES.safety.max_names_per_question

    made_up = ", ".join(f"zorblax{chr(97 + i)}{chr(97 + j)}" for i in range(6) for j in range(6))
    query = answerer.prepare(f"I take {made_up}, is glutamine ok?")
    batches = []
    original = answerer.embedder.encode_queries
    monkeypatch.setattr(answerer.embedder, "encode_queries", lambda texts: batches.append(len(texts)) or original(texts))
    triggers = answerer.safety.question_triggers(query, answerer.store)
    assert batches == [MAX_NAMES_PER_QUESTION]
    # Rare words after "I take" are names; only the first few are judged.
    unlisted = [trigger for found in triggers.values() for trigger in found if trigger.startswith("unlisted:")]
    assert len(unlisted) == MAX_NAMES_PER_QUESTION


def test_a_word_judged_in_lower_case_is_judged_again_as_an_acronym(answerer):
    lower = answerer.safety.question_triggers(answerer.prepare("I have pots that need cleaning"), answerer.store)
    assert not any(t.startswith("unlisted:") for found in lower.values() for t in found)
    upper = answerer.safety.question_triggers(answerer.prepare("I have POTS that need cleaning"), answerer.store)
    assert "unlisted:pots" in upper.get("general", [])


def test_acronyms_are_capitals_of_three_to_six_letters_unless_the_question_shouts(policy):
    assert policy.acronyms("I have POTS and PCOS") == {"pots", "pcos"}
    assert policy.acronyms("I take it at 9 PM with my OJ") == frozenset()
    assert policy.acronyms("I HAVE BEANS EVERY DAY DOES THAT HAVE GLUTAMINE") == frozenset()


def test_discussed_topics_are_those_a_subject_word_names(policy):
    supported = frozenset({"cancer", "medications", "liver-disease", "general"})
    assert policy.discussed_topics("I'm on chemo, is glutamine safe?", supported) == {"cancer"}
    # "stop my" frames the question; "mesalamine" names the medicine.
    assert policy.discussed_topics("should I stop my glutamine?", supported) == set()
    assert policy.discussed_topics("can I stop my mesalamine for glutamine?", supported) == {"medications"}
    # Never the catch-all topic, and only topics the sources hold evidence for.
    assert policy.discussed_topics("I have asthma, is glutamine safe?", supported) == set()
    assert policy.discussed_topics("I'm pregnant, is glutamine safe?", supported) == set()


def test_unlisted_candidates_are_runs_of_unusual_words_after_a_personal_cue(policy):
    assert policy.unlisted_candidates("I take Accutane, glutamine?") == [("accutane",), ("glutamine",)]
    assert policy.unlisted_candidates("I have pernicious anemia") == [("pernicious", "anemia")]
    # No cue, or a cue that asks ("should I take"), or only everyday words: nothing to judge.
    assert policy.unlisted_candidates("Is glutamine okay with Eliquis?") == []
    assert policy.unlisted_candidates("Should I take glutamine with Eliquis?") == []
    assert policy.unlisted_candidates("I have a question about the best time") == []


def test_unlisted_candidates_of_a_question_that_names_a_condition_alone(policy):
    # A follow-up that only names a condition ("and sleep apnea?") is read as after a cue.
    assert policy.unlisted_candidates("and sleep apnea?") == []
    assert policy.unlisted_candidates("and sleep apnea?", told=True) == [("sleep", "apnea")]
    assert policy.unlisted_candidates("what about with psoriasis?", told=True) == [("psoriasis",)]
    # Everyday words are still nothing to judge.
    assert policy.unlisted_candidates("and for the best time?", told=True) == []


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("Can I take glutamine with cirosis?", "liver-disease"),
        ("is glutamine safe with bipolor disorder", "bipolar-disorder"),
        ("does glutamine interact with lactulos", "medications"),
    ],
)
def test_misspelt_safety_terms_still_fire(answerer, question, topic):
    assert topic in answerer.run(question).safety_topics


@pytest.mark.parametrize(
    "question",
    [
        "Which organs and cells use the most glutamine?",
        "What is calprotectin?",
        "By how much did the lactulose/mannitol ratio fall in the 2023 review?",
        "Which conditions are associated with increased intestinal permeability?",
        "Do immune cells burn more glutamine when you're sick or after surgery?",
        "At what time of day should glutamine be taken in relation to food?",
        "How much glutamine should I take for gut health?",
        "Why do surgical patients get glutamine in hospitals?",
        "Does glutamine help people recovering from surgery?",
        "How does glutamine affect insulin secretion?",
        "Do the pills have fillers?",
        "What happens to glutamine levels during illness?",
        "Why do older adults have altered glutamine metabolism?",
        "Does glutamine have anything to do with insulin?",
        # Personal questions about everyday things: no drug or condition named.
        "I'm on a vegan diet, where do I get glutamine?",
        "I'm on a budget, which brand is cheapest?",
        "I have tofu and lentils daily, is that enough glutamine?",
        "I take my powder in smoothies, does that work?",
        "I have a sweet tooth, are flavored glutamine powders ok?",
        "I'm on intermittent fasting, when do I take glutamine?",
        "I have kombucha every day, does it have glutamine?",
        # "I take" asked, not told: about glutamine, not about the asker's treatment.
        "how much melatonin should I take for jet lag?",
        # A slip on an everyday word is not a brand name.
        pytest.param("I have stomache isues, will glutamine help?", marks=ADAPTATION_REGRESSION),
    ],
)
def test_near_misses_do_not_fire(answerer, question):
    answer = answerer.run(question)
    assert answer.disclaimer is None, answer.safety_topics
    assert answer.safety_topics == []


@pytest.mark.parametrize(
    "question",
    [
        "Can my 8 years old take glutamine?",
        "Can a 16 y/o take glutamine for sports?",
        "glutamine for my 13yo?",
        "she's 16 y.o. and runs track, can she take glutamine",
        "is glutamine ok for an eight year old",
        "my twelve-year-old plays soccer, should she take glutamine?",
        "I'm 15 and lift weights, how much glutamine should I take?",
        "Can I take glutamine at age 14?",
        "glutamine for 10 year olds",
    ],
)
def test_any_written_age_under_18_is_a_child(policy, question):
    assert "children" in policy.question_topics(question)


@pytest.mark.parametrize(
    "question",
    [
        "I am a 45 year old man, how much glutamine should I take?",
        "I'm 18 years old, when should I take glutamine?",
        "my 30 year old husband takes glutamine, is that ok?",
        # A number after "I'm" that is a height, a weight or a time is not an age.
        "I'm 6 foot and 180 lbs, how much glutamine?",
        "I'm 2 weeks into taking glutamine, when will my gut improve?",
        "I'm 5'10, how much glutamine should I take?",
        "I have been taking glutamine for 5 years, is that ok?",
        "I'm one of those people who gets bloated, will glutamine help?",
    ],
)
def test_an_adult_age_or_another_number_is_not_a_child(policy, question):
    assert "children" not in policy.question_topics(question)


def test_a_question_about_a_child_abstains_because_the_sources_never_discuss_children(answerer):
    answer = answerer.run("Is glutamine safe for my 12 year old?")
    assert answer.abstained
    assert answer.disclaimer == answerer.policy.disclaimer
    assert "children" in answer.safety_topics


@pytest.mark.parametrize(
    ("question", "expected", "topic"),
    [
        # "Can glutamine cause" names the side-effects topic, which the sources never list; the
        # effect asked about is one they do discuss, so the answer is theirs.
        ("Can glutamine cause ammonia buildup?", "produces ammonia", "side-effects"),
        ("Can glutamine cause manic episodes?", "manic episodes", "side-effects"),
        # Both got the clinician's anecdote about a patient with cirrhosis, which resembles a
        # personal question more than the cancer or medicines lines do.
        pytest.param(
            "I'm going through chemo right now, can I take glutamine for my gut?", "might fuel certain tumor types", "cancer",
            marks=ADAPTATION_REGRESSION,
        ),
        ("Can I take glutamine with lamotrigine?", "anti-seizure drugs", "medications"),
    ],
)
def test_a_safety_question_is_answered_from_evidence_on_the_topic_it_names(answerer, question, expected, topic):
    answer = answerer.run(question)
    assert not answer.abstained
    assert expected in answer.answer
    assert answer.disclaimer == answerer.policy.disclaimer
    assert topic in answer.safety_topics


def test_a_framing_phrase_of_a_discussed_topic_does_not_make_an_undiscussed_one_answerable(answerer):
    # "stop my" is a medications term, but it frames the question; its subject is pregnancy.
    answer = answerer.run("we're trying to conceive, should I stop my glutamine?")
    assert answer.abstained
    assert answer.reason == "the sources do not discuss this safety topic"
    assert "pregnancy" in answer.safety_topics


@pytest.mark.parametrize(
    ("question", "reason", "topic"),
    [
        # The sources say who should avoid glutamine, but nothing about the heart.
        ("Does glutamine lower cholesterol?", "the sources do not discuss this safety topic", "heart-and-circulation"),
        ("Can glutamine cause a stroke?", "the sources do not discuss this safety topic", "heart-and-circulation"),
        # "asthma" is a policy term so that it gets the disclaimer; the sources never name it, so it
        # is not a word of theirs (it was, and the lactulose warning answered at 0.89 confidence).
        ("Does glutamine help with asthma?", "the sources never mention: asthma", "general"),
        ("Is glutamine ok for me? I have gout.", "the sources never mention: gout", "general"),
        # A name of several words is theirs only if all its words are: "heavy" alone would pass
        # (as "heavily").
        ("I'm a heavy drinker, is glutamine ok?", "the sources never mention: drinker, heavy", "general"),
    ],
)
def test_a_condition_the_sources_never_discuss_is_not_covered_by_their_safety_section(answerer, question, reason, topic):
    # The honest answer is an abstention that still carries the disclaimer.
    answer = answerer.run(question)
    assert answer.abstained
    assert answer.reason == reason
    assert answer.disclaimer == answerer.policy.disclaimer
    assert topic in answer.safety_topics


def test_disclaimer_is_added_when_abstaining(answerer):
    answer = answerer.run("Can I take glutamine while breastfeeding?")
    assert answer.abstained
    assert answer.disclaimer == answerer.policy.disclaimer
    assert "pregnancy" in answer.safety_topics


def test_every_disclaimer_is_identical(answerer):
    questions = [
        "Who shouldn't take glutamine?",
        "Is glutamine dangerous?",
        "Can I take glutamine with hepatitis?",
        "I'm pregnant, is glutamine okay?",
        "Does glutamine feed tumors?",
    ]
    disclaimers = {answerer.run(question).disclaimer for question in questions}
    assert disclaimers == {answerer.policy.disclaimer}


def test_contraindication_content_is_tagged_as_evidence(answerer):
    store = answerer.store
    tagged = {}
    for sentence in range(len(store.sentence_doc)):
        tagged[store.sentence_text(sentence)] = set(answerer.policy.from_bits(int(store.sentence_topics[sentence])))
    assert {"liver-disease", "general"} <= tagged["This can lead to hepatic encephalopathy."]
    assert {"kidney-disease", "general"} <= tagged["Kidney issues: Similar problem—impaired ammonia clearance."]
    assert "general" in tagged["Who should avoid: People with liver disease, kidney issues, or certain cancers (more on this below)"]
    assert not tagged["Typical dose: 5-15 grams daily, divided"]
    review = next(text for text in tagged if text.startswith("They found glutamine supplementation significantly improved"))
    assert not tagged[review], "lactulose/mannitol ratios in a study are not a drug interaction"


def test_evidence_alone_fires_the_disclaimer(answerer):
    # No safety word in the question: the disclaimer comes from the quoted evidence.
    query = answerer.prepare("What does glutamine metabolism produce?")
    assert not answerer.policy.match_terms(query.text)
    store = answerer.store
    sentence = next(s for s in range(len(store.sentence_doc)) if store.sentence_text(s) == "This can lead to hepatic encephalopathy.")
    result = answerer.safety.run({}, int(store.sentence_topics[sentence]))
    assert result.disclaimer == answerer.policy.disclaimer
    assert "liver-disease" in result.topics and result.triggers["liver-disease"] == ["evidence"]


def test_markers_define_contraindication_regions(policy):
    assert policy.evidence_topics(
        sentence="Liver disease: Glutamine metabolism produces ammonia.",
        block_text="Liver disease: Glutamine metabolism produces ammonia.",
        block_kind=BlockKind.LIST_ITEM,
        section_title="Who Should Absolutely Avoid Glutamine",
        lead_in="Contraindications:",
    ) >= {"liver-disease", "general"}
    assert not policy.evidence_topics(
        sentence="Avoid proprietary blends that mix glutamine with random herbs.",
        block_text="Avoid proprietary blends that mix glutamine with random herbs.",
        block_kind=BlockKind.PARAGRAPH,
        section_title="Dosing & Recommendations",
        lead_in=None,
    )


def test_policy_file_is_validated(tmp_path):
    broken = tmp_path / "policy.toml"
    broken.write_text('disclaimer = ""\n[[topics]]\nid = "x"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="disclaimer"):
        SafetyPolicy.load(broken)
    unknown_topic = tmp_path / "unlisted.toml"
    unknown_topic.write_text(
        'disclaimer = "Ask your doctor."\n[unlisted]\ncues = ["i take"]\neveryday = ["a food"]\n'
        '[unlisted.examples]\nnope = ["a drug"]\n[[topics]]\nid = "general"\nterms = ["risk"]\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match="unlisted"):
        SafetyPolicy.load(unknown_topic)
    bad_pattern = tmp_path / "pattern.toml"
    bad_pattern.write_text(
        'disclaimer = "Ask your doctor."\n[[topics]]\nid = "children"\npatterns = ["(unclosed"]\n', encoding="utf-8"
    )
    with pytest.raises(ValueError, match="children.*bad pattern"):
        SafetyPolicy.load(bad_pattern)


def _count_base_calls(answerer, monkeypatch) -> list[str]:
    """Record every question the safety check embeds again through the base model."""
    base = answerer.safety._base
    assert base is not None, "an adapted index's safety check keeps the base model for its second look"
    calls: list[str] = []
    original = base.encode_query

    def counting(text: str):
        calls.append(text)
        return original(text)

    monkeypatch.setattr(base, "encode_query", counting)
    return calls


def test_a_question_near_the_adapted_threshold_is_checked_again_through_the_base_model(answerer, monkeypatch):
    # A training pair's question (not an eval one): 0.68 from an example through the adapted
    # model, under its 0.70; 0.87 through the base model, over its 0.86.
    calls = _count_base_calls(answerer, monkeypatch)
    query = answerer.prepare("is glutamine controversial for tumor patients")
    best = max(answerer.safety.similarities(query).values())
    assert answerer.policy.base_recheck_from <= best < answerer.safety.semantic_threshold
    triggers = answerer.safety.question_triggers(query, answerer.store)
    assert calls == [query.normalised]
    assert any(trigger.startswith("similar-base:") for found in triggers.values() for trigger in found), triggers


@pytest.mark.parametrize(
    "question",
    [
        "what foods have glutamine in them",  # far from every example: no second embedding
        "Is glutamine safe if I have liver disease?",  # over the adapted threshold already
    ],
)
def test_questions_outside_the_band_cost_no_second_embedding(answerer, monkeypatch, question):
    calls = _count_base_calls(answerer, monkeypatch)
    query = answerer.prepare(question)
    best = max(answerer.safety.similarities(query).values())
    assert not answerer.policy.base_recheck_from <= best < answerer.safety.semantic_threshold
    answerer.safety.question_triggers(query, answerer.store)
    assert calls == []


def test_a_check_for_the_base_model_never_looks_twice(policy):
    assert SafetyChecker(policy, adapted=False).recheck_from is None
    assert SafetyChecker(policy, adapted=True).recheck_from == policy.base_recheck_from
