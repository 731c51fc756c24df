"""A real uvicorn server on a free loopback port, run in a thread, for tests that need HTTP."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_in_thread(app, startup_timeout: float = 60.0, config: uvicorn.Config | None = None) -> Iterator[str]:
    """Serve ``app`` with uvicorn (lifespan included) until the block ends.

    Args:
        app: An ASGI app.
        startup_timeout: Seconds to wait for the server to accept connections.
        config: uvicorn's configuration of ``app`` (e.g. ``verbatim.cli.serve_cmd.server_config``); its host
            and port are ignored (the server listens on a free loopback port).

    Yields:
        The base URL, ``http://127.0.0.1:<port>``.
    """
    # Bind the socket here and hand it to uvicorn, so no other process can take the port
    # between choosing it and listening on it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(config or uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server stopped during start-up (see the log above)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the test server did not start within {startup_timeout:.0f} s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
