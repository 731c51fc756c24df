"""A real two-node Ray cluster on this machine, started once for the cluster tests.

Ray is the optional extra ``verbatim[ray]``: without it these tests skip, except in CI
(``CI=true``), where ``make test`` installs the extra and a skip would hide a failure.
"""

from __future__ import annotations

import atexit
import os

import pytest

from tests.conftest import REPO


def _require_ray() -> None:
    try:
        import ray  # noqa: F401  (optional extra: only checked here)
    except ImportError:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("ray is not installed; CI must install the extra: pip install -e '.[dev,ray]'")
        pytest.skip("ray is not installed (pip install -e '.[ray]')")


@pytest.fixture(scope="session")
def ray_cluster():
    """Two Ray nodes of one CPU each on loopback, stopped at the end whatever happens."""
    _require_ray()
    from eval.bench.local_cluster import LocalCluster

    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        # One HTTP proxy on the head: without this it sends every request to its own node's replica.
        RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING="0",
    )
    cluster = LocalCluster(nodes=2, cpus_per_node=1, env=env)
    atexit.register(cluster.stop)  # also when the session is interrupted
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
