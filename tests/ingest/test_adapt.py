"""Adapting the embedder: reproducible training, the cache, and the index's model at load."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest.adapt import (
    SHIPPED_KEY_FILE,
    ModelAdapter,
    SentenceSpan,
    TrainingExample,
    export_model,
    read_shipped,
    shipped_model_dir,
    training_examples,
)
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


def test_trained_weights_are_stored_in_half_precision_and_run_in_full(tmp_path, embedder):
    from safetensors import safe_open

    adapted = ModelAdapter(tmp_path, TINY).run(EXAMPLES)
    with safe_open(str(adapted.path / "model.safetensors"), "pt") as weights:
        assert {str(weights.get_tensor(name).dtype) for name in weights.keys()} == {"torch.float16"}  # noqa: SIM118
    loaded = embedder.for_model(str(adapted.path))
    assert loaded.encode_queries(["pills or powder"]).dtype.name == "float32"
    assert {str(parameter.dtype) for parameter in loaded._transformer.parameters()} == {"torch.float32"}


def test_a_shipped_model_is_used_when_its_key_matches_and_trained_otherwise(tmp_path):
    trained = ModelAdapter(tmp_path / "cache-a", TINY).run(EXAMPLES)
    shipped = export_model(trained, shipped_model_dir(tmp_path / "corpus" / "note.pairs.jsonl"), TINY, 6, 0)
    assert shipped.name == "note.model" and read_shipped(shipped)["weights_hash"] == trained.weights_hash

    fresh = ModelAdapter(tmp_path / "cache-b", TINY, shipped_dir=shipped).run(EXAMPLES)
    assert fresh.shipped and fresh.cached and fresh.seconds == 0 and fresh.path == shipped
    assert fresh.weights_hash == trained.weights_hash and not (tmp_path / "cache-b").exists()  # nothing trained

    other_pairs = ModelAdapter(tmp_path / "cache-b", TINY, shipped_dir=shipped).run(EXAMPLES[:-1])
    other_settings = ModelAdapter(tmp_path / "cache-b", replace(TINY, seed=99), shipped_dir=shipped).run(EXAMPLES)
    assert not other_pairs.shipped and not other_pairs.cached
    assert not other_settings.shipped and not other_settings.cached

    # Altered weights are never taken for the shipped model: it trains instead.
    (shipped / "model.safetensors").write_bytes((shipped / "model.safetensors").read_bytes()[:-8] + b"\0" * 8)
    assert read_shipped(shipped) is None
    assert not ModelAdapter(tmp_path / "cache-c", TINY, shipped_dir=shipped).run(EXAMPLES).shipped
    (shipped / SHIPPED_KEY_FILE).unlink()
    assert read_shipped(shipped) is None


def test_out_of_scope_questions_are_pushed_away_from_the_sentences(tmp_path, embedder):
    sentences = [example.positive for example in EXAMPLES]
    off_topic = ["how much creatine should i take a day", "what dose of vitamin d in winter"]
    config = replace(TINY, epochs=3)
    plain = ModelAdapter(tmp_path, config).run(EXAMPLES)
    pushed = ModelAdapter(
        tmp_path, replace(config, out_of_scope_weight=1.0, out_of_scope_margin=0.0, out_of_scope_per_step=2)
    ).run(EXAMPLES, off_topic, sentences)

    def nearest(model):
        loaded = embedder.for_model(str(model.path))
        return float((loaded.encode_queries(off_topic) @ loaded.encode_passages(sentences).T).max(axis=1).mean())

    assert nearest(pushed) < nearest(plain) - 0.02


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


def test_a_rebuild_takes_the_unchanged_training_questions_from_the_live_build(index_copy, embedder, monkeypatch):
    """Unchanged training questions are not embedded again, as unchanged text is not: a forced
    rebuild with the same pairs and model embeds nothing, and keeps the live build's vectors."""
    from verbatim.embedding import Embedder

    before = index_format.load_pair_questions(index_copy.index_dir)
    assert before is not None and len(before["vectors"]) >= 400
    embedded: list[int] = []
    encode = Embedder.encode_passages

    def counted(self, texts, *args, **kwargs):
        embedded.append(len(texts))
        return encode(self, texts, *args, **kwargs)

    monkeypatch.setattr(Embedder, "encode_passages", counted)
    report = run_ingest(settings=index_copy, embedder=embedder, force=True, show_progress=False)
    assert report.status == "built" and report.embedded == 0, report.summary()
    assert not any(embedded), embedded
    after = index_format.load_pair_questions(index_copy.index_dir)
    for name in index_format.PAIR_QUESTION_COLUMNS:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


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


def test_ingest_exports_the_model_and_a_fresh_ingest_takes_it_instead_of_training(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    source = Path(__file__).resolve().parents[2] / "corpus" / "glutamine-clinician-guide.txt"
    shutil.copy(source, corpus)
    shipped_pairs = (source.parent / "glutamine.pairs.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in shipped_pairs[:3]]  # questions on the guide's opening
    rows.append({"id": "o-1", "question": "how much creatine a day", "out_of_scope": True, "fit": "abstention",
                 "style": "casual", "source": "written"})
    (corpus / "note.pairs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    first = Settings.from_env(index_dir=tmp_path / "a", corpus_dir=corpus, data_dir=tmp_path / "data",
                              model_cache_dir=tmp_path / "models-a")
    report = run_ingest(settings=first, embedder=embedder, show_progress=False, export=True)
    assert report.status == "built" and "exported to" in report.adaptation, report.adaptation
    shipped = corpus / "note.model"
    assert (shipped / SHIPPED_KEY_FILE).is_file()
    assert index_format.read_manifest(first.index_dir)["model"]["weights_hash"] == read_shipped(shipped)["weights_hash"]

    fresh = Settings.from_env(index_dir=tmp_path / "b", corpus_dir=corpus, data_dir=tmp_path / "data",
                              model_cache_dir=tmp_path / "models-b")
    report = run_ingest(settings=fresh, embedder=embedder, show_progress=False)
    assert report.status == "built" and report.adaptation == "model shipped with the corpus"
    assert report.documents == 1  # the model folder is not read as documents
    manifest = index_format.read_manifest(fresh.index_dir)
    assert manifest["model"]["adapted"]["shipped"] and not (tmp_path / "models-b").exists()
    assert manifest["model"]["weights_hash"] == read_shipped(shipped)["weights_hash"]


def test_resume_shards_of_another_model_are_not_taken_for_the_adapted_ones(tmp_path, embedder):
    """An interrupted build leaves resume shards; an adapted build in the same folder must not
    read the base model's (or another adapted model's) vectors from them."""
    from ingest.embed_cache import EmbeddingCache

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(Path(__file__).resolve().parents[2] / "corpus" / "glutamine-clinician-guide.txt", corpus)
    base_settings = Settings.from_env(
        index_dir=tmp_path / "base", corpus_dir=corpus, data_dir=tmp_path / "data", model_cache_dir=tmp_path / "models"
    )
    assert run_ingest(settings=base_settings, embedder=embedder, show_progress=False).status == "built"
    base = index_format.load_build(base_settings.index_dir, embedder.name, embedder.weights_hash)
    text = base.documents[0].text
    sentences = base.sentences
    texts = [text[start:end] for start, end in zip(sentences["start"], sentences["end"], strict=True)]

    # The shards an interrupted base-model build of the adapted index folder would have left.
    adapted_settings = base_settings.replace(index_dir=tmp_path / "adapted")
    base_hash = weights_hash(packaged_model_path())
    EmbeddingCache(index_format.cache_dir(adapted_settings.index_dir) / base_hash.replace(":", "-")[:23], embedder.dimensions).store(
        texts, base.sentence_vectors
    )
    quotes = [texts[number] for number in (3, 8, 13, 18)]
    (corpus / "tiny.pairs.jsonl").write_text(
        "".join(
            json.dumps({"id": f"tp-{number}", "question": question, "doc_id": base.documents[0].doc_id,
                        "start": text.index(quote), "end": text.index(quote) + len(quote), "quote": quote,
                        "style": "plain", "source": "written"}) + "\n"
            for number, (question, quote) in enumerate(zip((f"zebra riddle {word}" for word in ("one", "two", "three", "four")),
                                                            quotes, strict=True))
        ),
        encoding="utf-8",
    )
    report = run_ingest(settings=adapted_settings, embedder=embedder, show_progress=False)
    assert report.status == "built" and report.pairs == 4, report.summary()
    assert report.reused == 0, "vectors of the base model were taken for the adapted model's"
    manifest = index_format.read_manifest(adapted_settings.index_dir)
    adapted = index_format.load_build(adapted_settings.index_dir, embedder.name, manifest["model"]["weights_hash"])
    assert not np.allclose(adapted.sentence_vectors, base.sentence_vectors, atol=1e-4)
