"""Helpers for the end-to-end browser tests and the screenshot script: a real uvicorn server in
a background thread and Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def chromium_problem() -> str | None:
    """Why the browser tests cannot run here, or None when Chromium is installed."""
    if not CHROMIUM_PATH.exists():
        return f"{CHROMIUM_PATH} is missing (install it with: apt-get install -y chromium)"
    return None


def in_ci() -> bool:
    """Whether we run in CI (``.ci/run`` sets CI=true), where a missing browser is a failure."""
    return os.environ.get("CI", "").lower() == "true"


def require_chromium() -> None:
    """Stop a browser test when Chromium is missing: fail in CI, skip (with the reason) locally.

    Raises:
        pytest.fail.Exception: In CI without Chromium.
        pytest.skip.Exception: Locally without Chromium.
    """
    import pytest

    problem = chromium_problem()
    if problem is None:
        return
    if in_ci():
        pytest.fail(f"browser tests need Chromium in CI: {problem}", pytrace=False)
    pytest.skip(f"browser tests need Chromium: {problem}")


def launch_chromium(playwright):
    """Start headless Chromium with the flags this machine needs.

    Args:
        playwright: A started sync Playwright.

    Returns:
        The browser.
    """
    return playwright.chromium.launch(executable_path=str(CHROMIUM_PATH), args=CHROMIUM_FLAGS, headless=True)


@contextmanager
def serve(app, startup_timeout: float = 120.0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port, in a background thread.

    Args:
        app: The application (its lifespan runs, as in production).
        startup_timeout: Seconds to wait for the server to accept connections.

    Yields:
        The base URL, e.g. ``http://127.0.0.1:41234``.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
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
        thread.join(timeout=15)
        sock.close()


def ask(page, question: str):
    """Type a question in the chat, press Enter and wait for its reply.

    Args:
        page: A Playwright page showing the chat.
        question: The question.

    Returns:
        The locator of the new turn.
    """
    turns = page.locator("#conversation .turn")
    before = turns.count()
    page.locator("#question").fill(question)
    page.locator("#question").press("Enter")
    turn = turns.nth(before)
    turn.locator(".reply:not(.reply--thinking)").wait_for()
    return turn
