"""Shards written by the cluster's workers (``verbatim ingest --ray --shards 2``) are the shards the
driver splits from a whole build, byte for byte; and the driver of such a build never embeds,
loads or indexes a vector (the adapted model's training questions included)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.pipeline import run_ingest
from tests.conftest import CORPUS
from tests.ingest.test_shard_build import assert_same_files
from verbatim import index_format
from verbatim.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

SHARDS = 2


def _copy(source: Path, tmp_path_factory, name: str) -> Path:
    index_dir = tmp_path_factory.mktemp(name) / "index"
    shutil.copytree(source, index_dir)
    return index_dir


def split_on_the_driver(source: Path, corpus: Path, embedder, tmp_path_factory, name: str) -> Path:
    """A copy of a whole build re-built in shards split from the whole on this process."""
    index_dir = _copy(source, tmp_path_factory, name)
    report = run_ingest([corpus], Settings.from_env(index_dir=index_dir), embedder=embedder, shards=SHARDS, show_progress=False)
    assert report.status == "built" and report.embedded == 0
    return index_dir


@pytest.fixture(scope="module")
def seed_split(seed_distributed, embedder, tmp_path_factory) -> Path:
    """The seed corpus's distributed build split into shards on this process."""
    return split_on_the_driver(seed_distributed, CORPUS, embedder, tmp_path_factory, "seed-split")


def test_seed_shards_written_by_the_workers_equal_the_driver_split(seed_sharded, seed_split):
    """``seed_sharded``: ``verbatim ingest --ray --shards 2`` on a copy of the same whole build."""
    assert_same_files(seed_split, seed_sharded)


def test_medquad_shards_written_by_the_workers_equal_the_driver_split(
    medquad_corpus, medquad_single, medquad_sharded, embedder, tmp_path_factory
):
    """40 MedQuAD documents: shards of 58 and 65 chunks and about 400 sentences, hubness across shards."""
    expected = split_on_the_driver(medquad_single, medquad_corpus, embedder, tmp_path_factory, "medquad-split")
    assert_same_files(expected, medquad_sharded)
    entry = index_format.sharding(index_format.read_manifest(medquad_sharded))
    assert all(item["counts"]["chunks"] > 50 for item in entry["shards"])


def test_the_driver_of_a_sharded_build_never_holds_a_vector(
    ray_driver, seed_distributed, seed_split, embedder, tmp_path_factory, monkeypatch
):
    """Everything that would embed, load, store or index a vector in this (the driver's) process
    fails the test, the adapted model's training questions (``pair_questions.npz``) included;
    the workers' processes are not patched, and the build completes with the same files."""
    from ingest import distributed, embed_cache, pair_questions, pipeline
    from verbatim.embedding import Embedder

    def forbidden(*_, **__):
        raise AssertionError("the driver of a sharded build touched a vector")

    for owner, name in (
        (pipeline.IngestStages, "embed"), (distributed.RayStages, "embed"), (pipeline, "_seed_from_live_build"),
        (pipeline, "build_vector_index"), (pipeline.hubness, "sentence_hubness"), (pipeline, "build_bm25"),
        (embed_cache.EmbeddingCache, "embed"), (embed_cache.EmbeddingCache, "store"),
        (embed_cache.EmbeddingCache, "seed"), (embed_cache.EmbeddingCache, "load_shards"),
        (index_format, "load_embedded_build"), (index_format, "embedded_pieces"), (index_format, "load_build"),
        # The training questions: neither embedded, nor loaded from the live build, nor written here.
        (Embedder, "encode_passages"), (Embedder, "encode_queries"), (Embedder, "encode_query"),
        (pair_questions, "pair_question_columns"), (pipeline, "pair_question_columns"),
        (index_format, "load_pair_questions"), (index_format, "write_pair_questions"),
    ):
        monkeypatch.setattr(owner, name, forbidden)
    index_dir = _copy(seed_distributed, tmp_path_factory, "seed-driver")
    report = run_ingest(
        [CORPUS], Settings.from_env(index_dir=index_dir), embedder=embedder, stages=distributed.RayStages(),
        shards=SHARDS, show_progress=False,
    )
    assert report.status == "built" and report.embedded == 0
    monkeypatch.undo()
    assert_same_files(seed_split, index_dir)  # pair_questions.npz too, byte for byte
    assert index_format.PAIR_QUESTIONS_FILE in index_format.read_manifest(index_dir)["files"]
