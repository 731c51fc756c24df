"""The evidence labeller's rules on small synthetic inputs (no model, no index)."""

from __future__ import annotations

import pytest

from ingest.evidence import RULES_PATH, EvidenceInput, EvidenceLabel, EvidenceLabeller, EvidenceRules
from verbatim.index_format import BlockKind

P = BlockKind.PARAGRAPH


@pytest.fixture(scope="module")
def labeller() -> EvidenceLabeller:
    instance = EvidenceLabeller()
    instance.warm_up()
    return instance


def one(labeller, text: str, kind: BlockKind = P, topic: bool = False) -> EvidenceLabel:
    return labeller.run([EvidenceInput(text, 0, kind, topic)])[0]


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (BlockKind.HEADING, "Who Should Avoid Fish Oil"),
        (BlockKind.TABLE_ROW, "Joint pain | Moderate (randomized trials) | Adults"),
        (BlockKind.FAQ_QUESTION, "Is creatine safe for teenagers?"),
        (P, "Does magnesium really help with sleep?"),
        (BlockKind.LABEL_VALUE, "Disclaimer: This page does not replace medical advice from your doctor."),
        (P, "Researchers have examined whether zinc might shorten colds."),
        (P, "Vitamin D is a fat-soluble vitamin made in the skin."),
    ],
)
def test_background(labeller, kind, text):
    assert one(labeller, text, kind) == EvidenceLabel("background")


def test_a_named_review_is_a_study_and_the_sentence_after_it_keeps_its_design(labeller):
    labels = labeller.run(
        [
            EvidenceInput("A 2019 meta-analysis in Sleep Medicine pooled 9 trials with 600 adults.", 3, P),
            EvidenceInput("They found melatonin shortened sleep onset by 7 minutes compared to placebo (p=0.02).", 3, P),
            EvidenceInput("They also liked the taste.", 4, P),  # another paragraph: no study to continue
        ]
    )
    assert labels[0] == EvidenceLabel("study", "systematic review or meta-analysis")
    assert labels[1] == EvidenceLabel("study", "systematic review or meta-analysis")
    assert labels[2] == EvidenceLabel("background")


@pytest.mark.parametrize(
    ("text", "design"),
    [
        ("Several randomized trials have found no benefit of vitamin C for colds.", "randomized trial"),
        ("Case reports describe five runners whose cramps stopped on magnesium.", "observational or case report"),
        ("Research has shown that fibre lowers cholesterol.", None),
        ("The evidence is mixed for this use.", None),
    ],
)
def test_study_results_and_their_stated_design(labeller, text, design):
    assert one(labeller, text) == EvidenceLabel("study", design)


def test_a_study_of_a_risk_is_a_caution_with_its_design(labeller):
    label = one(labeller, "Some animal studies suggest high doses may be toxic to the liver.")
    assert label == EvidenceLabel("caution", "animal or in vitro")
    label = one(labeller, "Case reports suggest ginkgo may increase the risk of bleeding during surgery.")
    assert label == EvidenceLabel("caution", "observational or case report")


def test_a_patients_story_is_an_anecdote_even_with_a_dose_and_continues_in_the_next_sentence(labeller):
    labels = labeller.run(
        [
            EvidenceInput("I had a patient, a 35-year-old runner, who took 3 grams daily for a month.", 1, P),
            EvidenceInput("She slept better within a week.", 1, P),
        ]
    )
    assert [label.kind for label in labels] == ["anecdote", "anecdote"]


def test_a_story_of_harm_in_a_safety_section_is_a_caution(labeller):
    labels = labeller.run(
        [
            EvidenceInput("I had a patient with cirrhosis who started it without telling me.", 1, P, True),
            EvidenceInput("His ammonia rose sharply.", 1, P, True),
        ]
    )
    assert [label.kind for label in labels] == ["caution", "caution"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Typical dose: 200-400 mg daily, with food", BlockKind.LABEL_VALUE),
        ("My go-to brand: any third-party tested powder", BlockKind.LABEL_VALUE),
        ("For sleep: Take 300 mg an hour before bed.", P),
        ("Please, if you are unsure, talk to your pharmacist first.", P),
        ("Skip the gummies and buy plain tablets.", P),
        ("For recovery: 3-5 grams after training.", P),  # only a dose: weak cue
        ("I usually recommend starting low.", P),
    ],
)
def test_advice_and_doses_are_recommendations(labeller, text, kind):
    assert one(labeller, text, kind).kind == "recommendation"


def test_see_for_more_information_is_not_advice(labeller):
    assert one(labeller, "See the drug label for more information.").kind == "background"


@pytest.mark.parametrize(
    "text",
    [
        "You should not use it if you are pregnant.",
        "Flavoured powders can worsen reflux in some people.",
        "Melatonin doesn't replace prescribed medications for insomnia.",
    ],
)
def test_risks_and_warnings_are_cautions(labeller, text):
    assert one(labeller, text).kind == "caution"


def test_caution_wins_ties_and_no_evidence_of_harm_is_not_a_caution(labeller):
    assert one(labeller, "Avoid if you have kidney disease: a 2020 study found higher creatinine.").kind == "caution"
    label = one(labeller, "While we have no evidence of harm, I typically recommend breaks.")
    assert label.kind == "recommendation"


def test_a_short_verdict_takes_the_kind_of_the_answer_it_opens(labeller):
    labels = labeller.run(
        [
            EvidenceInput("No.", 7, P),
            EvidenceInput("It doesn't replace proven medications for epilepsy.", 7, P),
            EvidenceInput("Yes.", 8, P),  # alone in its block
        ]
    )
    assert [label.kind for label in labels] == ["caution", "caution", "background"]


def test_safety_topic_tag_makes_a_caution(labeller):
    assert one(labeller, "This can lead to hepatic encephalopathy.", BlockKind.LIST_ITEM, topic=True).kind == "caution"
    assert one(labeller, "This can lead to hepatic encephalopathy.", BlockKind.LIST_ITEM).kind == "background"


def test_rules_file_must_name_every_kind(tmp_path):
    broken = RULES_PATH.read_text(encoding="utf-8").replace(
        'priority = ["caution", "study", "recommendation", "anecdote", "background"]', 'priority = ["caution", "study"]'
    )
    path = tmp_path / "rules.toml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ValueError, match="priority"):
        EvidenceRules.load(path)
