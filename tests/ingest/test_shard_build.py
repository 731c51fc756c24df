"""Shards written from their own documents (``ingest/shard_build.py``) equal the shards split from
a whole build, file for file; the pieces that need the whole corpus (hubness, BM25) are computed
shard against shard with the same floats."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from ingest import hubness
from ingest.indexers import (
    bm25_with_statistics,
    build_bm25,
    merge_term_statistics,
    slice_bm25,
    term_statistics,
)
from ingest.loader import pairs_files
from ingest.pair_questions import PairQuestions, pair_words
from ingest.pairs import load_pairs
from ingest.pipeline import IngestStages, run_ingest
from ingest.shard_build import LocalShardRunner, PairQuestionsJob, VectorSource, run_pair_questions
from tests.conftest import CORPUS
from verbatim import index_format
from verbatim.settings import Settings

# Manifest entries that name the moment of a build, not its content.
VOLATILE = {"built_at", "build_seconds", "files"}


class LocalShardStages(IngestStages):
    """The single-machine stages, with the shards written as the Ray tasks write them."""

    def shard_runner(self, embedder, progress):
        return LocalShardRunner(lambda: embedder.encode_passages)


def assert_same_files(expected_dir: Path, actual_dir: Path) -> None:
    """The live builds of two index folders hold the same files, byte for byte (by the checksums
    of their manifests, which are verified on load), and the same manifest but for its dates."""
    expected = index_format.read_manifest(expected_dir)
    actual = index_format.read_manifest(actual_dir)
    assert {name: entry["sha256"] for name, entry in actual["files"].items()} == {
        name: entry["sha256"] for name, entry in expected["files"].items()
    }
    strip = lambda manifest: {key: value for key, value in manifest.items() if key not in VOLATILE}  # noqa: E731
    assert strip(actual) == strip(expected)
    assert list(actual) == list(expected)  # the manifest's keys in the same order too
    for build_dir in (expected_dir, actual_dir):  # and each is what its checksums say
        index_format.verify_files(build_dir, index_format.current_build(build_dir), index_format.read_manifest(build_dir))


def _settings(corpus_settings: Settings, index_dir: Path) -> Settings:
    return Settings.from_env(index_dir=index_dir, corpus_dir=CORPUS, data_dir=corpus_settings.data_dir)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("limit", [hubness.HUBNESS_REFERENCE_LIMIT, 300])
def test_hubness_shard_against_shard_equals_the_whole(limit):
    rng = np.random.default_rng(3)
    vectors = _unit(rng.normal(size=(1200, 32)))
    copies = rng.random(len(vectors)) < 0.3  # duplicate sentences tie with the sentence itself
    vectors[copies] = vectors[rng.integers(0, len(vectors), copies.sum())]
    whole = hubness.sentence_hubness(vectors, reference_limit=limit)
    references = hubness.reference_rows(len(vectors), limit)
    documents = np.sort(rng.integers(0, 150, len(vectors)))
    for count in (2, 3):
        parts = [np.flatnonzero(documents % count == number) for number in range(count)]
        scores = np.zeros(len(vectors), dtype=np.float32)
        for rows in parts:
            found = []
            for other in parts:
                ids = np.intersect1d(other, references)
                found.append(hubness.candidates(vectors[rows], vectors[ids], ids))
            scores[rows] = hubness.hubness_from_candidates(hubness.merge(found), rows)
        np.testing.assert_array_equal(scores, whole)


def test_bm25_from_corpus_statistics_equals_the_slice_of_the_whole_index():
    texts = [path.read_text(encoding="utf-8") for path in sorted(CORPUS.glob("*.txt"))]
    texts = [paragraph for text in texts for paragraph in text.split("\n\n") if paragraph.strip()]
    whole = build_bm25(texts)
    parts = [np.arange(number, len(texts), 3) for number in range(3)]
    corpus = merge_term_statistics(term_statistics([texts[row] for row in rows]) for rows in parts)
    for rows in parts:
        expected, actual = slice_bm25(whole, rows), bm25_with_statistics([texts[row] for row in rows], corpus)
        assert actual.vocab_dict == expected.vocab_dict
        for name in ("data", "indices", "indptr"):
            assert actual.scores[name].dtype == expected.scores[name].dtype
            np.testing.assert_array_equal(actual.scores[name], expected.scores[name])
        assert actual.scores["num_docs"] == expected.scores["num_docs"]


def test_shards_written_from_their_documents_equal_the_split_whole_build(corpus_settings, embedder, tmp_path):
    """The seed corpus in 2 shards: split from the whole build on this process, and written shard
    by shard as the Ray tasks do (vectors re-used from the live build in both)."""
    expected_dir, actual_dir = tmp_path / "split", tmp_path / "written"
    shutil.copytree(corpus_settings.index_dir, expected_dir)
    split = run_ingest(settings=_settings(corpus_settings, expected_dir), embedder=embedder,
                       shards=2, show_progress=False)
    assert split.status == "built" and split.embedded == 0
    shutil.copytree(expected_dir, actual_dir)
    written = run_ingest(settings=_settings(corpus_settings, actual_dir), embedder=embedder,
                         shards=2, force=True, stages=LocalShardStages(), show_progress=False)
    assert written.status == "built" and written.embedded == 0
    assert (written.documents, written.chunks, written.sentences) == (split.documents, split.chunks, split.sentences)
    assert_same_files(expected_dir, actual_dir)


def test_a_shard_embeds_only_what_no_build_saved(corpus_settings, embedder, tmp_path):
    """Without a live build the shards embed their texts (and save them for a resume); a second
    forced build re-uses every vector."""
    index_dir = tmp_path / "index"
    settings = _settings(corpus_settings, index_dir)
    first = run_ingest(settings=settings, embedder=embedder, shards=2, stages=LocalShardStages(), show_progress=False)
    assert first.status == "built" and first.embedded > 0
    again = run_ingest(settings=settings, embedder=embedder, shards=2, force=True, stages=LocalShardStages(), show_progress=False)
    assert again.embedded == 0 and again.reused >= first.embedded
    statistics = index_format.load_statistics(index_dir, embedder.name, None)
    assert statistics.chunks == first.chunks and statistics.sentences == first.sentences
    shards = [index_format.load_shard(index_dir, number, embedder.name, None) for number in range(2)]
    assert sum(len(shard.contents.chunks["doc"]) for shard in shards) == first.chunks
    # The training questions: embedded by the runner's model when there was no live build.
    stored = index_format.load_pair_questions(index_dir)
    model = embedder.for_model(str(index_format.build_model_path(index_dir)))
    assert stored is not None and len(stored["vectors"]) == first.pairs > 0
    documents = [document for shard in shards for document in shard.contents.documents]
    questions = _questions(documents, stored)
    expected = model.encode_passages(questions)
    np.testing.assert_allclose(stored["vectors"], expected, atol=1e-6)
    # Each question's key words, written by the worker too (the abstention's pair words).
    assert stored["words"].tolist() == [" ".join(pair_words(question)) for question in questions]


def _questions(documents, stored: dict[str, np.ndarray]) -> list[str]:
    """The seed corpus's training questions, in the order of a build's ``pair_questions.npz``."""
    pairs = load_pairs(pairs_files([CORPUS]), {document.doc_id: document.text for document in documents}).pairs
    assert [pair.doc_id for pair in pairs] == stored["doc_ids"].tolist()
    return [pair.question for pair in pairs]


def test_the_training_questions_are_taken_from_the_live_build_only_when_unchanged(corpus_settings, embedder, tmp_path):
    """What the worker of a sharded build runs for ``pair_questions.npz``: the live build's vectors
    for the same questions and spans; embedded again when a span differs."""
    index_dir = corpus_settings.index_dir
    manifest = index_format.read_manifest(index_dir)
    stored = index_format.load_pair_questions(index_dir)
    questions = _questions(index_format.load_build(index_dir, embedder.name, None).documents, stored)
    words = [" ".join(pair_words(question)) for question in questions]
    # The whole build (one process) wrote the key words beside the vectors.
    assert stored["words"].tolist() == words and any(words)
    adapted = manifest["model"]["adapted"]
    wanted = PairQuestions(questions, stored["doc_ids"].tolist(), stored["start"].tolist(), stored["end"].tolist(),
                           adapted["pairs_hash"])
    source = VectorSource(cache_folder=str(tmp_path / "cache"), index_dir=str(index_dir), model_name=embedder.name,
                          weights_hash=manifest["model"]["weights_hash"], dimensions=embedder.dimensions)
    model = embedder.for_model(str(index_format.build_model_path(index_dir)))
    calls: list[int] = []

    def encoder():
        calls.append(1)
        return model.encode_passages

    for name, job_wanted, reused in (
        ("same", wanted, True),
        ("moved", PairQuestions(questions, wanted.doc_ids, [wanted.start[0] + 1, *wanted.start[1:]], wanted.end,
                                wanted.pairs_hash), False),
    ):
        folder = tmp_path / name
        folder.mkdir()
        part = run_pair_questions(PairQuestionsJob(str(folder), job_wanted), source, encoder)
        assert (part.rows, part.reused) == (len(questions), reused)
        with np.load(folder / index_format.PAIR_QUESTIONS_FILE) as written:
            np.testing.assert_array_equal(written["start"], np.array(job_wanted.start, dtype=np.int32))
            np.testing.assert_allclose(written["vectors"], stored["vectors"], atol=1e-6)
            # Re-used or embedded, the words are read from the questions.
            assert written["words"].tolist() == words
    assert len(calls) == 1  # embedded only for the moved span
