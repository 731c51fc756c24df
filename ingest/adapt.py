"""Adapt the one embedding model to the corpus it answers from, on the corpus's training pairs.

Each pair's question is trained to lie nearest the sentences that hold its answer, against the
other answers of its batch (multiple-negatives ranking loss, in-batch negatives; optionally a
sentence of the same section that does not hold the answer as a hard negative). It is a plain
PyTorch loop over the sentence-transformers model: a trainer framework would pull datasets and
accelerate into the install for a loop of a few dozen steps.

Training is deterministic (fixed seed, deterministic kernels, fixed thread count), so the same
pairs, base model and settings give the same weights; the adapted model is cached under a key
of exactly those, in a folder shared by every index (``Settings.model_cache_dir``), so
re-ingests and tests train once. See docs/adaptation.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ingest.loader import SHIPPED_MODEL_SUFFIX
from ingest.pairs import TrainingPair
from verbatim.embedding import packaged_model_path, weights_hash
from verbatim.settings import AdaptationConfig, force_offline

CODE_HASH_FILES = (Path(__file__),)
# Bump when a change to the training loop changes the weights it makes: models shipped with a
# corpus (see :func:`shipped_model_dir`) name the version they were trained by.
TRAINING_VERSION = 2
SHIPPED_SUFFIX = SHIPPED_MODEL_SUFFIX  # corpus/<name>.pairs.jsonl -> corpus/<name>.model/
SHIPPED_KEY_FILE = "training_key.json"
WARMUP_SHARE = 0.1  # of the steps, with the learning rate rising linearly from 0
WEIGHT_DECAY = 0.01  # AdamW, except biases and LayerNorm weights (as sentence-transformers)


@dataclass(frozen=True)
class SentenceSpan:
    """A sentence of a document's canonical text, and its section."""

    start: int
    end: int
    section: int


@dataclass(frozen=True)
class TrainingExample:
    """What one pair trains: a question, the text that answers it, optionally a hard negative."""

    question: str
    positive: str
    negative: str | None = None


@dataclass(frozen=True)
class AdaptedModel:
    """An adapted model in the cache.

    Attributes:
        path: Folder of the sentence-transformers model.
        weights_hash: ``sha256:<hex>`` of its weights file.
        base_weights_hash: Hash of the model it was trained from.
        cache_key: Key of (training examples, base model, settings, training code).
        examples: Training examples it saw.
        seconds: Training time (0 when it came from the cache or the corpus).
        cached: Whether it came from the cache or the corpus (no training).
        training_key: Key of what it was trained from (see :func:`training_key`).
        shipped: Whether it is the model shipped with the corpus.
    """

    path: Path
    weights_hash: str
    base_weights_hash: str
    cache_key: str
    examples: int
    seconds: float
    cached: bool
    training_key: str = ""
    shipped: bool = False


def training_examples(
    pairs: Sequence[TrainingPair],
    canonical: Mapping[str, str],
    sentences: Mapping[str, Sequence[SentenceSpan]],
    hard_negatives: bool,
    seed: int,
) -> list[TrainingExample]:
    """Turn pairs into training examples on the sentences the index embeds.

    The positive is the text from the first to the last sentence the answer span touches (the
    index embeds whole sentences, so that is what a question must land near). The hard negative
    is a sentence of the same section outside the span, chosen by a seeded draw.

    Args:
        pairs: Valid pairs (see :func:`ingest.pairs.load_pairs`).
        canonical: Canonical text by document id.
        sentences: Sentence spans by document id, in order.
        hard_negatives: Whether to draw a hard negative for each pair.
        seed: Seeds the draw.

    Returns:
        One example per pair whose span touches at least one sentence.
    """
    draw = random.Random(seed)
    examples = []
    for pair in pairs:
        text, spans = canonical[pair.doc_id], sentences.get(pair.doc_id, ())
        touched = [span for span in spans if span.start < pair.end and pair.start < span.end]
        if not touched:
            continue
        positive = text[touched[0].start : touched[-1].end]
        negative = None
        if hard_negatives:
            sections = {span.section for span in touched}
            others = [
                text[span.start : span.end]
                for span in spans
                if span.section in sections and span not in touched and len(text[span.start : span.end].split()) >= 4
            ]
            negative = draw.choice(others) if others else None
        examples.append(TrainingExample(pair.question, positive, negative))
    return examples


def code_hash() -> str:
    """Hash of the training code (part of the cache key: a change to the loop retrains)."""
    digest = hashlib.sha256()
    for path in CODE_HASH_FILES:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def training_key(
    examples: Sequence[TrainingExample], base_hash: str, config: AdaptationConfig, out_of_scope: Sequence[str] = ()
) -> str:
    """Key of what an adapted model is trained from: the examples, the out-of-scope questions,
    the base model and the training settings (and :data:`TRAINING_VERSION`).

    A model shipped with a corpus is used when its recorded key is this one.
    """
    payload: dict = {
        "examples": [asdict(example) for example in examples],
        "base": base_hash,
        "config": {key: value for key, value in asdict(config).items() if key != "enabled"},
        "version": TRAINING_VERSION,
    }
    if out_of_scope:
        payload["out_of_scope"] = list(out_of_scope)
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def cache_key(
    examples: Sequence[TrainingExample], base_hash: str, config: AdaptationConfig, out_of_scope: Sequence[str] = ()
) -> str:
    """Key of an adapted model in the local cache: the training key and the training code's hash
    (a change to the loop retrains here even when nobody bumped :data:`TRAINING_VERSION`)."""
    payload = {"training": training_key(examples, base_hash, config, out_of_scope), "code": code_hash()}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _batches(examples: Sequence[TrainingExample], batch_size: int, generator) -> list[list[int]]:
    """Shuffled batches in which no text is both one question's answer and another's negative
    (two questions about the same sentence in one batch would each count it as wrong)."""
    import torch

    pending = torch.randperm(len(examples), generator=generator).tolist()
    batches = []
    while pending:
        batch: list[int] = []
        texts: set[str] = set()
        rest = []
        for number in pending:
            example = examples[number]
            own = {example.positive} | ({example.negative} if example.negative else set())
            if len(batch) < batch_size and not own & texts:
                batch.append(number)
                texts |= own
            else:
                rest.append(number)
        batches.append(batch)
        pending = rest
    return batches


@contextlib.contextmanager
def _deterministic_torch(threads: int) -> Iterator[None]:
    """Deterministic kernels and a fixed thread count while training, restored afterwards."""
    import torch

    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous_deterministic)
        torch.set_num_threads(previous_threads)


def train(
    examples: Sequence[TrainingExample],
    base_path: str,
    config: AdaptationConfig,
    output: Path,
    out_of_scope: Sequence[str] = (),
    sentences: Sequence[str] = (),
) -> None:
    """Fine-tune the base model on the examples and save it as a sentence-transformers folder.

    The weights are saved in half precision (fp16): what any machine loads is then the same
    rounded weights, whether it trained them or took them shipped with the corpus.

    Args:
        examples: Training examples (at least one).
        base_path: Folder of the base sentence-transformers model.
        config: Training settings.
        output: Folder to save into (created).
        out_of_scope: Questions the corpus does not answer (used when
            ``config.out_of_scope_weight`` is positive): each step, a few of them are pushed
            below ``config.out_of_scope_margin`` of the batch's answers and of the corpus
            sentences the base model put nearest them.
        sentences: The corpus's sentences (where those nearest sentences are looked up).
    """
    force_offline()
    import torch
    from sentence_transformers import SentenceTransformer

    with _deterministic_torch(config.threads):
        torch.manual_seed(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        model = SentenceTransformer(str(base_path), device="cpu")
        tokenizer, transformer = model.tokenizer, model[0].auto_model
        max_tokens = int(model.max_seq_length)

        def embed(texts: list[str]):
            batch = tokenizer(
                texts, return_tensors="pt", padding=True, truncation=True, max_length=max_tokens,
                return_token_type_ids=True,
            )
            hidden = transformer(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

        decay, no_decay = [], []
        for name, parameter in transformer.named_parameters():
            (no_decay if "bias" in name or "LayerNorm" in name else decay).append(parameter)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
            lr=config.learning_rate,
        )
        repelled = list(out_of_scope) if config.out_of_scope_weight > 0 and sentences else []
        nearest: list[list[str]] = []
        if repelled:
            transformer.eval()
            with torch.no_grad():
                corpus = torch.cat([embed(list(sentences[at : at + 64])) for at in range(0, len(sentences), 64)])
                questions = torch.cat([embed(repelled[at : at + 64]) for at in range(0, len(repelled), 64)])
                top = (questions @ corpus.T).topk(min(config.out_of_scope_nearest, len(sentences)), dim=1).indices
            nearest = [[sentences[int(number)] for number in row] for row in top]
            repel_order = torch.randperm(len(repelled), generator=generator).tolist()
        epochs = [_batches(examples, config.batch_size, generator) for _ in range(config.epochs)]
        total = sum(len(batches) for batches in epochs)
        warmup = max(1, int(total * WARMUP_SHARE))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: step / warmup if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
        )
        transformer.train()
        repel_at = 0
        for batches in epochs:
            for batch in batches:
                chosen = [examples[number] for number in batch]
                questions = embed([example.question for example in chosen])
                candidates = [example.positive for example in chosen]
                candidates += [example.negative for example in chosen if example.negative]
                answers = embed(candidates)
                scores = config.scale * questions @ answers.T
                loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(chosen)))
                if repelled:
                    picked = [repel_order[(repel_at + offset) % len(repelled)] for offset in range(config.out_of_scope_per_step)]
                    repel_at += config.out_of_scope_per_step
                    extra = sorted({text for number in picked for text in nearest[number]} - set(candidates))
                    targets = torch.cat([answers, embed(extra)]) if extra else answers
                    similarity = embed([repelled[number] for number in picked]) @ targets.T
                    # A smooth maximum over the targets, pushed under the margin.
                    closest = torch.logsumexp(config.scale * similarity, dim=1) / config.scale
                    loss = loss + config.out_of_scope_weight * torch.relu(closest - config.out_of_scope_margin).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
        transformer.eval()
        model.half()
        output.mkdir(parents=True, exist_ok=True)
        model.save(str(output))


def shipped_model_dir(pairs_file: Path) -> Path:
    """Where the model adapted on a pairs file ships: ``<name>.pairs.jsonl`` -> ``<name>.model/``."""
    name = pairs_file.name
    stem = name[: -len(".pairs.jsonl")] if name.lower().endswith(".pairs.jsonl") else pairs_file.stem
    return pairs_file.with_name(stem + SHIPPED_SUFFIX)


def read_shipped(folder: Path) -> dict | None:
    """The key record of a shipped model folder, when it is complete and its weights are intact.

    Args:
        folder: A ``<name>.model/`` folder.

    Returns:
        The record (``training_key``, ``weights_hash``, ...), or None when the folder, its key file
        or its weights are missing, or the weights are not the ones the record names.
    """
    try:
        record = json.loads((folder / SHIPPED_KEY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not (folder / "model.safetensors").is_file():
        return None
    if record.get("weights_hash") != weights_hash(str(folder)):
        return None
    return record


def export_model(model: AdaptedModel, target: Path, config: AdaptationConfig, pairs: int, out_of_scope: int) -> Path:
    """Write an adapted model to a corpus's shipped-model folder with the key it was trained from.

    The folder is replaced whole (written beside it, then renamed into place).

    Args:
        model: The adapted model (from :meth:`ModelAdapter.run`).
        target: The ``<name>.model/`` folder.
        config: The training settings it was made with.
        pairs: Training pairs it was made from.
        out_of_scope: Out-of-scope questions it was made from.

    Returns:
        The folder written.
    """
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:8]}")
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    try:
        shutil.copytree(model.path, staging)
        record = {
            "training_key": model.training_key,
            "weights_hash": model.weights_hash,
            "base_weights_hash": model.base_weights_hash,
            "training_version": TRAINING_VERSION,
            "training": {key: value for key, value in asdict(config).items() if key != "enabled"},
            "pairs": pairs,
            "out_of_scope": out_of_scope,
            "examples": model.examples,
            "export": "verbatim ingest --export-model",
        }
        (staging / SHIPPED_KEY_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            os.rename(target, old)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return target


class ModelAdapter:
    """Gives the adapted model for a corpus's training examples: the one shipped with the corpus
    when it was trained from exactly these, else the cached one, else a newly trained one.

    Args:
        cache_dir: Folder of cached adapted models (shared by every index).
        config: Training settings.
        base_model_path: Base model folder; defaults to the packaged weights.
        shipped_dir: The corpus's shipped-model folder (``<name>.model/``), if any.
    """

    def __init__(
        self, cache_dir: Path, config: AdaptationConfig, base_model_path: str | None = None,
        shipped_dir: Path | None = None,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.config = config
        self.base_model_path = base_model_path
        self.shipped_dir = shipped_dir
        self._base_hash: str | None = None

    def warm_up(self) -> None:
        """Hash the base weights (the model itself is loaded only if training is needed)."""
        if self._base_hash is None:
            self.base_model_path = self.base_model_path or packaged_model_path()
            self._base_hash = weights_hash(self.base_model_path)

    @property
    def base_hash(self) -> str:
        """Hash of the base model's weights."""
        self.warm_up()
        assert self._base_hash is not None
        return self._base_hash

    def cached(self, key: str) -> Path | None:
        """The cached model folder for a key, when complete."""
        folder = self.cache_dir / key[:32]
        return folder if (folder / "model.safetensors").is_file() and (folder / "modules.json").is_file() else None

    def run(
        self, examples: Sequence[TrainingExample], out_of_scope: Sequence[str] = (), sentences: Sequence[str] = ()
    ) -> AdaptedModel:
        """The adapted model for these examples: shipped, cached, or trained and cached.

        Args:
            examples: Training examples (at least one).
            out_of_scope: Out-of-scope questions (see :func:`train`).
            sentences: The corpus's sentences (see :func:`train`).

        Returns:
            The adapted model and where it lies.
        """
        if not examples:
            raise ValueError("adaptation needs at least one training example")
        self.warm_up()
        trained_from = training_key(examples, self.base_hash, self.config, out_of_scope)
        key = cache_key(examples, self.base_hash, self.config, out_of_scope)
        if self.shipped_dir is not None:
            record = read_shipped(self.shipped_dir)
            if record is not None and record.get("training_key") == trained_from:
                return AdaptedModel(
                    self.shipped_dir, record["weights_hash"], self.base_hash, key, len(examples), 0.0, True,
                    trained_from, shipped=True,
                )
        found = self.cached(key)
        if found is not None:
            return AdaptedModel(
                found, weights_hash(str(found)), self.base_hash, key, len(examples), 0.0, True, trained_from
            )
        started = time.perf_counter()
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = self.cache_dir / f".tmp-{uuid.uuid4().hex[:12]}"
        try:
            train(examples, str(self.base_model_path), self.config, staging, out_of_scope, sentences)
            final = self.cache_dir / key[:32]
            try:
                os.rename(staging, final)
            except OSError:  # another process cached the same model meanwhile: same weights
                if self.cached(key) is None:
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return AdaptedModel(
            final, weights_hash(str(final)), self.base_hash, key, len(examples), time.perf_counter() - started, False,
            trained_from,
        )
