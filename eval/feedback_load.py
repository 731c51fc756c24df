"""Bounded load of ``POST /api/feedback`` against a Verbatim server on loopback.

Sends a fixed number of feedback posts at a fixed concurrency from this separate process and
prints one JSON summary: how many were stored (201), the ids returned, and every failure by
kind. A server that dies mid-run shows as transport errors, not as a crash of this tool (the
crash-safety test kills the server on purpose and compares the ids with the rows on disk).

    python -m eval.feedback_load --url http://127.0.0.1:8000 --requests 1000 --concurrency 16
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import httpx

from eval.bench.loadtest import require_loopback
from eval.stats import percentile


def payloads(url: str) -> list[dict]:
    """A few well-formed feedback bodies whose spans lie in the server's first document."""
    documents = httpx.get(f"{url}/api/documents", timeout=30).json()
    doc = documents[0]
    span = {"doc_id": doc["id"], "start": 0, "end": min(60, doc["length"])}
    return [
        {"verdict": "helpful", "answer": span},
        {"verdict": "not_helpful", "reason": "wrong_passage", "answer": span},
        {"verdict": "not_helpful", "reason": "should_answer"},
    ]


async def post_all(url: str, total: int, concurrency: int, bodies: list[dict]) -> dict:
    """Send ``total`` posts, ``concurrency`` at a time.

    Returns:
        ``{"requests", "created", "ids", "errors", "error_kinds", "seconds", "p50_ms", "p99_ms"}``.
    """
    ids: list[int] = []
    kinds: dict[str, int] = {}
    latencies: list[float] = []
    next_request = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal next_request
        while next_request < total:
            number = next_request
            next_request += 1
            body = {**bodies[number % len(bodies)], "question": f"feedback load question number {number}?"}
            started = time.perf_counter()
            try:
                response = await client.post("/api/feedback", json=body)
            except httpx.HTTPError as error:
                kinds[type(error).__name__] = kinds.get(type(error).__name__, 0) + 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code == 201:
                ids.append(int(response.json()["id"]))
            else:
                kinds[f"HTTP {response.status_code}"] = kinds.get(f"HTTP {response.status_code}", 0) + 1

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(30.0)) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    latencies.sort()
    return {
        "requests": total,
        "concurrency": concurrency,
        "created": len(ids),
        "ids": sorted(ids),
        "errors": sum(kinds.values()),
        "error_kinds": kinds,
        "seconds": round(time.perf_counter() - started, 3),
        "p50_ms": round(percentile(latencies, 0.5) or 0.0, 2),
        "p99_ms": round(percentile(latencies, 0.99) or 0.0, 2),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the load and print its JSON summary; 0 when every post was stored."""
    parser = argparse.ArgumentParser(prog="python -m eval.feedback_load", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="server on loopback, e.g. http://127.0.0.1:8000")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1:
        raise SystemExit("--requests and --concurrency must be positive")
    url = args.url.rstrip("/")
    require_loopback(url)
    summary = asyncio.run(post_all(url, args.requests, args.concurrency, payloads(url)))
    print(json.dumps(summary))
    return 0 if summary["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
