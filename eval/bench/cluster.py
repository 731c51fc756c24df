"""``verbatim bench --sections cluster``: the Ray path against the single-process path, same run.

On a local cluster started for the purpose (``eval.bench.local_cluster``, one CPU per node):

* ingest: wall time of ``verbatim ingest SUBSET --force`` into a fresh index (nothing cached),
  single-process, then ``--ray`` on one node with the machine's cores, then on two nodes of
  half of them each;
* serving: requests/s at one concurrency through ``verbatim serve`` and through Ray Serve
  with one replica (the node's cores) and then two (half each), the same questions and
  request count each.

Every command runs in its own process, as an operator runs it, so the model load, the cluster
connection and the code upload are part of what is timed. Two nodes on one 2-core machine share
the same cores, so their figures carry no target (docs/scale.md).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from eval.bench.loadtest import run_phase, serve
from eval.bench.local_cluster import LocalCluster, free_port

REPO = Path(__file__).resolve().parents[2]
INGEST_RATIO_TARGET = 1.25  # distributed ingest on one node / single-process ingest, at most
SERVE_RATIO_TARGET = 0.80  # Ray Serve at one replica / verbatim serve, at least


def _env() -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        RAY_USAGE_STATS_ENABLED="0",
        RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING="0",
        VERBATIM_RATE_LIMIT="0",
    )


def _verbatim(*arguments: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "verbatim.cli", *arguments], cwd=REPO, env=_env(), capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"verbatim {' '.join(arguments)} failed: {result.stderr.strip()[-500:]}")
    return time.perf_counter() - started, result


def _ingest_seconds(corpus: Path, scratch: Path, name: str, *extra: str) -> float:
    index_dir = scratch / name
    shutil.rmtree(index_dir, ignore_errors=True)
    seconds, _ = _verbatim("ingest", str(corpus), "--index", str(index_dir), "--force", *extra)
    return round(seconds, 1)


def _throughput(url: str, questions: list[str], requests: int, concurrency: int, warmup: int) -> dict[str, Any]:
    asyncio.run(run_phase(url, questions, warmup, concurrency, time.monotonic() + 600))
    phase = asyncio.run(run_phase(url, questions, requests, concurrency, time.monotonic() + 900))
    return {"requests_per_second": phase.requests_per_second, "errors": phase.errors, "requests": phase.requests,
            "p50_ms": phase.latency_ms.get("p50"), "p95_ms": phase.latency_ms.get("p95")}


def _wait_for_replicas(url: str, count: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while time.monotonic() < deadline:
        try:
            seen.add(httpx.get(f"{url}/healthz", timeout=30).json()["replica"])
        except (httpx.HTTPError, KeyError, ValueError):
            time.sleep(1)
        if len(seen) >= count:
            return
    raise RuntimeError(f"only {len(seen)} of {count} replicas answered in {timeout:.0f} s")


def _on_cluster(
    corpus: Path, scratch: Path, name: str, index_dir: Path, questions: list[str], requests: int, concurrency: int,
    warmup: int, nodes: int, cpus: int, loads: dict[str, float], ingress: str = "proxy",
) -> tuple[float, dict[str, Any]]:
    """Ingest seconds and serving figures on a fresh local cluster of ``nodes`` nodes of ``cpus``
    CPUs each (one replica per node, reserving its node's CPUs)."""
    cluster = LocalCluster(nodes=nodes, cpus_per_node=cpus, env=_env(), nice=0)
    try:
        cluster.start()
        seconds = _ingest_seconds(corpus, scratch, name, "--ray", cluster.address)
        loads[f"{name}_ingest"] = round(os.getloadavg()[0], 2)
        port = free_port()
        _verbatim(
            "serve", "--index", str(Path(index_dir).resolve()), "--ray", cluster.address, "--port", str(port),
            "--replicas", str(nodes), "--replica-cpus", str(cpus), "--ingress", ingress,
        )
        url = f"http://127.0.0.1:{port}"
        _wait_for_replicas(url, nodes)
        served = _throughput(url, questions, requests, concurrency, warmup)
        loads[f"{name}_serve"] = round(os.getloadavg()[0], 2)
        return seconds, served
    finally:
        cluster.stop()


def measure_cluster(
    corpus: Path, documents: int, index_dir: Path, questions: list[str], requests: int, concurrency: int, warmup: int,
    ingress: str = "proxy",
) -> dict[str, Any]:
    """Ingest and serving throughput, single process against Ray on 1 and 2 nodes.

    Args:
        corpus: JSONL subset to ingest.
        documents: Documents in it (for the per-second figures).
        index_dir: Built index the servers serve.
        questions: Questions sent in turn.
        requests: Measured requests per server.
        concurrency: Requests in flight.
        warmup: Unmeasured requests first.
        ingress: Ray Serve's HTTP ingress (``verbatim serve --ingress``).

    Returns:
        The figures and the two ratios with their targets.
    """
    result: dict[str, Any] = {"documents": documents, "requests": requests, "concurrency": concurrency, "ingress": ingress}
    cores = os.cpu_count() or 1
    result["cores"] = cores
    with tempfile.TemporaryDirectory(prefix="verbatim-bench-cluster-") as folder:
        scratch = Path(folder)
        # The machine is shared: the 1-minute load average after each measurement goes beside it.
        loads = {"start": round(os.getloadavg()[0], 2)}
        single = _ingest_seconds(corpus, scratch, "single")
        loads["single_process_ingest"] = round(os.getloadavg()[0], 2)
        with serve(Path(index_dir), 300, None) as (url, _process):
            served = _throughput(url, questions, requests, concurrency, warmup)
        loads["verbatim_serve"] = round(os.getloadavg()[0], 2)
        # One node with the machine's cores (what the single process uses), then two nodes
        # sharing them. The nodes run at the bench's own niceness, as the single-process commands do.
        one_node, ray_one = _on_cluster(corpus, scratch, "ray1", index_dir, questions, requests, concurrency, warmup,
                                        nodes=1, cpus=cores, loads=loads, ingress=ingress)
        two_nodes, ray_two = _on_cluster(corpus, scratch, "ray2", index_dir, questions, requests, concurrency, warmup,
                                         nodes=2, cpus=max(1, cores // 2), loads=loads, ingress=ingress)
    result["load_average_1min"] = loads
    result["ingest_seconds"] = {"single_process": single, "ray_1_node": one_node, "ray_2_nodes": two_nodes}
    result["ingest_documents_per_second"] = {name: round(documents / seconds, 2) for name, seconds in result["ingest_seconds"].items()}
    result["serve"] = {"verbatim_serve": served, "ray_serve_1_replica": ray_one, "ray_serve_2_replicas": ray_two}
    result["ingest_ratio"] = round(one_node / single, 2)
    result["serve_ratio"] = round(ray_one["requests_per_second"] / served["requests_per_second"], 2) if served["requests_per_second"] else None
    result["targets"] = {
        "ingest_ratio_at_most": INGEST_RATIO_TARGET, "ingest_met": result["ingest_ratio"] <= INGEST_RATIO_TARGET,
        "serve_ratio_at_least": SERVE_RATIO_TARGET,
        "serve_met": result["serve_ratio"] is not None and result["serve_ratio"] >= SERVE_RATIO_TARGET,
    }
    return result

