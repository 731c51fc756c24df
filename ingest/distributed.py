"""Distributed ingest on a Ray cluster (the optional extra ``verbatim[ray]``).

``RayStages`` runs the stages of :class:`ingest.pipeline.IngestStages` whose work grows with the
corpus on a Ray cluster, calling the very same stage functions, so the build is the one a
single-machine ingest makes:

* parsing (clean, structure, sentences) and chunking/tagging run as Ray tasks, one group of
  consecutive documents per task; the driver concatenates the groups' tables in order
  (``merge_tables``);
* embedding runs in a Ray Data actor pool (``map_batches`` with one model per actor, one actor
  per cluster CPU by default); only texts the embedding cache lacks are sent, and every batch
  that comes back is saved to the cache at once, so a re-run after a failure resumes;
* a sharded build (``--shards N``) is written by the workers instead, one task per shard and
  pass (:mod:`ingest.shard_build`): each embeds what the cache lacks of its shard's texts and
  writes its files, and one more task writes the adapted model's training questions, so the
  driver never holds a vector.

The driver reads the files (they live where ``verbatim ingest`` runs, the cluster's nodes need
no shared file system), builds the FAISS/BM25 indexes and writes the build atomically, exactly
as the single-machine path does. Ray is imported only by this module and ``web/ray_serve.py``.
"""

from __future__ import annotations

import functools
import logging
import math
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import ray

import ingest
import verbatim
from ingest.embed_cache import EmbeddingCache
from ingest.loader import SkippedSource, SourceText
from ingest.parse import ParsedDocument
from ingest.pipeline import (
    IngestStages,
    ProgressBar,
    Tables,
    build_tables,
    embed_tables,
    merge_tables,
    parse_sources,
)
from ingest.shard_build import (
    FinishJob,
    PairQuestionsJob,
    PairQuestionsPart,
    ShardJob,
    ShardPart,
    VectorSource,
    finish_shard,
    run_pair_questions,
    run_write,
)
from verbatim.embedding import Embedder
from verbatim.safety_policy import SafetyPolicy
from verbatim.settings import OFFLINE_ENV, Settings

CONNECT_TIMEOUT_SECONDS = 5.0
GROUPS_PER_CPU = 4  # task groups per CPU: enough to balance, few enough to keep overhead small
EMBED_BATCH = 256  # texts per map_batches call of an embedding actor
STORE_BATCH = 2048  # texts saved to the embedding cache per shard as results stream back


class ClusterError(Exception):
    """The cluster cannot be used; the message is one line that says why and what to do."""


@dataclass
class ClusterInfo:
    """What the driver knows of the cluster it joined."""

    address: str
    nodes: int
    cpus: int


def _check_reachable(address: str) -> None:
    """Fail fast (and in one line) when nothing listens at ``host:port``; Ray itself retries
    for a minute before giving up on an unreachable head."""
    host, _, port = address.rpartition(":")
    if address.startswith("ray://") or not host or not port.isdigit():
        raise ClusterError(f"--ray takes 'auto' or HOST:PORT of the cluster's head, not {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except OSError as error:
        raise ClusterError(
            f"cannot reach a Ray cluster at {address} ({error.strerror or error}); "
            "start one with `ray start --head` or check the address"
        ) from None


def shipped_packages(packages: Sequence[ModuleType] = ()) -> tuple[ModuleType, ...]:
    """The driver's packages :func:`connect` ships to the workers: ``ingest`` and ``verbatim``,
    then ``packages``."""
    return (ingest, verbatim, *packages)


def connect(address: str, packages: Sequence[ModuleType] = (), check_workers: bool = True) -> ClusterInfo:
    """Join the Ray cluster at ``address`` (``auto``: the cluster this machine belongs to).

    The driver ships its own ``ingest`` and ``verbatim`` packages to the workers, so the
    code that cuts and tags text is the driver's (the build's fingerprint depends on it); the
    libraries (``pip install 'verbatim[ray]'``) must be installed on every node.

    Args:
        address: ``auto`` or ``HOST:PORT`` of the head node's GCS.
        packages: More of the driver's packages to ship (``qa`` and ``web`` for Ray Serve).
        check_workers: Whether to check that a worker can import Verbatim's libraries (it starts
            one worker process: seconds); False for a caller that runs none of Verbatim's code
            on the cluster (``--undeploy``).

    Returns:
        The cluster's size.

    Raises:
        ClusterError: Nothing to join, or the workers cannot run Verbatim's code.
    """
    if address != "auto":
        _check_reachable(address)
    if not ray.is_initialized():
        try:
            ray.init(
                address=address,
                runtime_env={
                    "py_modules": [Path(package.__file__).parent for package in shipped_packages(packages)],
                    # Bytecode is not shipped: the workers compile the sources. It also keeps each
                    # package's upload (named by a hash of its files) the same from one command to
                    # the next, so a Serve redeploy of the same code keeps its replicas.
                    "excludes": ["__pycache__/", "*.pyc"],
                    "env_vars": dict(OFFLINE_ENV),
                },
                logging_level="ERROR",
                log_to_driver=False,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, TimeoutError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ClusterError(f"cannot join the Ray cluster at {address}: {first_line}") from None
    if check_workers:
        try:
            ray.get(_worker_check.remote(), timeout=120)
        except ray.exceptions.RayError as error:
            cause = str(error).strip().splitlines()[-1][:300]
            raise ClusterError(
                f"the cluster's workers cannot run Verbatim ({cause}); install 'verbatim[ray]' on every node"
            ) from None
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    return ClusterInfo(address=address, nodes=len(nodes), cpus=int(ray.cluster_resources().get("CPU", 0)))


def disconnect() -> None:
    """Leave the cluster (the cluster keeps running)."""
    if ray.is_initialized():
        ray.shutdown()


@ray.remote(num_cpus=0)
def _worker_check() -> str:
    """Import what the stages need on a worker (raises there if a library is missing)."""
    import faiss  # noqa: F401  (only checked: the driver builds the index)
    import sentence_transformers  # noqa: F401

    return verbatim.__name__


@functools.cache
def _worker_embedder() -> Embedder:
    """One warm embedder per worker process (tasks reuse their worker), for token counting."""
    embedder = Embedder()
    embedder.warm_up()
    return embedder


@ray.remote(num_cpus=1, max_retries=3)
def _parse_group(sources: list[SourceText], settings: Settings) -> tuple[list[ParsedDocument], list[SkippedSource]]:
    return parse_sources(sources, settings)


@ray.remote(num_cpus=1, max_retries=3)
def _tables_group(parsed: list[ParsedDocument], settings: Settings, policy: SafetyPolicy) -> Tables:
    return build_tables(parsed, _worker_embedder(), settings, policy)


def _model_files(model_path: str | None) -> dict[str, bytes] | None:
    """The files of an adapted model folder, to ship to every actor (None: the packaged model)."""
    if model_path is None:
        return None
    folder = Path(model_path)
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def _unpack_model(files: dict[str, bytes]) -> str:
    """Write a shipped model into a folder of this worker's own; returns the folder."""
    folder = Path(tempfile.mkdtemp(prefix="verbatim-model-"))
    for name, data in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return str(folder)


class _EmbedBatches:
    """A Ray Data actor: one model, called on batches of texts.

    The adapted model of the build (trained once by the driver) comes through the object store,
    so a node that never saw the driver's disk embeds with exactly the same weights.
    """

    def __init__(self, weights_hash: str, model_files: list | None = None) -> None:
        files = ray.get(model_files[0]) if model_files else None
        self._embedder = Embedder(_unpack_model(files) if files else None)
        self._embedder.warm_up()
        if self._embedder.weights_hash != weights_hash:
            # A node with other weights would silently mix two models' vectors in one index.
            raise RuntimeError(
                f"node {ray.util.get_node_ip_address()} has other model weights "
                f"({self._embedder.weights_hash}, the driver has {weights_hash})"
            )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(text) for text in batch["text"]]
        return {"text": batch["text"], "vector": self._embedder.encode_passages(texts)}


def _groups(items: Sequence, count: int) -> list[list]:
    """Consecutive groups of ``items``, at most ``count`` of them, none empty."""
    size = max(1, math.ceil(len(items) / max(1, count)))
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def _gather(refs: list, bar, weight) -> list:
    """Results of ``refs`` in their order, advancing ``bar`` by ``weight(i)`` as each finishes."""
    position = {ref: number for number, ref in enumerate(refs)}
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for ref in done:
            bar.update(weight(position[ref]))
    return ray.get(refs)


class RayStages(IngestStages):
    """Ingest stages on a Ray cluster (call :func:`connect` first).

    Args:
        actors: Embedding actors (one model each); default: one per CPU of the cluster.
        save_every: Vectors saved to the embedding cache at a time as they stream back (what a
            re-run after a failure resumes from).
    """

    def __init__(self, actors: int | None = None, save_every: int | None = None) -> None:
        self.cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.actors = actors or self.cpus
        self.save_every = save_every or STORE_BATCH

    def parse(
        self, sources: Sequence[SourceText], settings: Settings, progress: bool
    ) -> tuple[list[ParsedDocument], list[SkippedSource]]:
        """Parse groups of sources in parallel tasks; results in the sources' order."""
        groups = _groups(sources, self.cpus * GROUPS_PER_CPU)
        refs = [_parse_group.remote(group, settings) for group in groups]
        bar = ProgressBar(len(sources), "documents", progress)
        try:
            results = _gather(refs, bar, lambda number: len(groups[number]))
        finally:
            bar.close()
        parsed = [document for group, _ in results for document in group]
        skipped = [item for _, group in results for item in group]
        return parsed, skipped

    def tables(
        self, parsed: list[ParsedDocument], embedder: Embedder, settings: Settings, policy: SafetyPolicy
    ) -> Tables:
        """Chunk and tag groups of documents in parallel tasks, merged in order."""
        groups = _groups(parsed, self.cpus * GROUPS_PER_CPU)
        policy_ref = ray.put(policy)
        return merge_tables(ray.get([_tables_group.remote(group, settings, policy_ref) for group in groups]))

    def embed(
        self, cache: EmbeddingCache, tables: Tables, embedder: Embedder, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embed the texts the cache lacks in an actor pool, saving each batch as it returns."""
        missing = cache.missing(tables.sentence_texts + tables.chunk_texts)
        if missing:
            # Wrapped in a list so Ray hands the actor the reference, fetched once per actor.
            files = _model_files(embedder.model_path)
            model_files = [ray.put(files)] if files else None
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = False
            context.print_on_execution_start = False
            logging.getLogger("ray.data").setLevel(logging.ERROR)
            # Blocks of about one save each: a block's vectors come back only when the whole block
            # is embedded, so larger blocks would delay (and bunch up) the saves a resume relies on.
            blocks = max(1, math.ceil(len(missing) / self.save_every))
            items = [{"text": text} for text in missing]
            dataset = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
                _EmbedBatches,
                fn_constructor_kwargs={"weights_hash": embedder.weights_hash, "model_files": model_files},
                batch_size=EMBED_BATCH,
                # Autoscaling from one actor: the run goes on when a node (and its actor) is lost.
                compute=ray.data.ActorPoolStrategy(min_size=1, max_size=self.actors),
                num_cpus=1,
            )
            bar = ProgressBar(len(missing), "embedding", progress)
            try:
                for batch in dataset.iter_batches(batch_size=self.save_every, batch_format="numpy"):
                    cache.store([str(text) for text in batch["text"]], batch["vector"])
                    bar.update(len(batch["text"]))
            finally:
                bar.close()
        return embed_tables(cache, tables, _nothing_left_to_embed, progress=False)


    def shard_runner(self, embedder: Embedder, progress: bool) -> RayShardRunner:
        """Shards written by Ray tasks, one per shard (:mod:`ingest.shard_build`)."""
        return RayShardRunner(embedder, progress)


class RayShardRunner:
    """The passes of a sharded build as Ray tasks of one CPU each, one per shard.

    Args:
        embedder: The model that embeds (an adapted one is shipped through the object store).
        progress: Whether to show a progress bar of the shards written.
    """

    def __init__(self, embedder: Embedder, progress: bool = False) -> None:
        files = _model_files(embedder.model_path)
        self._model_files = [ray.put(files)] if files else None  # in a list: fetched by the task
        self._weights_hash = str(embedder.weights_hash)
        self._progress = progress

    def write(self, jobs: Sequence[ShardJob], source: VectorSource) -> list[ShardPart]:
        """Pass 1 of every shard, in parallel; the parts in the jobs' order."""
        refs = [_write_shard.remote(job, source, self._weights_hash, self._model_files) for job in jobs]
        bar = ProgressBar(sum(len(job.documents) for job in jobs), "shards (documents)", self._progress)
        try:
            return _gather(refs, bar, lambda number: len(jobs[number].documents))
        finally:
            bar.close()

    def pair_questions(self, job: PairQuestionsJob, source: VectorSource) -> PairQuestionsPart:
        """The training questions' file, written by one task (embedded there unless unchanged)."""
        return ray.get(_write_pair_questions.remote(job, source, self._weights_hash, self._model_files))

    def finish(self, jobs: Sequence[FinishJob]) -> None:
        """Pass 2 of every shard, in parallel."""
        ray.get([_finish_shard.remote(job) for job in jobs])


def _visible(folder: str, build_root: bool = False) -> None:
    """Refuse to write a shard (or the build's root files) where the driver's temporary build is
    not (no shared file system)."""
    build = Path(folder) if build_root else Path(folder).parent.parent
    if not build.is_dir():
        raise FileNotFoundError(
            f"node {ray.util.get_node_ip_address()} does not see {build}: a sharded build is written by "
            "the workers, so the index folder must be at the same path on every node (a shared file system)"
        )


def _shipped_encoder(weights_hash: str, model_files: list | None):
    """The batch encoder of the build's model on this worker (the adapted one from the object
    store), refused when its weights are not the driver's."""
    files = ray.get(model_files[0]) if model_files else None
    embedder = Embedder(_unpack_model(files) if files else None)
    embedder.warm_up()
    if embedder.weights_hash != weights_hash:
        raise RuntimeError(
            f"node {ray.util.get_node_ip_address()} has other model weights "
            f"({embedder.weights_hash}, the driver has {weights_hash})"
        )
    return embedder.encode_passages


@ray.remote(num_cpus=1, max_retries=3)
def _write_shard(job: ShardJob, source: VectorSource, weights_hash: str, model_files: list | None) -> ShardPart:
    """Pass 1 of one shard on a worker: its vectors (cache, live build, model) and its files."""
    _visible(job.folder)
    return run_write(job, source, functools.partial(_shipped_encoder, weights_hash, model_files))


@ray.remote(num_cpus=1, max_retries=3)
def _write_pair_questions(
    job: PairQuestionsJob, source: VectorSource, weights_hash: str, model_files: list | None
) -> PairQuestionsPart:
    """The build's training questions on a worker: the live build's, or embedded by the shipped model."""
    _visible(job.folder, build_root=True)
    return run_pair_questions(job, source, functools.partial(_shipped_encoder, weights_hash, model_files))


@ray.remote(num_cpus=1, max_retries=3)
def _finish_shard(job: FinishJob) -> None:
    """Pass 2 of one shard on a worker: its BM25 index and hubness against the whole corpus."""
    _visible(job.folder)
    finish_shard(job)


def _nothing_left_to_embed(texts: list[str]) -> np.ndarray:
    raise RuntimeError(f"{len(texts)} text(s) were not embedded by the cluster")
