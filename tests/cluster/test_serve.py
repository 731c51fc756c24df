"""Ray Serve replicas of the app on a real two-node cluster: load, a new build, a replica kill."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import threading
import time

import httpx
import pytest

from eval.bench.loadtest import run_phase
from eval.bench.local_cluster import replica_healths
from ingest.pipeline import run_ingest
from tests.cluster.helpers import eval_questions, run_cli
from tests.conftest import CORPUS
from verbatim.settings import Settings

REQUESTS = int(os.environ.get("VERBATIM_CLUSTER_REQUESTS", "2000"))
SIDE_LOAD = min(REQUESTS, 400)  # the load during a new build and during a replica kill
CONCURRENCY = 16
LOAD_SECONDS = 240  # a bound on each load run, whatever the machine's load
# Ray Serve's ingress these tests deploy with (`verbatim serve --ingress`): the default proxy in CI;
# `haproxy` runs the same tests through Ray's HAProxy ingress (docs/scale.md).
INGRESS = os.environ.get("VERBATIM_CLUSTER_INGRESS", "proxy")

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

EXTRA_DOCUMENT = """Glutamine storage

Keep glutamine powder in a cool, dry place with the lid closed tightly after each use.
"""


@pytest.fixture(scope="module")
def deployment(ray_cluster, ray_driver, corpus_settings, serve_port, tmp_path_factory):
    """The seed corpus's index served by 2 replicas; removed at the end (from this process: the
    command ``verbatim serve --ray ... --undeploy`` is tested with the sharded index)."""
    from web import ray_serve

    ray_cluster.wait_restored()
    root = tmp_path_factory.mktemp("served")
    index_dir = root / "index"
    shutil.copytree(corpus_settings.index_dir, index_dir)
    port = serve_port
    result = run_cli(
        "serve", "--index", str(index_dir), "--ray", ray_cluster.address, "--replicas", "2", "--port", str(port),
        "--ingress", INGRESS,
    )
    assert result.returncode == 0, result.stderr
    assert "2 replica(s)" in result.stderr
    try:
        yield {"url": f"http://127.0.0.1:{port}", "index_dir": index_dir, "root": root, "address": ray_cluster.address, "port": port}
    finally:
        ray_serve.undeploy(ray_cluster.address)


def load(url: str, total: int) -> object:
    return asyncio.run(run_phase(url, eval_questions(), total, CONCURRENCY, time.monotonic() + LOAD_SECONDS))


def test_two_replicas_answer_a_bounded_load(deployment):
    seen = replica_healths(deployment["url"])
    assert len(seen) == 2, seen
    assert all(health["status"] == "ok" and health["documents"] == 2 for health in seen.values())
    with httpx.Client(base_url=deployment["url"], timeout=60) as client:
        response = client.post("/api/ask", json={"question": "Who should avoid glutamine?"})
        assert response.status_code == 200
        assert "default-src 'none'" in response.headers["content-security-policy"]
        body = response.json()
        assert not body["abstained"] and body["answer"] in body["passages"][0]["quote"]
        assert client.post("/api/ask", json={"question": ""}).status_code == 422
    result = load(deployment["url"], REQUESTS)
    assert not result.stopped_early, result
    assert result.requests == REQUESTS and result.errors == 0, result


def test_a_deployment_for_the_other_ingress_is_refused(deployment, corpus_settings):
    """Serve keeps the ingress it started with; replicas for the other one would be unreachable."""
    from ingest.distributed import ClusterError
    from web import ray_serve

    other = "haproxy" if INGRESS == "proxy" else "proxy"
    settings = corpus_settings.replace(index_dir=deployment["index_dir"], port=deployment["port"], rate_limit_per_minute=0)
    with pytest.raises(ClusterError, match=f"runs the {INGRESS} ingress.*--ingress {INGRESS}"):
        ray_serve.deploy(deployment["address"], settings, replicas=2, ingress=other)
    assert len(replica_healths(deployment["url"])) == 2  # still served, unchanged


def test_a_new_build_reaches_every_replica_without_a_failed_request(deployment, embedder):
    """The redeploy after an ingest changes only the deployment's config: the running replicas
    load the new build in place (the same processes), under load, without a failed request."""
    before = replica_healths(deployment["url"])
    assert len(before) == 2, before
    corpus = deployment["root"] / "corpus-v2"
    shutil.copytree(CORPUS, corpus)
    (corpus / "glutamine-storage.txt").write_text(EXTRA_DOCUMENT, encoding="utf-8")
    outcome: dict = {}
    loader = threading.Thread(target=lambda: outcome.setdefault("load", load(deployment["url"], SIDE_LOAD)))
    loader.start()
    try:
        report = run_ingest([corpus], Settings.from_env(index_dir=deployment["index_dir"]), embedder=embedder, show_progress=False)
        assert report.status == "built" and report.documents == 3
        result = run_cli(
            "serve", "--index", str(deployment["index_dir"]), "--ray", deployment["address"],
            "--replicas", "2", "--port", str(deployment["port"]), "--ingress", INGRESS,
        )
        assert result.returncode == 0, result.stderr
    finally:
        loader.join()
    assert outcome["load"].errors == 0, outcome["load"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        seen = replica_healths(deployment["url"])
        if len(seen) == 2 and all(health["documents"] == 3 for health in seen.values()):
            break
        time.sleep(2)
    assert len(seen) == 2 and all(health["documents"] == 3 for health in seen.values()), seen
    # Reconfigured, not replaced: a new Serve version would have started new replica processes.
    assert set(seen) == set(before), (sorted(before), sorted(seen))


def test_a_killed_replica_costs_at_most_its_requests_in_flight(deployment):
    before = replica_healths(deployment["url"])
    assert len(before) == 2
    victim = int(next(iter(before)).split(" pid ")[1].split()[0])
    outcome: dict = {}
    loader = threading.Thread(target=lambda: outcome.setdefault("load", load(deployment["url"], SIDE_LOAD)))
    loader.start()
    time.sleep(3)
    os.kill(victim, signal.SIGKILL)
    loader.join()
    # At most what the killed replica had in flight fails (it shares CONCURRENCY with the other).
    assert outcome["load"].errors <= CONCURRENCY, outcome["load"]
    # Ray Serve replaces the replica; then every request is answered again.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        after = replica_healths(deployment["url"])
        if len(after) == 2 and set(after) != set(before):
            break
        time.sleep(2)
    assert len(after) == 2 and set(after) != set(before), after
    final = load(deployment["url"], 200)
    assert final.errors == 0, final

