"""Fixtures of the eval tests."""

from __future__ import annotations

import pytest


@pytest.fixture()
def fresh_answerer(corpus_settings, embedder):
    """An answerer of its own over the seed corpus index: calibrating replaces its models, which
    must not leak into the session's shared answerer."""
    from qa.pipeline import Answerer

    instance = Answerer(corpus_settings, embedder=embedder)
    instance.warm_up()
    return instance
