"""The cache calls distributed ingest relies on: missing texts out, vectors embedded elsewhere in."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.embed_cache import EmbeddingCache


def _vectors(texts: list[str]) -> np.ndarray:
    return np.array([[len(text), text.count("a"), 1.0] for text in texts], dtype=np.float32)


def test_missing_is_distinct_uncached_texts_longest_first(tmp_path):
    cache = EmbeddingCache(tmp_path, 3)
    cache.seed(["known"], _vectors(["known"]))
    assert cache.missing(["b", "known", "ccc", "b", "dd"]) == ["ccc", "dd", "b"]


def test_stored_vectors_are_used_counted_as_embedded_and_saved_for_resume(tmp_path):
    cache = EmbeddingCache(tmp_path, 3)
    cache.seed(["old"], _vectors(["old"]))
    cache.store(["new a", "new b"], _vectors(["new a", "new b"]))
    assert cache.embedded == 2

    def never(texts):
        raise AssertionError(f"embedded again: {texts}")

    output = cache.embed(["old", "new a", "new b", "new a"], never)
    np.testing.assert_array_equal(output, _vectors(["old", "new a", "new b", "new a"]))
    assert cache.reused == 1  # only "old" came from an earlier build
    resumed = EmbeddingCache(tmp_path, 3)
    assert resumed.load_shards() == 2
    assert resumed.missing(["new a", "new b", "other"]) == ["other"]


def test_store_rejects_mismatched_lengths(tmp_path):
    with pytest.raises(ValueError):
        EmbeddingCache(tmp_path, 3).store(["a", "b"], _vectors(["a"]))
