"""Ingest of the seed corpus: exact offsets, cleaning and structure."""

from __future__ import annotations

from verbatim.index_format import BlockKind, load_build


def _contents(settings, embedder):
    return load_build(settings.index_dir, embedder.name, None)  # the index names its own model


def test_every_sentence_and_chunk_is_an_exact_slice(corpus_settings, embedder):
    contents = _contents(corpus_settings, embedder)
    for table in (contents.sentences, contents.chunks):
        for doc, start, end in zip(table["doc"], table["start"], table["end"], strict=True):
            text = contents.documents[doc].text
            assert 0 <= start < end <= len(text)
            piece = text[start:end]
            assert piece == piece.strip(), "spans never start or end with whitespace"


def test_boilerplate_is_removed_and_table_repaired(corpus_settings, embedder):
    documents = {d.doc_id: d for d in _contents(corpus_settings, embedder).documents}
    research = documents["glutamine-benefits-research"].text
    guide = documents["glutamine-clinician-guide"].text
    assert "Explore All Topics" not in research
    assert "Nutrition & Foods" not in research
    assert "Join the Discussion" not in guide
    assert "Share your thoughts below" not in guide
    assert "🔬" not in research and "🧬" not in research
    assert "Clinical/ICU recovery | Moderate to strong (with mixed large trials) | Critically ill, post-surgical" in research
    assert "Exercise recovery | Mixed | Athletes, resistance trainers" in research


def test_lists_faq_and_quick_facts_are_separate_sentences(corpus_settings, embedder):
    contents = _contents(corpus_settings, embedder)
    kinds = contents.blocks["kind"]
    sentences = {}
    for doc, start, end, block in zip(
        contents.sentences["doc"], contents.sentences["start"], contents.sentences["end"], contents.sentences["block"], strict=True
    ):
        sentences[contents.documents[doc].text[start:end]] = BlockKind(int(kinds[block]))
    assert sentences["Typical dose: 5-15 grams daily, divided"] == BlockKind.LABEL_VALUE
    assert sentences["Kidney issues: Similar problem—impaired ammonia clearance."] == BlockKind.LIST_ITEM
    assert sentences["This can lead to hepatic encephalopathy."] == BlockKind.LIST_ITEM
    assert sentences["Is glutamine safe long-term?"] == BlockKind.FAQ_QUESTION
    assert sentences["Contraindications:"] == BlockKind.LEAD_IN
    assert sentences["Who Should Absolutely Avoid Glutamine"] == BlockKind.HEADING


def test_chunks_fit_the_model_window_and_stay_in_one_section(corpus_settings, embedder):
    contents = _contents(corpus_settings, embedder)
    chunks = contents.chunks
    for number in range(len(chunks["doc"])):
        document = contents.documents[chunks["doc"][number]]
        section = document.sections[chunks["section"][number]]
        assert section.start <= chunks["start"][number] and chunks["end"][number] <= section.end
        text = document.text[chunks["start"][number] : chunks["end"][number]]
        assert embedder.count_tokens([text])[0] <= 256 + 8  # whitespace joins may add a token or two
