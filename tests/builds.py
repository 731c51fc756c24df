"""What the session fixtures of ``tests/conftest.py`` and ``tests/web/conftest.py`` both do: build
a fresh index of a folder of documents, warm an answerer over it, and open a client of the app
serving it.

The heavy modules are imported inside the functions, as the fixtures did: loading the test
configuration must not load the model stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from verbatim.settings import Settings


def built_settings(tmp_path_factory, embedder, corpus_dir: Path, prefix: str = "") -> Settings:
    """Settings whose index is a fresh build of ``corpus_dir`` (index and data folders made by pytest).

    Args:
        tmp_path_factory: pytest's factory of temporary folders.
        embedder: The session's warm embedder.
        corpus_dir: The documents.
        prefix: Put before the names of the temporary folders (``index``, ``data``).

    Returns:
        The settings; the build's report said ``built`` (the test fails otherwise).
    """
    from ingest.pipeline import run_ingest  # the model stack: only when a fixture builds

    settings = Settings.from_env(
        index_dir=tmp_path_factory.mktemp(f"{prefix}index"), corpus_dir=corpus_dir, data_dir=tmp_path_factory.mktemp(f"{prefix}data")
    )
    report = run_ingest(settings=settings, embedder=embedder, show_progress=False)
    assert report.status == "built", report.summary()
    return settings


def warm_answerer(settings: Settings, embedder):
    """An answerer over the index of ``settings``, warmed up."""
    from qa.pipeline import Answerer  # the model stack: only when a fixture answers

    answerer = Answerer(settings, embedder=embedder)
    answerer.warm_up()
    return answerer


@contextmanager
def app_client(settings: Settings, answerer) -> Iterator:
    """An HTTP client of the app answering with ``answerer`` (its lifespan runs once)."""
    from fastapi.testclient import TestClient  # the web stack: only when a fixture serves

    from web.app import create_app

    with TestClient(create_app(settings, answerer=answerer)) as client:
        yield client
