"""Helpers for the end-to-end browser tests and the screenshot script: a real uvicorn server in
a background thread and Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.web.live_server import serve_in_thread

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
    with serve_in_thread(app, startup_timeout) as url:
        yield url


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
