"""Evidence passages (qa/passages.py ``build_passages``) on a small synthetic index without the model."""

from __future__ import annotations

import math

import pytest

from qa.extractor import Extraction, ScoredSentence
from qa.passages import build_passages
from qa.types import RetrievedChunk
from tests.qa.synthetic import Block, build_store
from verbatim.index_format import BlockKind as K

# Sentences (and, block by block, chunks) of the two synthetic documents.
A_INTRO, A_DOSE, A_TIME, A_LEAD, A_ITEM1, A_ITEM2, B_DOSE, B_STORY, B_MORE = range(9)
CHUNK_A_INTRO, CHUNK_A_DOSE_TIME, CHUNK_A_LEAD, CHUNK_A_ITEM1, CHUNK_A_ITEM2, CHUNK_A_OVERLAP = range(6)
CHUNK_B_DOSE, CHUNK_B_STORY = 6, 7


@pytest.fixture(scope="module")
def store():
    return build_store(
        {
            "research": [
                Block(K.PARAGRAPH, ["Glutamine is an amino acid."]),
                Block(K.PARAGRAPH, ["Studies used 5 grams daily.", "Most took it after training."]),
                Block(K.LEAD_IN, ["Sources include:"]),
                Block(K.LIST_ITEM, ["Beef"], pointer=A_LEAD),
                Block(K.LIST_ITEM, ["Eggs"], pointer=A_LEAD),
            ],
            "clinician": [
                Block(K.PARAGRAPH, ["I start patients on 5 grams twice daily."]),
                Block(K.PARAGRAPH, ["One patient felt better in a week.", "She kept taking it."]),
            ],
        },
        extra_chunks=((A_TIME, A_LEAD),),  # overlaps the dose paragraph's chunk and the lead-in's
    )


def _scored(sentence, score, chunk):
    return ScoredSentence(sentence=sentence, score=score, dense=0.0, lexical=0.0, context=0.5, chunk=chunk)


def _extraction(store, first, last, chunk, ranked):
    return Extraction(
        doc=int(store.sentence_doc[first]), start=int(store.sentence_start[first]), end=int(store.sentence_end[last]),
        first_sentence=first, last_sentence=last, best=ranked[0], chunk=chunk, ranked=ranked,
    )


def _retrieved(*chunks):
    return [RetrievedChunk(chunk=chunk, dense=0.5, bm25=1.0, score=1.0 - 0.1 * rank) for rank, chunk in enumerate(chunks)]


def _check_exact(store, passages):
    for passage in passages:
        document = store.documents[store.doc_index[passage.doc_id]]
        assert document.text[passage.start : passage.end] == passage.quote
        assert passage.start <= passage.highlight_start <= passage.highlight_end <= passage.end


def test_the_answer_passage_comes_first_with_the_answer_highlighted_and_scored(store):
    ranked = [_scored(A_DOSE, 2.0, CHUNK_A_DOSE_TIME), _scored(B_DOSE, 0.0, CHUNK_B_DOSE)]
    extraction = _extraction(store, A_DOSE, A_DOSE, CHUNK_A_DOSE_TIME, ranked)
    passages = build_passages(store, _retrieved(CHUNK_A_DOSE_TIME, CHUNK_B_DOSE), extraction, top_k=3)
    _check_exact(store, passages)
    first = passages[0]
    assert first.doc_id == "research" and first.quote == "Studies used 5 grams daily. Most took it after training."
    assert (first.highlight_start, first.highlight_end) == (extraction.start, extraction.end)
    assert first.score == pytest.approx(round(1 / (1 + math.exp(-2.0)), 4))
    # The other document's best sentence (probability 0.5 >= 0.25) is shown second, highlighted.
    second = passages[1]
    assert second.doc_id == "clinician" and second.quote == store.sentence_text(B_DOSE)
    assert second.score == 0.5 and second.quote[second.highlight_start - second.start :] == store.sentence_text(B_DOSE)


def test_overlapping_chunks_merge_and_an_answer_past_its_chunk_pulls_them_in(store):
    # The answer is the whole list (lead-in and items), beyond the lead-in's chunk.
    ranked = [_scored(A_LEAD, 1.0, CHUNK_A_LEAD)]
    extraction = _extraction(store, A_LEAD, A_ITEM2, CHUNK_A_LEAD, ranked)
    retrieved = _retrieved(CHUNK_A_LEAD, CHUNK_A_OVERLAP, CHUNK_A_DOSE_TIME, CHUNK_A_ITEM1, CHUNK_A_INTRO)
    passages = build_passages(store, retrieved, extraction, top_k=5)
    _check_exact(store, passages)
    research = store.documents[store.doc_index["research"]].text
    # Lead-in, items, the overlapping chunk and the dose paragraph it overlaps are one passage.
    assert passages[0].start == research.index("Studies") and passages[0].end == len(research)
    assert [p.quote for p in passages[1:]] == ["Glutamine is an amino acid."]
    # A span none of whose sentences was ranked: nothing highlighted, score 0.
    assert (passages[1].highlight_start, passages[1].highlight_end, passages[1].score) == (passages[1].start, passages[1].start, 0.0)


def test_another_document_below_the_support_bar_is_not_promoted(store):
    ranked = [_scored(A_DOSE, 2.0, CHUNK_A_DOSE_TIME), _scored(A_INTRO, 0.5, CHUNK_A_INTRO), _scored(B_STORY, -3.0, CHUNK_B_STORY)]
    extraction = _extraction(store, A_DOSE, A_DOSE, CHUNK_A_DOSE_TIME, ranked)
    retrieved = _retrieved(CHUNK_A_DOSE_TIME, CHUNK_B_STORY, CHUNK_A_INTRO)
    # Probability of the story is sigmoid(-3) < 0.25: the passages follow the ranker's order.
    assert [p.doc_id for p in build_passages(store, retrieved, extraction, top_k=3)] == ["research", "research", "clinician"]
    # With no support bar (what each source says), every other document's best passage comes second.
    assert [p.doc_id for p in build_passages(store, retrieved, extraction, top_k=3, min_support=0.0)] == [
        "research", "clinician", "research",
    ]
    assert len(build_passages(store, retrieved, extraction, top_k=1)) == 1
