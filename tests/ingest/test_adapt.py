"""Adapting the embedder: reproducible training, the cache, and the index's model at load."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from ingest.adapt import ModelAdapter, SentenceSpan, TrainingExample, training_examples
from ingest.pairs import TrainingPair
from ingest.pipeline import run_ingest
from qa.pipeline import Answerer
from verbatim import feedback_loop, index_format
from verbatim.embedding import packaged_model_path, weights_hash
from verbatim.feedback_store import NewFeedback, Span, open_store
from verbatim.index_format import IndexInvalidError
from verbatim.settings import AdaptationConfig, Settings

TINY = AdaptationConfig(epochs=1, batch_size=4, threads=2)
EXAMPLES = [
    TrainingExample("how much should i take a day", "Typical dose: 5-15 grams daily, divided"),
    TrainingExample("who should stay away from it", "Who should avoid: People with liver disease, kidney issues"),
    TrainingExample("pills or powder", "You want pure L-glutamine powder."),
    TrainingExample("does it help my tummy", "Glutamine helps because it's the primary fuel for enterocytes."),
    TrainingExample("best time to take it for the gut", "I usually recommend taking it first thing in the morning."),
    TrainingExample("can i mix it with my protein shake", "Don't take glutamine with protein shakes right after workouts."),
]


def test_the_same_pairs_give_the_same_weights_and_the_second_time_come_from_the_cache(tmp_path):
    first = ModelAdapter(tmp_path / "cache-a", TINY).run(EXAMPLES)
    again = ModelAdapter(tmp_path / "cache-a", TINY).run(EXAMPLES)
    elsewhere = ModelAdapter(tmp_path / "cache-b", TINY).run(EXAMPLES)
    assert not first.cached and again.cached and not elsewhere.cached
    assert first.weights_hash == again.weights_hash == elsewhere.weights_hash
    assert first.weights_hash != weights_hash(packaged_model_path())  # it did learn
    other_seed = ModelAdapter(tmp_path / "cache-a", replace(TINY, seed=TINY.seed + 1)).run(EXAMPLES)
    assert other_seed.weights_hash != first.weights_hash and other_seed.cache_key != first.cache_key


def test_the_adapted_model_brings_a_question_nearer_its_answer(tmp_path, embedder):
    adapted = embedder.for_model(str(ModelAdapter(tmp_path, replace(TINY, epochs=3)).run(EXAMPLES).path))
    question, answer = EXAMPLES[2].question, EXAMPLES[2].positive
    before = float(embedder.encode_queries([question])[0] @ embedder.encode_passages([answer])[0])
    after = float(adapted.encode_queries([question])[0] @ adapted.encode_passages([answer])[0])
    assert after > before


def test_training_examples_are_the_sentences_a_span_touches():
    sentences = ["The first one is here.", "Second one is here.", "Third one.", "A fourth one in another section."]
    text = " ".join(sentences)
    starts = [text.index(sentence) for sentence in sentences]
    spans = [SentenceSpan(start, start + len(sentence), 0) for start, sentence in zip(starts, sentences, strict=True)]
    spans[3] = SentenceSpan(spans[3].start, spans[3].end, 1)
    start, end = text.index("one is here. Third"), text.index("Third one.") + 5
    pair = TrainingPair("p", "q", "d", start, end, text[start:end], "plain", "written")
    (example,) = training_examples([pair], {"d": text}, {"d": spans}, hard_negatives=True, seed=0)
    assert example.positive == "Second one is here. Third one."
    # The same section, outside the span, long enough to mean something; never another section.
    assert example.negative == "The first one is here."


@pytest.fixture
def index_copy(corpus_settings, tmp_path) -> Settings:
    target = tmp_path / "index"
    shutil.copytree(corpus_settings.index_dir, target, ignore=shutil.ignore_patterns("ingest.lock"))
    return corpus_settings.replace(index_dir=target)


def test_the_seed_index_holds_its_adapted_model_and_the_answerer_uses_it(corpus_settings, answerer):
    manifest = index_format.read_manifest(corpus_settings.index_dir)
    build = index_format.current_build(corpus_settings.index_dir)
    assert manifest["model"]["adapted"]["pairs"] >= 400
    assert manifest["model"]["weights_hash"] == weights_hash(str(build / index_format.ADAPTED_MODEL_DIR))
    assert manifest["model"]["base_weights_hash"] == weights_hash(packaged_model_path())
    assert answerer.embedder.weights_hash == manifest["model"]["weights_hash"]


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_an_index_whose_adapted_model_is_missing_or_altered_is_refused(index_copy, embedder, damage):
    weights = index_format.current_build(index_copy.index_dir) / index_format.ADAPTED_MODEL_DIR / "model.safetensors"
    if damage == "missing":
        weights.unlink()
    else:
        data = bytearray(weights.read_bytes())  # a copy: the build may hard-link the cached model
        data[-1] ^= 0xFF
        weights.unlink()
        weights.write_bytes(bytes(data))
    with pytest.raises(IndexInvalidError) as refused:
        Answerer(index_copy, embedder=embedder).warm_up()
    assert "adapted embedding model" in str(refused.value) and f"verbatim ingest --index {index_copy.index_dir}" in str(refused.value)


def test_a_corpus_without_pairs_gets_the_base_model(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "corpus" / "glutamine-clinician-guide.txt", corpus)
    settings = Settings.from_env(index_dir=tmp_path / "index", corpus_dir=corpus, data_dir=tmp_path / "data")
    assert run_ingest(settings=settings, embedder=embedder, show_progress=False).status == "built"
    manifest = index_format.read_manifest(settings.index_dir)
    assert manifest["model"]["adapted"] is None
    assert manifest["model"]["weights_hash"] == weights_hash(packaged_model_path())
    assert not (index_format.current_build(settings.index_dir) / index_format.ADAPTED_MODEL_DIR).exists()
    answerer = Answerer(settings, embedder=embedder)
    answerer.warm_up()
    assert answerer.embedder is embedder


def test_feedback_pairs_in_the_data_folder_are_read_and_checked(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "corpus" / "glutamine-clinician-guide.txt", corpus)
    data = tmp_path / "data"
    data.mkdir()
    (data / "feedback.pairs.jsonl").write_text(
        json.dumps({"id": "fb-1", "question": "q", "doc_id": "glutamine-clinician-guide", "start": 0, "end": 5,
                    "quote": "wrong", "style": "plain", "source": "feedback"}) + "\n",
        encoding="utf-8",
    )
    settings = Settings.from_env(index_dir=tmp_path / "index", corpus_dir=corpus, data_dir=data)
    report = run_ingest(settings=settings, embedder=embedder, show_progress=False)
    assert report.status == "built" and report.pairs == 0  # its one pair is bad: the base model
    assert any("feedback.pairs.jsonl:1" in item.source and "quote is not" in item.reason for item in report.skipped)


def test_accepted_feedback_becomes_pairs_that_the_next_ingest_trains_on(tmp_path, embedder):
    """The whole loop: an answer rated helpful and accepted in review adapts the next build's model."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "corpus" / "glutamine-clinician-guide.txt", corpus)
    data = tmp_path / "data"
    settings = Settings.from_env(
        index_dir=tmp_path / "index", corpus_dir=corpus, data_dir=data, model_cache_dir=tmp_path / "models"
    )
    first = run_ingest(settings=settings, embedder=embedder, show_progress=False)
    assert first.status == "built" and first.pairs == 0  # no pairs yet: the base model

    answerer = Answerer(settings, embedder=embedder)
    answerer.warm_up()
    store = open_store(data)
    try:
        for question in ("how many grams a day for my tummy", "which brand of the powder do you like"):
            passage = answerer.run(question).passages[0]
            document = answerer.store.documents[answerer.store.doc_index[passage.doc_id]]
            quote = document.text[passage.highlight_start : passage.highlight_end]
            record_id = store.add(NewFeedback(
                question=question, verdict="helpful", index_build=answerer.store.path.name,
                answer=Span(passage.doc_id, passage.highlight_start, passage.highlight_end, quote),
            ))
            assert feedback_loop.accept(store, record_id, data).pair is not None
        pending = store.add(NewFeedback(question="never reviewed", verdict="helpful", index_build="b",
                                        answer=Span(passage.doc_id, passage.highlight_start, passage.highlight_end, quote)))
        assert store.get(pending).status == "pending"  # only accepted records become pairs
    finally:
        store.close()

    second = run_ingest(settings=settings, embedder=embedder, show_progress=False)
    assert second.status == "built" and second.pairs == 2, second.summary()
    manifest = index_format.read_manifest(settings.index_dir)
    assert manifest["model"]["adapted"]["pairs"] == 2
    assert manifest["model"]["weights_hash"] != weights_hash(packaged_model_path())
