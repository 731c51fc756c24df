"""A sharded index on a real two-node Ray cluster: built by distributed ingest, each shard in its
own actor, every answer the one the whole index gives."""

from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest

from eval.bench.local_cluster import replica_healths
from ingest.sharding import split_into_shards
from qa.followup import Turn
from qa.retriever import top
from qa.sharded import ShardedAnswerer
from qa.shards import ShardSearcher
from qa.tunables import TUNABLES
from tests.cluster.helpers import (
    WholeIndex,
    assert_same_answers,
    conversation_responses,
    dialog_questions,
    eval_questions,
    medquad_questions,
    run_cli,
)
from verbatim import index_format
from verbatim.settings import Settings
from web.schemas import answer_to_response

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

SHARDS = 2
MEDQUAD_QUESTIONS = 60
RECALL_FLOOR = 0.98  # issue 25: HNSW shards against exact search, recall@10


@pytest.fixture(scope="module")
def shard_pool(ray_driver):
    """Shard actors on the cluster: :meth:`web.ray_shards.RayShardPool.load`; ended at the end."""
    from web.ray_shards import RayShardPool

    pools = []

    def load(index_dir, embedder):
        pool = RayShardPool.load(index_dir, embedder)
        pools.append(pool)
        return pool

    try:
        yield load
    finally:
        for pool in pools:
            with contextlib.suppress(Exception):  # the Serve test's --undeploy may have ended them
                pool.stop()


def sharded_answerer(index_dir, embedder, pool_factory) -> ShardedAnswerer:
    answerer = ShardedAnswerer(Settings.from_env(index_dir=index_dir), embedder=embedder, pool_factory=pool_factory)
    answerer.warm_up()
    return answerer


def assert_same_ranking_and_answers(whole: WholeIndex, sharded: ShardedAnswerer, questions: list[str]) -> None:
    """Chunk for chunk the same top chunks with the same scores, and the same responses (each
    side embeds the questions itself, in one batch for the rankings)."""
    answerer = whole.answerer
    for question, whole_query, sharded_query in zip(
        questions, answerer.prepare_many(questions), sharded.prepare_many(questions), strict=True
    ):
        expected = answerer._require().retriever.run(whole_query, top_k=TUNABLES.retrieval.depth)
        actual, _ = sharded.retrieve(sharded_query, TUNABLES.retrieval.depth)
        assert actual == expected, question
    assert_same_answers(whole, sharded, questions)


def test_two_shards_answer_every_eval_question_as_the_whole_index(seed_whole, seed_sharded, shard_pool, embedder):
    sharded_dir = seed_sharded
    manifest = index_format.read_manifest(sharded_dir)
    assert index_format.sharding(manifest)["count"] == SHARDS
    with pytest.raises(index_format.IndexInvalidError, match="split into 2 shards"):
        index_format.load_build(sharded_dir, embedder.name, None)  # nothing loads the whole of it

    sharded = sharded_answerer(sharded_dir, embedder, shard_pool)
    sizes = sharded.pool.sizes()
    # One actor per shard, on different nodes, each holding only its documents.
    assert [size["documents"] for size in sizes] == [1, 1]
    assert len({size["node"] for size in sizes}) == SHARDS
    assert sum(size["chunks"] for size in sizes) == manifest["counts"]["chunks"]

    assert_same_ranking_and_answers(seed_whole, sharded, eval_questions())
    # Conversations: follow-ups read earlier answers' documents from the shard actors.
    for name, turns in dialog_questions():
        assert conversation_responses(sharded, turns) == conversation_responses(seed_whole.answerer, turns), name


def test_two_medquad_shards_rank_chunk_for_chunk_as_the_whole_index(medquad_whole, medquad_sharded, shard_pool, embedder):
    """More chunks per shard than the retriever takes (so the merge decides), global BM25 idf."""
    sharded_dir = medquad_sharded
    entry = index_format.sharding(index_format.read_manifest(sharded_dir))
    assert all(item["counts"]["chunks"] > 50 for item in entry["shards"])
    sharded = sharded_answerer(sharded_dir, embedder, shard_pool)
    questions = medquad_questions(medquad_whole.index_dir, MEDQUAD_QUESTIONS)
    assert_same_ranking_and_answers(medquad_whole, sharded, questions)


def test_hnsw_shards_keep_recall_at_10(medquad_single, medquad_whole):
    """HNSW shards merged against exact search over the whole index: recall@10 >= 0.98."""
    whole = medquad_whole.answerer
    contents = index_format.load_build(medquad_single, whole.embedder.name, whole.embedder.weights_hash)
    _, shards = split_into_shards(contents, SHARDS, vector_index="hnsw")
    searchers = [ShardSearcher(part) for part in shards]
    assert all(type(part.contents.faiss_index).__name__ == "IndexHNSWFlat" for part in shards)
    found = []
    for question in medquad_questions(medquad_single, MEDQUAD_QUESTIONS):
        vector = whole.prepare(question).vector
        exact = set(top(contents.chunk_vectors @ vector, 10).tolist())
        replies = [searcher.candidates(vector, (), 10) for searcher in searchers]
        ids = np.concatenate([reply.dense_ids for reply in replies])
        scores = np.concatenate([reply.dense_scores for reply in replies])
        found.append(len(exact & set(ids[np.argsort(-scores)][:10].tolist())) / 10)
    assert np.mean(found) >= RECALL_FLOOR, np.mean(found)


@pytest.fixture(scope="module")
def served_shards(ray_cluster, seed_sharded, shard_pool, serve_port):
    """``verbatim serve --ray`` (one replica) over the seed corpus's 2-shard build (read only: the
    replica finds the shard actors the tests above started, by name, or starts them); undeployed
    by the last test of this module, which checks the shard actors end with it, or at the end."""
    from tests.cluster.test_serve import INGRESS
    from web import ray_serve

    sharded_dir = seed_sharded
    ray_cluster.wait_restored()
    # The ingress the Serve tests started Serve with (VERBATIM_CLUSTER_INGRESS): Serve keeps it.
    result = run_cli(
        "serve", "--index", str(sharded_dir), "--ray", ray_cluster.address, "--replicas", "1", "--port", str(serve_port),
        "--ingress", INGRESS,
    )
    assert result.returncode == 0, result.stderr
    served = {"url": f"http://127.0.0.1:{serve_port}", "index_dir": sharded_dir, "address": ray_cluster.address, "undeployed": False}
    try:
        yield served
    finally:
        if not served["undeployed"]:
            ray_serve.undeploy(ray_cluster.address)


def served_responses(url: str, questions: list[str]) -> list[dict]:
    """``POST /api/ask`` of each question, one after the other (each must be answered)."""
    import httpx

    found = []
    with httpx.Client(base_url=url, timeout=120) as client:
        for question in questions:
            response = client.post("/api/ask", json={"question": question})
            assert response.status_code == 200, (question, response.text)
            found.append(response.json())
    return found


def shard_actor_sizes(index_dir) -> list[dict]:
    """What each shard actor of the live build reports (its node and process id included)."""
    import ray

    from web.ray_shards import NAMESPACE, actor_name

    build = index_format.current_build(index_dir).name
    actors = [ray.get_actor(actor_name(build, number), namespace=NAMESPACE) for number in range(SHARDS)]
    return ray.get([actor.size.remote() for actor in actors], timeout=300)


def test_ray_serve_answers_from_the_shard_actors(served_shards, seed_whole):
    """``verbatim serve --ray`` over a sharded index: the replica coordinates, the shard actors
    hold the index, each on its own node, and the answers are the whole index's."""
    import httpx
    import ray

    health = next(iter(replica_healths(served_shards["url"], wanted=1).values()))
    assert health["documents"] == 2
    questions = eval_questions()[::20]
    whole = seed_whole.answerer
    for question, actual in zip(questions, served_responses(served_shards["url"], questions), strict=True):
        expected = json.loads(answer_to_response(whole.run(question)).model_dump_json())
        assert {key: actual.get(key) for key in expected} == expected, question
    with httpx.Client(base_url=served_shards["url"], timeout=120) as client:
        # A conversation: the follow-up's history names the first answer's document.
        first = client.post("/api/ask", json={"question": "Who should avoid glutamine?"}).json()
        passage = first["passages"][0]
        history = [{"question": "Who should avoid glutamine?", "doc_id": passage["doc_id"],
                    "start": passage["highlight_start"], "end": passage["highlight_end"]}]
        followup = client.post("/api/ask", json={"question": "Why?", "history": history})
        assert followup.status_code == 200, followup.text
        turn = Turn("Who should avoid glutamine?", passage["doc_id"], passage["highlight_start"], passage["highlight_end"])
        expected = json.loads(answer_to_response(whole.run("Why?", history=[turn])).model_dump_json())
        assert followup.json() == expected, followup.text
        # The document list and each document (JSON and page) come from the shards.
        listed = client.get("/api/documents").json()
        assert [item["id"] for item in listed] == [entry.doc_id for entry in whole.document_entries()]
        for item in listed:
            document = client.get(f"/api/documents/{item['id']}").json()
            store, number = whole.document_view(item["id"])
            assert document["text"] == store.documents[number].text and len(document["text"]) == item["length"]
            assert client.get(f"/documents/{item['id']}").status_code == 200
        assert client.get("/api/documents/no-such-document").status_code == 404
    names = [entry["name"] for entry in ray.util.list_named_actors(all_namespaces=True) if entry["name"].startswith("shard-")]
    build = index_format.current_build(served_shards["index_dir"]).name
    assert sorted(name for name in names if build in name) == [f"shard-{build}-000", f"shard-{build}-001"]
    assert len({size["node"] for size in shard_actor_sizes(served_shards["index_dir"])}) == SHARDS


def test_a_killed_shard_actor_is_restarted_and_answers_as_before(served_shards):
    """SIGKILL of a shard actor's process during a load run: Ray restarts it (it reloads its
    shard), the replica's calls survive the restart, and every later answer is the one before."""
    import os
    import signal
    import threading
    import time

    from tests.cluster.test_serve import SIDE_LOAD, load

    url, index_dir = served_shards["url"], served_shards["index_dir"]
    questions = eval_questions()[::10]
    before = served_responses(url, questions)
    victim = shard_actor_sizes(index_dir)[0]
    outcome: dict = {}
    loader = threading.Thread(target=lambda: outcome.setdefault("load", load(url, SIDE_LOAD)))
    loader.start()
    time.sleep(3)
    os.kill(victim["pid"], signal.SIGKILL)
    loader.join()
    # The calls in flight wait for the restart (Ray retries them; the pool once more).
    assert not outcome["load"].stopped_early and outcome["load"].errors == 0, outcome["load"]
    restarted = shard_actor_sizes(index_dir)[0]
    assert restarted["pid"] != victim["pid"] and restarted["chunks"] == victim["chunks"]
    assert served_responses(url, questions) == before
    final = load(url, 200)
    assert final.errors == 0, final


def test_a_shard_actor_whose_node_is_lost_moves_to_a_live_node(ray_cluster, served_shards):
    """The worker node's raylet SIGKILLed (a machine lost): Ray restarts the shard actor that ran
    there on the head (its node preference is soft), it reloads its shard, and the answers are the
    ones before. The node is restored for the tests after."""
    import time

    import httpx
    import ray

    url, index_dir = served_shards["url"], served_shards["index_dir"]
    head = next(node["NodeID"] for node in ray.nodes() if node.get("Alive") and "node:__internal_head__" in node.get("Resources", {}))
    questions = eval_questions()[::10]
    before = served_responses(url, questions)
    moved = [size["shard"] for size in shard_actor_sizes(index_dir) if size["node"] != head]
    assert moved, "no shard actor on the worker node"
    ray_cluster.kill_raylet(ray_cluster.live_worker())
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # the replica itself may have run there: Serve restarts it
            try:
                if httpx.post(f"{url}/api/ask", json={"question": questions[0]}, timeout=150).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(2)
        assert served_responses(url, questions) == before
        assert {size["node"] for size in shard_actor_sizes(index_dir)} == {head}
    finally:
        # Restored in the background: the tests that need both nodes wait for it (and the
        # session's end does not wait for a node it would stop at once).
        ray_cluster.add_node(wait=False)


def test_undeploy_ends_the_shard_actors(served_shards):
    """(Last in this module: the undeploy ends every shard actor.)"""
    import ray

    undeployed = run_cli("serve", "--ray", served_shards["address"], "--undeploy", timeout=120)
    assert undeployed.returncode == 0, undeployed.stderr
    served_shards["undeployed"] = True
    assert not [entry for entry in ray.util.list_named_actors(all_namespaces=True) if entry["name"].startswith("shard-")]
