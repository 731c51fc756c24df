"""A real two-node Ray cluster on this machine, started once for the cluster tests, and the
builds several tests compare against (each made once per session).

Ray is the optional extra ``verbatim[ray]``: without it these tests skip, except in CI
(``CI=true``), where ``make test`` installs the extra and a skip would hide a failure.
The cluster is stopped at the end whatever happens: the fixture's ``finally``, ``atexit`` for
an interrupted session, SIGTERM stopping it before the process exits, and each node started so that the
kernel stops it when this process dies (``eval.bench.local_cluster``).
"""

from __future__ import annotations

import atexit
import os
import signal
from pathlib import Path

import pytest

from tests.conftest import CORPUS, REPO

MEDQUAD = Path("/work/shared/benchmarks/medquad")
# Enough for 2 shards larger than the retriever's 50 candidates (58 and 65 chunks), so the merge
# decides; embedding them is most of the suite's time on 2 shared cores (60 gave 84 and 146).
# VERBATIM_CLUSTER_MEDQUAD_DOCUMENTS=300 runs the builds' equality on a few hundred documents
# (a benchmark command outside CI: docs/scale.md, "Tests on a real cluster").
MEDQUAD_DOCUMENTS = int(os.environ.get("VERBATIM_CLUSTER_MEDQUAD_DOCUMENTS", "40"))
# Documents whose parsing and chunking on the cluster's tasks are compared with one process's in
# CI (no embedding: cheap; the "a few hundred MedQuAD documents").
MEDQUAD_TABLE_DOCUMENTS = 300


def _require_ray() -> None:
    try:
        import ray  # noqa: F401  (optional extra: only checked here)
    except ImportError:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("ray is not installed; CI must install the extra: pip install -e '.[dev,ray]'")
        pytest.skip("ray is not installed (pip install -e '.[ray]')")


# The session's cluster, once launched: its head starts booting when the first test of this folder
# sets up, if any selected test needs the cluster, so that Ray boots while the tests that do not
# need it run and the session's model loads (pytest_runtest_setup below).
_CLUSTER: dict = {}


def _launch_cluster():
    """Create the session's cluster, start its head without waiting, and make sure it is stopped
    whatever happens (``atexit``, SIGTERM); returns it (the same one on every call)."""
    if "cluster" in _CLUSTER:
        return _CLUSTER["cluster"]
    from eval.bench.local_cluster import LocalCluster
    from tests.cluster.helpers import NICENESS

    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        # One HTTP proxy on the head: without this it sends every request to its own node's replica.
        RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING="0",
        # A killed raylet is declared dead after 3 failed health checks 1 s apart (Ray's default:
        # 5, 3 s apart), which the node-kill tests wait for; a check still waits 10 s for an answer.
        RAY_health_check_period_ms="1000",
        RAY_health_check_failure_threshold="3",
    )
    cluster = LocalCluster(nodes=2, cpus_per_node=1, env=env, nice=NICENESS)
    atexit.register(cluster.stop)  # also when the session is interrupted

    def terminate(*_) -> None:
        # pytest would report a SystemExit raised in a test as that test's error and go on.
        cluster.stop()
        os._exit(128 + signal.SIGTERM)

    _CLUSTER.update(cluster=cluster, previous=signal.signal(signal.SIGTERM, terminate))
    cluster.launch()  # from this (the main) thread: each node dies with the thread that started it
    return cluster


def pytest_runtest_setup(item) -> None:
    """At the first test of this folder: launch the cluster if a selected test needs it."""
    if "checked" in _CLUSTER:
        return
    _CLUSTER["checked"] = True
    if any("ray_cluster" in getattr(other, "fixturenames", ()) for other in item.session.items):
        try:
            import ray  # noqa: F401  (optional extra: without it the fixture skips or fails)
        except ImportError:
            return
        _launch_cluster()


@pytest.fixture(scope="session")
def ray_cluster():
    """Two Ray nodes of one CPU each on loopback, stopped at the end whatever happens."""
    _require_ray()
    cluster = _launch_cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        signal.signal(signal.SIGTERM, _CLUSTER["previous"])


@pytest.fixture(scope="session")
def ray_driver(ray_cluster):
    """This test process joined to the cluster as a Ray driver once per session (with ``qa``
    and ``web``, as ``verbatim serve --ray`` joins), for the tests that run stages, shard actors
    or Serve calls here: one connection and one set of warm workers instead of one per test."""
    import qa
    import web
    from ingest import distributed

    ray_cluster.wait_restored()
    # As the nodes and the `verbatim` commands run: without it Ray Data starts a usage-collecting
    # actor (one more Python process) for the first dataset this driver runs.
    usage = os.environ.get("RAY_USAGE_STATS_ENABLED")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    stopping = signal.getsignal(signal.SIGTERM)
    info = distributed.connect(ray_cluster.address, packages=(qa, web))
    # ray.init replaces the SIGTERM handler with one that raises SystemExit in the running test
    # (pytest reports it and goes on); put back the one that stops the cluster and exits.
    signal.signal(signal.SIGTERM, stopping)
    try:
        yield info
    finally:
        distributed.disconnect()
        if usage is None:
            os.environ.pop("RAY_USAGE_STATS_ENABLED", None)
        else:
            os.environ["RAY_USAGE_STATS_ENABLED"] = usage


def _medquad_subset(tmp_path_factory, documents: int) -> Path:
    if not (MEDQUAD / "corpus.jsonl").exists():
        pytest.skip("the MedQuAD benchmark is not on this machine")
    from eval.bench.medquad import write_subset

    corpus = tmp_path_factory.mktemp("medquad") / "corpus.jsonl"
    assert write_subset(MEDQUAD / "corpus.jsonl", documents, corpus) == documents
    return corpus


@pytest.fixture(scope="session")
def medquad_corpus(tmp_path_factory) -> Path:
    """The first MedQuAD documents (:data:`MEDQUAD_DOCUMENTS`) as one JSONL file."""
    return _medquad_subset(tmp_path_factory, MEDQUAD_DOCUMENTS)


@pytest.fixture(scope="session")
def medquad_table_corpus(tmp_path_factory) -> Path:
    """The first :data:`MEDQUAD_TABLE_DOCUMENTS` MedQuAD documents as one JSONL file."""
    return _medquad_subset(tmp_path_factory, MEDQUAD_TABLE_DOCUMENTS)


@pytest.fixture(scope="session")
def medquad_single(medquad_corpus, embedder, tmp_path_factory) -> Path:
    """A single-process build of :func:`medquad_corpus` (what the cluster's builds must equal)."""
    from ingest.pipeline import run_ingest
    from verbatim.settings import Settings

    index_dir = tmp_path_factory.mktemp("medquad-single") / "index"
    report = run_ingest([medquad_corpus], Settings.from_env(index_dir=index_dir), embedder=embedder, show_progress=False)
    assert report.status == "built" and report.documents == MEDQUAD_DOCUMENTS
    return index_dir


@pytest.fixture(scope="session")
def medquad_whole(medquad_single, embedder):
    """:func:`medquad_single` loaded once for the session, with the responses it gave
    (:class:`tests.cluster.helpers.WholeIndex`; read only)."""
    from tests.cluster.helpers import WholeIndex

    return WholeIndex(medquad_single, embedder)


@pytest.fixture(scope="session")
def seed_whole(seed_distributed, embedder):
    """:func:`seed_distributed` loaded once for the session, with the responses it gave
    (:class:`tests.cluster.helpers.WholeIndex`; read only)."""
    from tests.cluster.helpers import WholeIndex

    return WholeIndex(seed_distributed, embedder)


@pytest.fixture(scope="session")
def seed_distributed(ray_cluster, tmp_path_factory) -> Path:
    """The seed corpus built by ``verbatim ingest --ray`` on the two nodes (embedded there)."""
    from tests.cluster.helpers import run_cli

    index_dir = tmp_path_factory.mktemp("seed-distributed") / "index"
    ray_cluster.wait_restored()
    result = run_cli("ingest", str(CORPUS), "--index", str(index_dir), "--ray", ray_cluster.address)
    assert result.returncode == 0, result.stderr
    assert "2 node(s), 2 CPU(s)" in result.stderr
    assert "Traceback" not in result.stderr
    return index_dir


@pytest.fixture(scope="session")
def serve_port(ray_cluster) -> int:
    """The port of the cluster's one Ray Serve HTTP proxy: every deployment of the session uses it
    (Serve keeps its proxy on the first port it was started with)."""
    from eval.bench.local_cluster import free_port

    return free_port()


def _copy(source: Path, tmp_path_factory, name: str) -> Path:
    import shutil

    index_dir = tmp_path_factory.mktemp(name) / "index"
    shutil.copytree(source, index_dir)
    return index_dir


@pytest.fixture(scope="session")
def seed_sharded(ray_cluster, seed_distributed, tmp_path_factory) -> Path:
    """The seed corpus's distributed build re-built in 2 shards by ``verbatim ingest --ray
    --shards 2`` (the shards written by the workers; vectors re-used: the copy's live build
    seeds the cache); read only."""
    from tests.cluster.helpers import run_cli

    index_dir = _copy(seed_distributed, tmp_path_factory, "seed-sharded")
    ray_cluster.wait_restored()
    result = run_cli("ingest", str(CORPUS), "--index", str(index_dir), "--ray", ray_cluster.address, "--shards", "2")
    assert result.returncode == 0, result.stderr
    assert "embedded   0 texts" in result.stdout
    return index_dir


@pytest.fixture(scope="session")
def medquad_sharded(ray_driver, medquad_corpus, medquad_single, embedder, tmp_path_factory) -> Path:
    """:func:`medquad_single` re-built in 2 shards written by the cluster's workers (the stages
    ``verbatim ingest --ray --shards 2`` runs, driven from this process); read only."""
    from ingest.distributed import RayStages
    from ingest.pipeline import run_ingest
    from verbatim.settings import Settings

    index_dir = _copy(medquad_single, tmp_path_factory, "medquad-sharded")
    report = run_ingest(
        [medquad_corpus], Settings.from_env(index_dir=index_dir), embedder=embedder, stages=RayStages(),
        shards=2, show_progress=False,
    )
    assert report.status == "built" and report.embedded == 0
    return index_dir
