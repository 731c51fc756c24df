"""Bounded load test of a real Verbatim server on loopback.

Starts ``verbatim serve`` in its own process on a free loopback port (or targets a running
server on loopback with ``--url``), then sends a fixed number of ``POST /api/ask`` requests
(the eval questions, in turn) from this separate process at a fixed concurrency. It stops by
itself: after the requests, or at ``--time-limit`` seconds, whichever comes first.

It measures errors (any status other than 200, any transport failure, any body that is not a
JSON answer), latency percentiles, requests per second, and the server's resident memory after
a warm-up and at the end (a leak shows as growth), and prints one JSON summary.

Run the full test (about 20,000 requests at concurrency 32)::

    make loadtest
    .venv/bin/python -m eval.bench.loadtest --requests 20000 --concurrency 32 --index index

Exit status: 0 when there were no errors and memory grew at most ``--max-rss-growth`` percent,
1 otherwise, 2 when the server could not be started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from eval.stats import percentile, rss_mb
from qa.training.dataset import load_questions

LOOPBACK_NAMES = {"localhost"}


@dataclass
class PhaseResult:
    """Outcome of one phase (warm-up or measured load).

    Attributes:
        requests: Requests completed (successfully or not).
        errors: Requests that failed.
        error_kinds: Count per failure kind (status code or exception name).
        seconds: Wall time of the phase.
        requests_per_second: Completed requests per second.
        latency_ms: p50, p95, p99, max and mean latency in milliseconds.
        abstained: Answers that abstained (for context; not errors).
        stopped_early: Whether the time limit cut the phase short.
    """

    requests: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    requests_per_second: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    abstained: int = 0
    stopped_early: bool = False






def require_loopback(url: str) -> None:
    """Refuse any target that is not on this machine's loopback interface."""
    host = urlsplit(url).hostname or ""
    if host in LOOPBACK_NAMES:
        return
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise SystemExit(f"refusing to load-test {url}: only loopback targets (127.0.0.0/8, ::1, localhost) are allowed")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def run_phase(
    url: str, questions: list[str], total: int, concurrency: int, deadline: float, top_k: int = 3
) -> PhaseResult:
    """Send ``total`` questions at ``concurrency`` and measure them.

    Args:
        url: Base URL of the server.
        questions: Questions, used in turn.
        total: Requests to send.
        concurrency: Requests in flight at once (also the connection pool size).
        deadline: ``time.monotonic()`` after which no new request is started.
        top_k: Passages requested.

    Returns:
        The phase's measurements.
    """
    result = PhaseResult()
    latencies: list[float] = []
    next_request = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(60.0)

    def failed(kind: str) -> None:
        result.errors += 1
        result.error_kinds[kind] = result.error_kinds.get(kind, 0) + 1

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_request
        while next_request < total:
            if time.monotonic() > deadline:
                result.stopped_early = True
                return
            number = next_request
            next_request += 1
            payload = {"question": questions[number % len(questions)], "top_k": top_k}
            started = time.perf_counter()
            try:
                response = await client.post("/api/ask", json=payload)
                body = response.json() if response.status_code == 200 else None
            except (httpx.HTTPError, ValueError) as error:
                failed(type(error).__name__)
                result.requests += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            result.requests += 1
            if response.status_code != 200:
                failed(f"HTTP {response.status_code}")
            elif not isinstance(body, dict) or "answer" not in body or "abstained" not in body:
                failed("malformed answer")
            elif body["abstained"]:
                result.abstained += 1

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    result.seconds = round(time.perf_counter() - started, 3)
    result.requests_per_second = round(result.requests / result.seconds, 1) if result.seconds else 0.0
    latencies.sort()
    result.latency_ms = {
        "p50": round(percentile(latencies, 0.50) or 0.0, 2),
        "p95": round(percentile(latencies, 0.95) or 0.0, 2),
        "p99": round(percentile(latencies, 0.99) or 0.0, 2),
        "max": round(latencies[-1], 2) if latencies else 0.0,
        "mean": round(sum(latencies) / len(latencies), 2) if latencies else 0.0,
    }
    return result


@contextlib.contextmanager
def serve(
    index: Path, startup_timeout: float = 120.0, log: Path | None = None, env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
):
    """Run ``verbatim serve`` on a free loopback port for the duration of the block.

    Args:
        index: The index folder it serves.
        startup_timeout: Seconds to wait for ``/healthz``.
        log: File for the server's output (None: discarded); its end is quoted when the server
            exits before it is ready.
        env: More environment variables for the server (rate limit off and no admin token
            whatever the caller's environment says).
        prefix: A command the server runs under (``nice``, a namespace, ...).

    Yields:
        ``(base_url, process)`` once ``/healthz`` answers; the process is ended (SIGINT, then
        SIGKILL) when the block ends, unless the caller ended it.
    """
    port = free_port()
    environment = {**os.environ, **(env or {}), "VERBATIM_RATE_LIMIT": "0"}
    environment.pop("VERBATIM_ADMIN_TOKEN", None)
    command = [
        *prefix, sys.executable, "-m", "verbatim.cli", "serve", "--index", str(index),
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]
    output = log.open("wb") if log else subprocess.DEVNULL
    process = subprocess.Popen(command, env=environment, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        ready_by = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                tail = log.read_text(errors="replace")[-2000:] if log else ""
                raise RuntimeError(f"the server exited with status {process.returncode} before it was ready {tail}".rstrip())
            try:
                if httpx.get(f"{url}/healthz", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > ready_by:
                raise RuntimeError(f"the server did not answer /healthz within {startup_timeout:.0f} s")
            time.sleep(0.25)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if log:
            output.close()


async def load_test(args: argparse.Namespace, url: str, server_pid: int | None) -> dict:
    """Warm up, measure memory, run the measured phase, measure memory again."""
    questions = [question.question for question in load_questions()]
    deadline = time.monotonic() + args.time_limit
    warmup = await run_phase(url, questions, args.warmup, args.concurrency, deadline)
    rss_after_warmup = rss_mb(server_pid) if server_pid else None
    load = await run_phase(url, questions[args.warmup % len(questions) :] + questions, args.requests, args.concurrency, deadline)
    rss_at_end = rss_mb(server_pid) if server_pid else None
    growth = (
        round(100.0 * (rss_at_end - rss_after_warmup) / rss_after_warmup, 2)
        if rss_after_warmup and rss_at_end
        else None
    )
    memory_ok = growth is None or growth <= args.max_rss_growth
    return {
        "target": url,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "warmup_requests": args.warmup,
        "questions": len(questions),
        "warmup": asdict(warmup),
        "load": asdict(load),
        "errors": warmup.errors + load.errors,
        "p50_ms": load.latency_ms["p50"],
        "p95_ms": load.latency_ms["p95"],
        "p99_ms": load.latency_ms["p99"],
        "requests_per_second": load.requests_per_second,
        "rss_after_warmup_mb": rss_after_warmup,
        "rss_at_end_mb": rss_at_end,
        "rss_growth_pct": growth,
        "max_rss_growth_pct": args.max_rss_growth,
        "passed": warmup.errors + load.errors == 0 and memory_ok and not load.stopped_early,
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
    }


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of the load test."""
    parser = argparse.ArgumentParser(prog="python -m eval.bench.loadtest", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="measured requests (default 20000)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    parser.add_argument("--warmup", type=int, default=1_000, help="requests before memory is first measured (default 1000)")
    parser.add_argument("--index", type=Path, default=Path(os.environ.get("VERBATIM_INDEX", "index")), help="index to serve")
    parser.add_argument("--url", help="target a running server on loopback instead of starting one")
    parser.add_argument("--server-pid", type=int, help="pid of the --url server, to measure its memory")
    parser.add_argument("--time-limit", type=float, default=1800.0, help="stop starting requests after this many seconds")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="seconds to wait for the server")
    parser.add_argument("--max-rss-growth", type=float, default=10.0, help="allowed memory growth in percent (default 10)")
    parser.add_argument("--server-log", type=Path, help="write the server's output here")
    parser.add_argument("--output", type=Path, help="also write the JSON summary to this file")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the load test and print its JSON summary."""
    args = build_parser().parse_args(argv)
    if args.requests < 1 or args.concurrency < 1 or args.warmup < 0:
        raise SystemExit("--requests and --concurrency must be positive, --warmup not negative")
    if args.url:
        require_loopback(args.url)
        summary = asyncio.run(load_test(args, args.url.rstrip("/"), args.server_pid))
    else:
        try:
            with serve(args.index, args.startup_timeout, args.server_log) as (url, process):
                pid = process.pid
                summary = asyncio.run(load_test(args, url, pid))
        except RuntimeError as error:
            print(json.dumps({"error": str(error)}), file=sys.stderr)
            return 2
    summary["command"] = " ".join(["python -m eval.bench.loadtest", *(argv if argv is not None else sys.argv[1:])])
    text = json.dumps(summary, indent=2)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
