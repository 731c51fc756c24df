"""Fixtures of the web tests: an index of hostile documents, live servers and the browser.

The browser fixtures fail (in CI, where ``.ci/run`` installs Chromium) or skip with a reason
(locally) when ``/usr/bin/chromium`` is missing; they never skip silently.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.builds import app_client, built_settings, warm_answerer
from tests.web import browser_support
from verbatim.settings import Settings
from web.app import create_app

# Documents written to attack the page: markup in the title line and in the body, event
# handlers, a javascript: link, and characters that need care (astral code points before the
# answer, so the highlight offsets must count code points as Python does).
HOSTILE_MARKUP = """<img src=x onerror=alert('title')> Zorblax <script>alert("title")</script> tonic guide

Zorblax tonic basics
Zorblax tonic is a made-up drink (\U0001d6c2-grade) used only to test this page <script>alert(1)</script> safely.
\U0001d40d\U0001d428\U0001d42d\U0001d41e \U0001d430\U0001d41e\U0001d425\U0001d425: The usual zorblax tonic dose is three drops per day <img src=x onerror=alert(1)> taken with warm water.
Never mix zorblax tonic with <b onmouseover=alert(1)>anything</b> or <a href="javascript:alert(1)">links</a>.
"""
# A document with a huge unbroken line and invisible/combining characters.
_ODD = "\u200b\u200d\ufeff\u202e\u0301"
HUGE_LINE = (
    "Quuxberry syrup notes\n\nQuuxberry syrup storage\n"
    f"Quuxberry syrup is stored in a cool dry cupboard{_ODD} away from sunlight.\n"
    + ("W" + _ODD) * 6000
    + "\n"
    + "x" * 20000
    + "\nQuuxberry syrup keeps for two years once opened.\n"
)
HOSTILE_QUESTION = "How many drops of zorblax tonic per day?"
HUGE_LINE_QUESTION = "How long does quuxberry syrup keep?"


@pytest.fixture(scope="session")
def hostile_settings(tmp_path_factory, embedder) -> Settings:
    """Settings of a fresh index built from the hostile documents."""
    sources = tmp_path_factory.mktemp("hostile-docs")
    (sources / "hostile-markup.txt").write_text(HOSTILE_MARKUP, encoding="utf-8")
    (sources / "huge-line.txt").write_text(HUGE_LINE, encoding="utf-8")
    return built_settings(tmp_path_factory, embedder, sources, prefix="hostile-")


@pytest.fixture(scope="session")
def hostile_answerer(hostile_settings, embedder):
    """A warm answerer over the hostile index."""
    return warm_answerer(hostile_settings, embedder)


@pytest.fixture(scope="session")
def hostile_client(hostile_settings, hostile_answerer):
    """An HTTP client of the app serving the hostile index."""
    with app_client(hostile_settings, hostile_answerer) as test_client:
        yield test_client


# -- browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium (Debian's), driven by Playwright's sync API."""
    browser_support.require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = browser_support.launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def live_url(corpus_settings, answerer):
    """Base URL of a real server answering from the seed corpus."""
    from web.app import create_app

    with browser_support.serve(create_app(corpus_settings, answerer=answerer)) as url:
        yield url


@pytest.fixture(scope="session")
def hostile_url(hostile_settings, hostile_answerer):
    """Base URL of a real server answering from the hostile index."""
    from web.app import create_app

    with browser_support.serve(create_app(hostile_settings, answerer=hostile_answerer)) as url:
        yield url


class PageProblems:
    """What went wrong in a page while a test used it: dialogs, page errors, console errors
    (including Content-Security-Policy violations) and failed requests."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []

    def attach(self, page) -> None:
        """Listen to a page (and dismiss any dialog so it cannot block the test)."""

        def on_dialog(dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and self.console_errors.append(message.text))


def _new_page(chromium, viewport: dict, java_script: bool = True):
    context = chromium.new_context(viewport=viewport, java_script_enabled=java_script, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(30_000)
    problems = PageProblems()
    problems.attach(page)
    page.problems = problems
    return context, page


@pytest.fixture
def page(chromium):
    """A fresh desktop-sized page (own context: no shared storage between tests).

    ``page.problems`` collects dialogs, page errors and console errors.
    """
    context, page = _new_page(chromium, browser_support.DESKTOP)
    yield page
    context.close()


@pytest.fixture
def phone_page(chromium):
    """A fresh phone-sized page."""
    context, page = _new_page(chromium, browser_support.PHONE)
    yield page
    context.close()


@pytest.fixture
def no_js_page(chromium):
    """A fresh page with JavaScript disabled."""
    context, page = _new_page(chromium, browser_support.DESKTOP, java_script=False)
    yield page
    context.close()


@pytest.fixture(scope="module")
def make_client(corpus_settings, answerer):
    """Clients of the real app with some settings changed (same warm answerer)."""
    opened = []

    def make(**changes) -> TestClient:
        settings = Settings.from_env(index_dir=corpus_settings.index_dir, corpus_dir=corpus_settings.corpus_dir, **changes)
        client = TestClient(create_app(settings, answerer=answerer), raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)
