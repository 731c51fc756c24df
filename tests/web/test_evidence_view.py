"""The side-by-side pair of the chat (web/evidence_view.py ``beside_index``, the API answer's
``beside`` that carries it, and where web/routers/pages.py ``turn_view`` puts it), on small
synthetic passages: no index, no model."""

from __future__ import annotations

from pathlib import Path

import pytest

from verbatim.index_format import EVIDENCE_KINDS
from web.evidence_view import beside_index, chip_texts, evidence_chip
from web.routers.pages import turn_view
from web.schemas import AskResponse, EvidenceOut, ExcerptOut, PassageOut

STUDY_TEXT = "A 2019 trial found that 10 grams a day shortened recovery."
ADVICE_TEXT = "I tell my patients to start with 5 grams a day."


def passage(doc_id: str, kind: str, text: str = "Some sentence of the source.", design: str | None = None) -> PassageOut:
    """A passage of ``doc_id`` whose whole quote is highlighted and of evidence ``kind``."""
    return PassageOut(
        doc_id=doc_id, title=f"{doc_id} title", section="Dosing", quote=text, start=0, end=len(text), score=0.8,
        highlight_start=0, highlight_end=len(text), evidence=EvidenceOut(kind=kind, design=design),
        excerpt=ExcerptOut(start=0, end=len(text), clipped_start=False, clipped_end=False),
    )


def kinds_of(*pairs: tuple[str, str]) -> list[PassageOut]:
    return [passage(doc_id, kind) for doc_id, kind in pairs]


@pytest.mark.parametrize(
    ("main", "other"),
    [("study", "recommendation"), ("study", "anecdote"), ("recommendation", "study"), ("anecdote", "study")],
)
def test_a_study_beside_advice_or_a_story_from_the_other_source_is_a_pair(main, other):
    assert beside_index(kinds_of(("research", main), ("guide", other))) == 1


@pytest.mark.parametrize(
    ("main", "other"),
    [
        ("study", "study"),  # two study results: the same kind of evidence
        ("recommendation", "anecdote"),  # advice and a story: no study result
        ("recommendation", "recommendation"),
        ("study", "caution"),  # a caution is neither
        ("caution", "recommendation"),
        ("study", "background"),
        ("background", "anecdote"),
    ],
)
def test_other_kinds_make_no_pair(main, other):
    assert beside_index(kinds_of(("research", main), ("guide", other))) is None


def test_no_pair_without_another_source():
    assert beside_index([]) is None
    assert beside_index(kinds_of(("research", "study"))) is None
    # Advice from the same document is not the other source's word.
    assert beside_index(kinds_of(("research", "study"), ("research", "recommendation"))) is None


def test_the_other_sources_first_passage_is_the_one_compared():
    # Passages of the answer's own document are passed over ...
    assert beside_index(kinds_of(("research", "study"), ("research", "background"), ("guide", "recommendation"))) == 2
    # ... but only the other document's best passage counts: its advice further down makes no pair.
    assert beside_index(kinds_of(("research", "study"), ("guide", "background"), ("guide", "recommendation"))) is None
    # A third document comes after the second one's passage has been compared.
    assert beside_index(kinds_of(("research", "study"), ("guide", "study"), ("blog", "anecdote"))) is None


def _response(passages: list[PassageOut]) -> AskResponse:
    return AskResponse(
        question="How much should I take?", answer=passages[0].quote, abstained=False, confidence=0.7,
        passages=passages, disclaimer=None, safety_topics=[],
    )


@pytest.mark.parametrize(
    "passages",
    [
        kinds_of(("research", "study"), ("research", "background"), ("guide", "recommendation")),
        kinds_of(("research", "anecdote"), ("guide", "study")),
        kinds_of(("research", "study"), ("guide", "study")),
        kinds_of(("research", "study")),
    ],
)
def test_the_api_answer_carries_the_pair_the_rule_decides(passages):
    # The chat's script reads the pair from the answer's JSON; the server's page from the same field.
    body = _response(passages).model_dump(mode="json")
    assert body["beside"] == beside_index(passages)
    turn = turn_view(_response(passages), label=str)
    if body["beside"] is None:
        assert turn.beside is None and len(turn.supporting) == len(passages) - 1
    else:
        assert turn.beside is not None and turn.beside.doc_id == passages[body["beside"]].doc_id
        assert len(turn.supporting) == len(passages) - 2


def test_the_chat_script_does_not_decide_the_pair_itself():
    # The pair rule lives in web/evidence_view.py alone (it was once written again in chat.js and could
    # drift): the script gets it as the answer's ``beside`` and must not name an evidence kind to pair on.
    script = (Path(__file__).parents[2] / "web" / "static" / "chat.js").read_text(encoding="utf-8")
    assert "response.beside" in script
    named = [kind for kind in EVIDENCE_KINDS if f'"{kind}"' in script or f"'{kind}'" in script]
    assert named == [], f"web/static/chat.js names evidence kinds {named}: pass what it needs from the server"


def test_the_page_shows_the_pair_once_beside_the_answer():
    study = passage("research", "study", STUDY_TEXT, design="randomized trial")
    advice = passage("guide", "recommendation", ADVICE_TEXT)
    same_doc = passage("research", "background")
    turn = turn_view(_response([study, same_doc, advice]), label=str)
    assert turn.main is not None and turn.main.doc_id == "research"
    assert turn.beside is not None and turn.beside.doc_id == "guide"
    assert [view.doc_id for view in turn.supporting] == ["research"]  # the pair's passage is not listed twice
    assert (turn.main.evidence.label, turn.main.evidence.design) == (chip_texts()["study"]["label"], "randomized trial")
    assert turn.beside.evidence.label == chip_texts()["recommendation"]["label"] == "Clinician's advice"


def test_without_a_pair_every_other_passage_is_listed_under_the_answer():
    turn = turn_view(_response([passage("research", "study", STUDY_TEXT), passage("guide", "study")]), label=str)
    assert turn.beside is None
    assert [view.doc_id for view in turn.supporting] == ["guide"]


def test_a_passage_without_a_kind_gets_the_background_chip():
    chip = evidence_chip(None)
    assert (chip.kind, chip.label, chip.design) == ("background", chip_texts()["background"]["label"], None)
