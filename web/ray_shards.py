"""The shards of a sharded index, each in its own Ray actor (the optional extra ``verbatim[ray]``).

:class:`RayShardPool` starts (or finds) one actor per shard of the live build; each actor loads
only its shard (:func:`verbatim.index_format.load_shard`), so no process holds the whole index,
and shard k goes to the k-th node of the cluster (round robin). The actors are named after the build and
the shard, in the ``verbatim`` namespace, so every process that answers questions (each Ray
Serve replica, or a script) shares the same N actors instead of loading N more. The coordinator
(:class:`qa.sharded.ShardedAnswerer`) asks all of them at once and waits for all replies.

The index folder must be readable at the same path on every node, as for Ray Serve.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from qa.shards import DocumentPart, ShardCandidates, ShardSearcher
from verbatim import index_format
from verbatim.embedding import Embedder

NAMESPACE = "verbatim"
# Shard actors reserve no CPU: they are idle between two lookups, and the replicas and
# embedding actors need the cores. What bounds them is memory (docs/scale.md, capacity plan).
SHARD_ACTOR_CPUS = 0


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
        """Its documents, chunks and sentences, and the node it runs on."""
        return {**self._searcher.size(), "node": ray.get_runtime_context().get_node_id()}

    def candidates(self, vector: np.ndarray, terms: Sequence[str], count: int) -> ShardCandidates:
        """See :meth:`qa.shards.ShardSearcher.candidates`."""
        return self._searcher.candidates(vector, terms, count)

    def documents(self, docs: Sequence[int]) -> DocumentPart:
        """See :meth:`qa.shards.ShardSearcher.documents`."""
        return self._searcher.documents(docs)


def actor_name(build: str, number: int) -> str:
    """Name of the actor of shard ``number`` of build ``build``."""
    return f"shard-{build}-{number:03d}"


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
        # Shard k on the k-th alive node (round robin). Pinned: a soft preference left every
        # zero-CPU actor on one node. An actor whose node is lost is not restarted there; its name
        # is freed, and the next load (a redeploy, a replica restart) starts it on a live node.
        nodes = sorted(node["NodeID"] for node in ray.nodes() if node.get("Alive"))
        actors = [
            remote.options(
                name=actor_name(build.name, number), get_if_exists=True, namespace=NAMESPACE, lifetime="detached",
                num_cpus=SHARD_ACTOR_CPUS, max_restarts=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(nodes[number % len(nodes)], soft=False),
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
        """What each actor holds and where it runs."""
        return ray.get([actor.size.remote() for actor in self.actors])

    def candidates(self, vector: np.ndarray, terms: Sequence[str], count: int) -> list[ShardCandidates]:
        """Every shard's candidates, asked of all actors at once."""
        vector_ref = ray.put(np.asarray(vector, dtype=np.float32))
        return ray.get([actor.candidates.remote(vector_ref, list(terms), count) for actor in self.actors])

    def documents(self, wanted: dict[int, list[int]]) -> list[DocumentPart]:
        """The wanted documents of each shard, asked of their actors at once."""
        return ray.get([self.actors[shard].documents.remote(docs) for shard, docs in sorted(wanted.items())])

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
