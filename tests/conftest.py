"""Shared fixtures: the real packaged model and real FAISS, on small data.

The model is loaded once per test session; the seed corpus index is built once into a
temporary folder (never into the repository's index/).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.builds import app_client, built_settings, warm_answerer
from verbatim.settings import Settings, force_offline

force_offline()
# A developer's .env (which Settings reads from the working folder) must not change what tests see.
Settings.model_config["env_file"] = None
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"


@pytest.fixture(scope="session")
def embedder():
    """The packaged MiniLM, warm."""
    from verbatim.embedding import Embedder

    model = Embedder()
    model.warm_up()
    return model


@pytest.fixture(scope="session")
def corpus_settings(tmp_path_factory, embedder) -> Settings:
    """Settings whose index is a fresh build of the seed corpus.

    The corpus ships training pairs, so the build holds the embedder adapted to them; the
    adapted model is cached in the shared model cache (``VERBATIM_MODEL_CACHE``), so the suite
    trains it at most once, and never when an earlier run or ingest already did. Local feedback
    pairs (``data/``) are kept out: the tests judge the shipped pairs.
    """
    return built_settings(tmp_path_factory, embedder, CORPUS)


@pytest.fixture(scope="session")
def answerer(corpus_settings, embedder):
    """A warm answerer over the seed corpus index."""
    return warm_answerer(corpus_settings, embedder)


@pytest.fixture(scope="session")
def client(corpus_settings, answerer):
    """An HTTP client of the app serving the seed corpus (lifespan run once)."""
    with app_client(corpus_settings, answerer) as test_client:
        yield test_client


@pytest.fixture()
def fresh_answerer(corpus_settings, embedder):
    """An answerer of its own over the seed corpus index: calibrating replaces its models, which
    must not leak into the session's shared answerer."""
    return warm_answerer(corpus_settings, embedder)
