"""The shards of a sharded index, each in its own Ray actor (the optional extra ``verbatim[ray]``).

:class:`RayShardPool` starts (or finds) one actor per shard of the live build; each actor loads
only its shard (:func:`verbatim.index_format.load_shard`), so no process holds the whole index,
and shard k goes to the k-th node of the cluster (round robin) when that node has room. The actors are named after the build and
the shard, in the ``verbatim`` namespace, so every process that answers questions (each Ray
Serve replica, or a script) shares the same N actors instead of loading N more. The coordinator
(:class:`qa.sharded.ShardedAnswerer`) asks all of them at once and waits for all replies.

**Restarts.** A shard actor whose process dies (killed, out of memory, its node lost) is
restarted by Ray, on its node or, when that node is gone, on another one (the node preference is
soft), and loads its shard again from the build folder in its constructor. Calls in flight are
retried by Ray once the actor is back (they only read); a call that still meets a dead or
restarting actor is retried once more by :class:`RayShardPool`, and one that gets no reply within
:data:`RESTART_WAIT_SECONDS` raises :class:`qa.sharded.ShardUnavailableError`, which names the
shard and the redeploy command.

The index folder must be readable at the same path on every node, as for Ray Serve.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from qa.sharded import ShardUnavailableError
from qa.shards import DocumentPart, ShardCandidates, ShardSearcher
from verbatim import index_format
from verbatim.embedding import Embedder

NAMESPACE = "verbatim"
# Shard actors reserve no CPU: they are idle between two lookups, and the replicas and
# embedding actors need the cores. What bounds them is memory (docs/scale.md, capacity plan).
SHARD_ACTOR_CPUS = 0
# A shard actor reserves its shard's size on disk in Ray's ``memory`` resource (at least this).
# Reserving something also makes the node preference count: Ray places an actor that asks for no
# resource at all on a random node, whatever its soft node affinity says.
SHARD_ACTOR_MIN_MEMORY = 64 * 1024 * 1024
# Restarts of a shard actor whose process died (-1: as often as it dies; a shard that cannot be
# loaded is not restarted, its constructor's error ends it), and retries of a call it had in flight.
SHARD_ACTOR_RESTARTS = -1
SHARD_TASK_RETRIES = 1
# How long one call to the shards may wait for a reply (a restarting actor reloads its shard).
RESTART_WAIT_SECONDS = 120.0


class ShardActor:
    """One shard, loaded once, searched by every coordinator.

    Args:
        index_dir: Index folder (absolute; the same on every node).
        number: The shard.
        model_name: The build's embedding model.
        weights_hash: Its weights' hash (checked against the build).
    """

    def __init__(self, index_dir: str, number: int, model_name: str, weights_hash: str | None) -> None:
        self._searcher = ShardSearcher(index_format.load_shard(Path(index_dir), number, model_name, weights_hash))

    def size(self) -> dict[str, int]:
        """Its documents, chunks and sentences, the node it runs on and its process id."""
        return {**self._searcher.size(), "node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}

    def candidates(self, vector: np.ndarray, terms: Sequence[str], count: int) -> ShardCandidates:
        """See :meth:`qa.shards.ShardSearcher.candidates`."""
        return self._searcher.candidates(vector, terms, count)

    def documents(self, docs: Sequence[int]) -> DocumentPart:
        """See :meth:`qa.shards.ShardSearcher.documents`."""
        return self._searcher.documents(docs)


def actor_name(build: str, number: int) -> str:
    """Name of the actor of shard ``number`` of build ``build``."""
    return f"shard-{build}-{number:03d}"


def shard_bytes(build: Path, number: int) -> int:
    """Bytes of a shard's files (what its actor reserves in Ray's ``memory`` resource)."""
    folder = build / index_format.shard_folder(number)
    size = sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
    return max(SHARD_ACTOR_MIN_MEMORY, size)


class RayShardPool:
    """The shard actors of one build (call ``ingest.distributed.connect`` first).

    Args:
        actors: One actor handle per shard, in shard order.
    """

    def __init__(self, actors: list) -> None:
        self.actors = actors

    @classmethod
    def load(cls, index_dir: Path, embedder: Embedder) -> RayShardPool:
        """Find or start the actors of every shard of the live build of ``index_dir``.

        Args:
            index_dir: Index folder of a sharded build.
            embedder: The build's model.

        Returns:
            The pool, once every actor has loaded its shard.
        """
        index_dir = Path(index_dir).resolve()
        build = index_format.current_build(index_dir)
        entry = index_format.sharding(index_format.read_manifest(index_dir)) or {}
        remote = ray.remote(ShardActor)
        # Shard k preferably on the k-th alive node (round robin); softly, so that Ray restarts it
        # on another node when that one is lost. The memory it reserves makes the preference count.
        nodes = sorted(node["NodeID"] for node in ray.nodes() if node.get("Alive"))
        actors = [
            remote.options(
                name=actor_name(build.name, number), get_if_exists=True, namespace=NAMESPACE, lifetime="detached",
                num_cpus=SHARD_ACTOR_CPUS, memory=shard_bytes(build, number),
                max_restarts=SHARD_ACTOR_RESTARTS, max_task_retries=SHARD_TASK_RETRIES,
                scheduling_strategy=NodeAffinitySchedulingStrategy(nodes[number % len(nodes)], soft=True),
            ).remote(str(index_dir), number, embedder.name, embedder.weights_hash)
            for number in range(int(entry.get("count", 0)))
        ]
        pool = cls(actors)
        pool.sizes()  # wait until every shard is loaded (and fail here if one cannot be)
        return pool

    def count(self) -> int:
        """Number of shards."""
        return len(self.actors)

    def sizes(self) -> list[dict[str, int]]:
        """What each actor holds, where it runs and its process id."""
        return self._ask({number: (lambda actor: actor.size.remote()) for number in range(len(self.actors))})

    def candidates(self, vector: np.ndarray, terms: Sequence[str], count: int) -> list[ShardCandidates]:
        """Every shard's candidates, asked of all actors at once."""
        vector_ref = ray.put(np.asarray(vector, dtype=np.float32))
        terms = list(terms)
        return self._ask({
            number: (lambda actor: actor.candidates.remote(vector_ref, terms, count)) for number in range(len(self.actors))
        })

    def documents(self, wanted: dict[int, list[int]]) -> list[DocumentPart]:
        """The wanted documents of each shard, asked of their actors at once."""
        return self._ask({shard: (lambda actor, docs=docs: actor.documents.remote(docs)) for shard, docs in sorted(wanted.items())})

    def _ask(self, calls: dict) -> list:
        """Send one call to each of some shards at once and wait for every reply.

        A call that meets a dead or restarting actor (its process died; Ray restarts it and it
        reloads its shard) is sent again once; no reply within :data:`RESTART_WAIT_SECONDS`
        raises.

        Args:
            calls: Shard number -> a function that sends the call to that shard's actor.

        Returns:
            The replies, in the order of ``calls``.

        Raises:
            ShardUnavailableError: A shard did not answer in time, or died again.
        """
        numbers = list(calls)
        refs = [calls[number](self.actors[number]) for number in numbers]
        replies = []
        for number, ref in zip(numbers, refs, strict=True):
            try:
                replies.append(self._wait(number, ref))
            except (ray.exceptions.ActorDiedError, ray.exceptions.ActorUnavailableError):
                try:
                    replies.append(self._wait(number, calls[number](self.actors[number])))
                except (ray.exceptions.ActorDiedError, ray.exceptions.ActorUnavailableError) as error:
                    raise ShardUnavailableError(number, f"its actor died again after a restart ({type(error).__name__})") from error
        return replies

    @staticmethod
    def _wait(number: int, ref) -> object:  # noqa: ANN001 - a Ray object reference
        try:
            return ray.get(ref, timeout=RESTART_WAIT_SECONDS)
        except ray.exceptions.GetTimeoutError as error:
            ray.cancel(ref)
            raise ShardUnavailableError(number, f"no reply within {RESTART_WAIT_SECONDS:.0f} s") from error

    def stop(self) -> None:
        """End the actors (a new build gets new ones)."""
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []


def stop_all() -> int:
    """End every shard actor of every build (``verbatim serve --ray ... --undeploy``).

    Returns:
        How many were ended.
    """
    ended = 0
    for entry in ray.util.list_named_actors(all_namespaces=True):
        if entry.get("namespace") == NAMESPACE and entry.get("name", "").startswith("shard-"):
            ray.kill(ray.get_actor(entry["name"], namespace=NAMESPACE), no_restart=True)
            ended += 1
    return ended
