"""HTTP latency and throughput of a real server, against what the model allows on this machine.

The server is ``verbatim serve`` (uvicorn) in its own process on loopback, started and driven
by ``eval.bench.loadtest`` (its ``serve`` and ``run_phase``); the load comes from this process, a
second one. Each concurrency gets a warm-up phase and then repeated measured phases.

The throughput floor is bare ``model.encode(question)`` for single questions with one worker
process per core, each pinned to one thread (and, for comparison, one process using every
core): that is how many questions per second the model itself can embed one at a time. The
server may beat it, legitimately, because it embeds concurrent questions together in one
forward pass; the batched encode rate is measured too, so both limits are on the table.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import resource
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from eval.bench.harness import spread
from eval.bench.loadtest import run_phase, serve
from eval.stats import rss_mb
from verbatim.embedding import Embedder

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _encode_worker(questions: list[str], commands, results) -> None:
    """A floor worker: load the model once, then run timed encode loops on command.

    Each command is ``(threads, batch, seconds, start_at)``: wait until the wall-clock time
    ``start_at`` (so all workers start together), encode for
    ``seconds`` with ``threads`` torch threads and ``batch`` questions per call, report
    ``(count, elapsed)``. ``None`` ends the worker.
    """
    import torch


    embedder = Embedder()
    embedder.warm_up()
    model = embedder._require()
    for question in questions[:20]:
        model.encode(question)
    results.put(("ready", os.getpid()))
    position = 0
    while (command := commands.get()) is not None:
        threads, batch, seconds, start_at = command
        torch.set_num_threads(threads)
        model.encode(questions[position % len(questions)])  # settle the new thread count
        time.sleep(max(0.0, start_at - time.time()))
        count = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            if batch == 1:
                model.encode(questions[position % len(questions)])
            else:
                model.encode([questions[(position + offset) % len(questions)] for offset in range(batch)], batch_size=batch)
            position += batch
            count += batch
        results.put((count, time.perf_counter() - started))


class EncodePool:
    """One model-loaded worker process per core, reused for every floor measurement.

    Args:
        questions: Questions the workers embed, in turn.
        workers: Processes (default: one per core).
    """

    def __init__(self, questions: Sequence[str], workers: int | None = None) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.size = workers or os.cpu_count() or 1
        self.results = self.context.Queue()
        self.commands = [self.context.Queue() for _ in range(self.size)]
        self.processes = [
            self.context.Process(target=_encode_worker, args=(list(questions), commands, self.results), daemon=True)
            for commands in self.commands
        ]

    def __enter__(self) -> EncodePool:
        for process in self.processes:
            process.start()
        for _ in self.processes:
            kind, _ = self.results.get(timeout=600)
            assert kind == "ready"
        return self

    def __exit__(self, *exc: object) -> None:
        for commands in self.commands:
            commands.put(None)
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()

    def rate(self, workers: int, threads: int, seconds: float, batch: int = 1) -> float:
        """Questions per second embedded by ``workers`` of the processes at once.

        Args:
            workers: Processes taking part (the others stay idle).
            threads: Torch threads per process.
            seconds: Length of the timed run.
            batch: Questions per ``encode`` call (1 = single questions).

        Returns:
            Total questions per second.
        """
        start_at = time.time() + 1.0  # every worker is waiting by then
        for commands in self.commands[:workers]:
            commands.put((threads, batch, seconds, start_at))
        counts = [self.results.get(timeout=seconds + 300) for _ in range(workers)]
        return sum(count / elapsed for count, elapsed in counts)


def measure_floor(questions: Sequence[str], seconds: float, repeats: int, batch_size: int) -> dict[str, Any]:
    """Encode throughput floors: per-core workers, one all-core process, and batched.

    Args:
        questions: Questions to embed.
        seconds: Timed seconds per run.
        repeats: Runs of each configuration (median and range reported).
        batch_size: Questions per forward pass for the batched rate.

    Returns:
        Questions per second of each configuration and ``floor_rps``, the best single-question
        rate (the floor the server's throughput is compared with).
    """
    cores = os.cpu_count() or 1
    configurations = {
        "per_core_workers": {"workers": cores, "threads": 1, "batch": 1},
        "one_process_all_cores": {"workers": 1, "threads": cores, "batch": 1},
        f"batched_{batch_size}_all_cores": {"workers": 1, "threads": cores, "batch": batch_size},
    }
    rates: dict[str, list[float]] = {name: [] for name in configurations}
    with EncodePool(questions, cores) as pool:
        for _ in range(repeats):
            for name, config in configurations.items():
                rates[name].append(pool.rate(config["workers"], config["threads"], seconds, config["batch"]))
    summary = {name: {**config, "rps": spread(rates[name], 1)} for name, config in configurations.items()}
    single = {name: summary[name]["rps"]["median"] for name in ("per_core_workers", "one_process_all_cores")}
    best = max(single, key=single.get)
    return {
        "seconds_per_run": seconds,
        "repeats": repeats,
        "configurations": summary,
        "floor_rps": single[best],
        "floor_configuration": best,
        "batched_rps": summary[f"batched_{batch_size}_all_cores"]["rps"]["median"],
    }


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_http(
    index: Path,
    questions: Sequence[str],
    concurrencies: Sequence[int],
    requests: int,
    warmup_requests: int,
    repeats: int,
    startup_timeout: float = 300.0,
    server_log: Path | None = None,
) -> dict[str, Any]:
    """Load a real server at several concurrencies and measure it.

    Args:
        index: Index the server serves.
        questions: Questions sent in turn.
        concurrencies: Requests in flight, one setting after another.
        requests: Measured requests per repeat.
        warmup_requests: Unmeasured requests before each concurrency's first repeat.
        repeats: Measured phases per concurrency.
        startup_timeout: Seconds allowed for the server to answer ``/healthz``.
        server_log: Where the server's output goes.

    Returns:
        Per concurrency: pooled-by-median latency percentiles, requests/s (median and range),
        errors, CPU seconds per request of server and load generator; plus the server's
        start-up time and resident memory.
    """
    questions = list(questions)
    started = time.perf_counter()
    results: dict[str, Any] = {"index": str(index), "requests_per_repeat": requests, "repeats": repeats, "concurrency": {}}
    with serve(index, startup_timeout, server_log) as (url, process):
        pid = process.pid
        results["server_ready_seconds"] = round(time.perf_counter() - started, 2)
        results["server_rss_mb_at_start"] = rss_mb(pid) or 0
        offset = 0
        for concurrency in concurrencies:
            deadline = time.monotonic() + 3600
            warm = asyncio.run(run_phase(url, questions, warmup_requests, concurrency, deadline))
            phases = []
            for _ in range(repeats):
                offset = (offset + 97) % len(questions)
                rotated = questions[offset:] + questions[:offset]
                server_cpu, client_cpu = _cpu_seconds(pid), _own_cpu_seconds()
                phase = asyncio.run(run_phase(url, rotated, requests, concurrency, deadline))
                server_used = (_cpu_seconds(pid) or 0.0) - (server_cpu or 0.0)
                client_used = _own_cpu_seconds() - client_cpu
                phases.append((phase, server_used, client_used))
            results["concurrency"][str(concurrency)] = {
                "warmup": {"requests": warm.requests, "errors": warm.errors},
                "p50_ms": spread([phase.latency_ms["p50"] for phase, _, _ in phases], 2),
                "p95_ms": spread([phase.latency_ms["p95"] for phase, _, _ in phases], 2),
                "p99_ms": spread([phase.latency_ms["p99"] for phase, _, _ in phases], 2),
                "requests_per_second": spread([phase.requests_per_second for phase, _, _ in phases], 1),
                "errors": sum(phase.errors for phase, _, _ in phases) + warm.errors,
                "error_kinds": _merge_kinds([phase.error_kinds for phase, _, _ in phases] + [warm.error_kinds]),
                "abstained_share": round(sum(p.abstained for p, _, _ in phases) / max(1, sum(p.requests for p, _, _ in phases)), 3),
                "server_cpu_ms_per_request": round(1000 * sum(s for _, s, _ in phases) / max(1, sum(p.requests for p, _, _ in phases)), 2),
                "loadgen_cpu_ms_per_request": round(1000 * sum(c for _, _, c in phases) / max(1, sum(p.requests for p, _, _ in phases)), 2),
                "phases": [asdict(phase) for phase, _, _ in phases],
            }
        results["server_rss_mb_at_end"] = rss_mb(pid) or 0
    return results


def _merge_kinds(kinds: list[dict[str, int]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for item in kinds:
        for kind, count in item.items():
            merged[kind] = merged.get(kind, 0) + count
    return merged
