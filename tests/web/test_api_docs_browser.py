"""``/docs`` and ``/redoc`` render in headless Chromium with every request off the server blocked
(an offline host), under the strict Content-Security-Policy (a violation is a console error)."""

from __future__ import annotations

import pytest

from tests.web.test_browser import assert_clean, expect

pytestmark = pytest.mark.browser


@pytest.fixture
def offline_page(page, live_url):
    """The test page, with every request that does not go to the live server aborted."""
    blocked: list[str] = []

    def only_the_server(route) -> None:
        if route.request.url.startswith(live_url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort("internetdisconnected")

    page.context.route("**/*", only_the_server)
    page.blocked = blocked
    return page


def test_swagger_ui_renders_the_ask_operation_offline(offline_page, live_url):
    page = offline_page
    page.goto(f"{live_url}/docs")
    operation = page.locator(".opblock-post", has_text="/api/ask")
    expect(operation).to_be_visible()
    expect(operation).to_contain_text("Answer a question with verbatim quotes from the sources")
    operation.locator(".opblock-summary").click()  # the operation opens with its request schema
    expect(operation.locator(".opblock-body")).to_contain_text("question")
    assert page.blocked == []
    assert_clean(page)


def test_redoc_renders_the_ask_operation_offline(offline_page, live_url):
    page = offline_page
    page.goto(f"{live_url}/redoc")
    heading = page.get_by_role("heading", name="Answer a question with verbatim quotes from the sources")
    expect(heading).to_be_visible()
    expect(page.get_by_text("/api/ask", exact=True).first).to_be_attached()
    assert page.blocked == []
    # ReDoc's "API docs by Redocly" footer links its logo from the vendor's CDN; the policy blocks it
    # (a missing footer image). Any other console error fails.
    page.problems.console_errors = [
        error for error in page.problems.console_errors if "https://cdn.redoc.ly/redoc/logo-mini.svg" not in error
    ]
    assert_clean(page)
