"""Embeddings kept between ingest runs: reuse for unchanged text, resume after a crash.

Vectors are keyed by the SHA-1 of the exact text embedded, so any text seen before (in the
live build, or in a run that was killed) is never embedded again. A run appends a shard file
after every batch it embeds; shards are written atomically and deleted once a build commits.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

KEY_BYTES = 20


def text_key(text: str) -> bytes:
    """Cache key of a text."""
    return hashlib.sha1(text.encode("utf-8")).digest()


class EmbeddingCache:
    """Vectors by text key, from the previous build and from resume shards.

    Args:
        folder: Where resume shards live (one folder per model).
        dimensions: Vector size.
    """

    def __init__(self, folder: Path, dimensions: int) -> None:
        self.folder = Path(folder)
        self.dimensions = dimensions
        self._rows: dict[bytes, np.ndarray] = {}
        self._fresh: set[bytes] = set()  # embedded by this run through store()
        self.reused = 0
        self.embedded = 0

    def __len__(self) -> int:
        return len(self._rows)

    def count_missing(self, texts: Sequence[str]) -> int:
        """Distinct texts that would have to be embedded."""
        return len({text_key(text) for text in texts} - self._rows.keys())

    def missing(self, texts: Sequence[str]) -> list[str]:
        """Distinct texts not cached, longest first (batches of similar length pad little)."""
        pending = {text_key(text): text for text in texts if text_key(text) not in self._rows}
        return sorted(pending.values(), key=lambda text: -len(text))

    def store(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Add vectors this run embedded elsewhere (e.g. on a cluster), saved for resume."""
        if len(texts) != len(vectors):
            raise ValueError(f"{len(texts)} texts but {len(vectors)} vectors")
        keys = [text_key(text) for text in texts]
        self._write_shard(keys, np.asarray(vectors, dtype=np.float32))
        for key, vector in zip(keys, vectors, strict=True):
            if key not in self._rows:
                self._rows[key] = vector
                self._fresh.add(key)
                self.embedded += 1

    def seed(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Offer vectors already computed for ``texts`` (e.g. by the live build)."""
        for text, vector in zip(texts, vectors, strict=True):
            self._rows.setdefault(text_key(text), vector)

    def load_shards(self, wanted: set[bytes] | None = None) -> int:
        """Read resume shards left by earlier runs; unreadable shards are ignored.

        Args:
            wanted: Keep only the vectors of these keys (:func:`text_key`; default: all), so a
                worker that builds one shard of an index holds no other shard's vectors.

        Returns:
            Number of vectors loaded.
        """
        loaded = 0
        if not self.folder.exists():
            return 0
        for shard in sorted(self.folder.glob("shard-*.npz")):
            try:
                with np.load(shard) as data:
                    keys, vectors = data["keys"], data["vectors"]
            except Exception:  # a shard cut short by a crash is simply recomputed
                continue
            if vectors.ndim != 2 or vectors.shape[1] != self.dimensions or len(keys) != len(vectors):
                continue
            for key, vector in zip(keys, vectors, strict=True):
                if wanted is not None and bytes(key) not in wanted:
                    continue
                self._rows.setdefault(bytes(key), vector)
                loaded += 1
        return loaded

    def _write_shard(self, keys: list[bytes], vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        number = len(list(self.folder.glob("shard-*.npz")))
        final = self.folder / f"shard-{number:06d}-{os.getpid()}.npz"
        staging = final.with_suffix(".partial")
        with staging.open("wb") as handle:
            np.savez(handle, keys=np.array(keys, dtype=f"S{KEY_BYTES}"), vectors=vectors)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, final)

    def clear_shards(self) -> None:
        """Delete resume shards (after a successful commit)."""
        if self.folder.exists():
            for path in self.folder.iterdir():
                if path.name.startswith("shard-"):
                    path.unlink(missing_ok=True)

    def embed(
        self,
        texts: Sequence[str],
        encode: Callable[[list[str]], np.ndarray],
        shard_size: int = 2048,
        on_progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Vectors for ``texts``, embedding only the ones not cached.

        Args:
            texts: Texts to embed.
            encode: Batch encoder returning normalised float32 vectors.
            shard_size: Texts embedded (and saved) per step.
            on_progress: Called with the number of texts just embedded.

        Returns:
            Float32 array ``(len(texts), dimensions)``.
        """
        output = np.empty((len(texts), self.dimensions), dtype=np.float32)
        keys = [text_key(text) for text in texts]
        pending: dict[bytes, list[int]] = {}
        for row, key in enumerate(keys):
            cached = self._rows.get(key)
            if cached is not None:
                output[row] = cached
                self.reused += key not in self._fresh
            else:
                pending.setdefault(key, []).append(row)
        # Longest first, like sentence-transformers, so batches pad little.
        order = sorted(pending, key=lambda key: -len(texts[pending[key][0]]))
        for begin in range(0, len(order), shard_size):
            batch_keys = order[begin : begin + shard_size]
            vectors = encode([texts[pending[key][0]] for key in batch_keys])
            self._write_shard(batch_keys, vectors)
            for key, vector in zip(batch_keys, vectors, strict=True):
                self._rows[key] = vector
                for row in pending[key]:
                    output[row] = vector
            self.embedded += len(batch_keys)
            if on_progress:
                on_progress(len(batch_keys))
        return output
