"""``replica_healths`` against a small loopback server that answers like an ingress in front of
several replicas (each request reaches the next one in turn)."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from eval.bench.local_cluster import replica_healths


def _ingress(replica_ids: list[str]) -> tuple[ThreadingHTTPServer, list[int]]:
    turn = itertools.cycle(replica_ids)
    asked = [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            asked[0] += 1
            body = json.dumps({"status": "ok", "replica": next(turn), "documents": 2}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler), asked


@pytest.fixture
def ingress(request) -> Iterator[tuple[str, list[int]]]:
    server, asked = _ingress(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("ingress", [["r1", "r1", "r2", "r3"]], indirect=True)
def test_stops_once_the_wanted_replicas_answered(ingress):
    url, asked = ingress
    seen = replica_healths(url, wanted=2)
    assert sorted(seen) == ["r1", "r2"] and asked[0] == 3
    assert seen["r2"] == {"status": "ok", "replica": "r2", "documents": 2}


@pytest.mark.parametrize("ingress", [["r1"]], indirect=True)
def test_gives_what_answered_when_fewer_replicas_answer_within_its_tries(ingress):
    url, asked = ingress
    assert list(replica_healths(url, wanted=2, tries=5)) == ["r1"] and asked[0] == 5
