"""Where Ray Serve's serving path spends its time, against ``verbatim serve`` (issue 25).

Requests/s on a machine shared with other work swing by half from one minute to the next, so
this measures what the load of others does not change much: the **CPU time per request** of
each server's whole process tree (``verbatim serve``: its process; Ray Serve: every process of a
fresh one-node local cluster, by process name: replica, HTTP proxy, controller, raylet ...),
with the idle CPU of the tree (measured for 10 s without requests) taken out, and the mean
embedding batch size the app reports (``verbatim_batch_size`` of ``/metrics``). Requests/s are
reported too, with the load average around them.

```sh
python -m eval.bench.serve_overhead INDEX --requests 500 --variants plain,ray,ray-opt,plain,ray,ray-opt
```

Variants: ``plain`` (``verbatim serve``), ``ray`` (Ray Serve, one replica reserving every CPU,
as ``verbatim bench --sections cluster`` runs it), ``ray-opt`` (the same with
``RAY_SERVE_THROUGHPUT_OPTIMIZED=1`` on the node and the deploying command), ``ray-mainloop``
(``RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD=0``: the app on the replica's own event loop, one of
the switches ``RAY_SERVE_THROUGHPUT_OPTIMIZED`` sets), ``ray-haproxy`` (``verbatim serve --ray
... --ingress haproxy``: Ray's HAProxy ingress in place of the Python proxy, the replica serving
HTTP itself), ``ray-haproxy-opt`` (that with ``RAY_SERVE_THROUGHPUT_OPTIMIZED=1``). ``ray`` and
``plain`` deploy as ``verbatim serve --ray`` and ``verbatim serve`` do by default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from eval.bench import cluster as bench
from eval.bench.loadtest import run_phase, serve
from eval.bench.local_cluster import LocalCluster, descendants, free_port

CONCURRENCY = 16
WARMUP = 50
IDLE_SECONDS = 10.0
# name -> (server, environment of the server and, for Ray, its node and deploying command).
VARIANTS: dict[str, tuple[str, dict[str, str]]] = {
    "plain": ("plain", {}),
    "ray": ("ray", {}),
    "ray-opt": ("ray", {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}),
    "ray-mainloop": ("ray", {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0"}),
    "ray-haproxy": ("ray-haproxy", {}),
    "ray-haproxy-opt": ("ray-haproxy", {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1"}),
}


def process_cpu(roots: Sequence[int]) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) used so far by each process of some process trees.

    Args:
        roots: Process ids whose trees are counted (each root and its descendants).

    Returns:
        pid -> (its command's first word, or ``ray::Actor`` name; its CPU seconds).
    """
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in {pid for root in roots for pid in (root, *descendants(root))}:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue  # ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        name = command.split(".")[0] if command.startswith("ray::") else Path(command).name
        found[pid] = (name, (int(fields[11]) + int(fields[12])) / tick)
    return found


def cpu_by_name(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds used between two :func:`process_cpu` snapshots, summed by process name."""
    spent: dict[str, float] = {}
    for pid, (name, seconds) in after.items():
        spent[name] = spent.get(name, 0.0) + seconds - before.get(pid, (name, 0.0))[1]
    return spent


def embed_batch_mean(url: str) -> float | None:
    """Mean questions per embedding batch since the server started (``VERBATIM_METRICS`` on)."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    total = re.search(r'verbatim_batch_size_sum\{stage="embed"\} ([0-9.e+]+)', text)
    count = re.search(r'verbatim_batch_size_count\{stage="embed"\} ([0-9.e+]+)', text)
    return round(float(total.group(1)) / float(count.group(1)), 2) if total and count and float(count.group(1)) else None


def measure(url: str, roots: Sequence[int], questions: list[str], requests: int) -> dict[str, Any]:
    """Warm up, measure the idle CPU, then ``requests`` requests at :data:`CONCURRENCY`.

    Args:
        url: The server.
        roots: Its process trees.
        questions: Questions sent in turn.
        requests: Measured requests.

    Returns:
        Requests/s, latency, CPU ms per request (all, and by process name), idle CPU, batch size.
    """
    asyncio.run(run_phase(url, questions, WARMUP, CONCURRENCY, time.monotonic() + 600))
    idle_from = process_cpu(roots)
    time.sleep(IDLE_SECONDS)
    idle = sum(cpu_by_name(idle_from, process_cpu(roots)).values()) / IDLE_SECONDS
    before, started = process_cpu(roots), time.perf_counter()
    phase = asyncio.run(run_phase(url, questions, requests, CONCURRENCY, time.monotonic() + 900))
    wall = time.perf_counter() - started
    spent = cpu_by_name(before, process_cpu(roots))
    answered = max(1, phase.requests)
    return {
        "requests_per_second": phase.requests_per_second, "errors": phase.errors,
        "p50_ms": phase.latency_ms.get("p50"), "p95_ms": phase.latency_ms.get("p95"),
        "cpu_ms_per_request": round(1000 * sum(spent.values()) / answered, 2),
        "busy_cpu_ms_per_request": round(1000 * (sum(spent.values()) - idle * wall) / answered, 2),
        "idle_cpu_per_second": round(idle, 3),
        "cpu_ms_per_request_by_process": {
            name: round(1000 * seconds / answered, 2) for name, seconds in sorted(spent.items(), key=lambda kv: -kv[1]) if seconds > 0
        },
        "embed_batch_mean": embed_batch_mean(url),
    }


def run_variant(variant: str, index: Path, questions: list[str], requests: int) -> dict[str, Any]:
    """One server of one variant (see the module docstring), measured, then stopped.

    Args:
        variant: A name of :data:`VARIANTS`.
        index: The index served.
        questions: Questions sent in turn.
        requests: Measured requests.

    Returns:
        The variant's figures (see :func:`measure`) and the load average before and after.
    """
    kind, extra = VARIANTS[variant]
    names = ("VERBATIM_METRICS", *sorted({name for _, variables in VARIANTS.values() for name in variables}))
    saved = {name: os.environ.get(name) for name in names}
    for name in names[1:]:
        os.environ.pop(name, None)
    os.environ.update({"VERBATIM_METRICS": "1", **extra})
    load = os.getloadavg()[0]
    try:
        if kind == "plain":
            with serve(index, 300, None) as (url, process):
                figures = measure(url, [process.pid], questions, requests)
        else:
            cores = os.cpu_count() or 1
            cluster = LocalCluster(nodes=1, cpus_per_node=cores, env=bench._env(), nice=0)
            try:
                cluster.start()
                port = free_port()
                bench._verbatim(
                    "serve", "--index", str(index), "--ray", cluster.address, "--port", str(port),
                    "--replicas", "1", "--replica-cpus", str(cores),
                    "--ingress", "haproxy" if kind == "ray-haproxy" else "proxy",
                )
                url = f"http://127.0.0.1:{port}"
                bench._wait_for_replicas(url, 1)
                figures = measure(url, [process.pid for process in cluster._processes], questions, requests)
            finally:
                cluster.stop()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return {"variant": variant, **figures, "load_before": round(load, 1), "load_after": round(os.getloadavg()[0], 1)}


def main(argv: Sequence[str] | None = None) -> None:
    """Measure the variants in the order given and print one JSON line each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index", type=Path, help="a built index (whole)")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--variants", default="plain,ray,ray-opt", help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--questions", type=Path, default=Path(__file__).resolve().parents[1] / "questions.jsonl")
    arguments = parser.parse_args(argv)
    variants = arguments.variants.split(",")
    if unknown := [variant for variant in variants if variant not in VARIANTS]:
        parser.error(f"unknown variant(s): {', '.join(unknown)}")
    rows = [json.loads(line) for line in arguments.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [row["question"] for row in rows]
    for variant in variants:
        figures = run_variant(variant, arguments.index.resolve(), questions, arguments.requests)
        print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
