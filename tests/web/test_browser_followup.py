"""A three-turn conversation in headless Chromium, with and without JavaScript: follow-ups are
read against the earlier turns, "Read as" shows how, and "New conversation" forgets them."""

from __future__ import annotations

import pytest

from tests.web.browser_support import ask
from tests.web.test_browser import assert_clean, expect
from verbatim.feedback_store import FeedbackStore

pytestmark = pytest.mark.browser


@pytest.fixture
def newest_feedback(corpus_settings):
    """The last feedback record the live server stored (read through a second connection)."""
    store = FeedbackStore(corpus_settings.data_dir)
    yield lambda: max(store.records(), key=lambda record: record.id)
    store.close()

FIRST = "Can glutamine help with leaky gut?"
SECOND = "how much should I take for that?"
THIRD = "tell me more"


def test_a_three_turn_conversation_with_javascript(page, live_url):
    page.goto(live_url)
    ask(page, FIRST)
    sent = []
    page.on("request", lambda request: sent.append(request.post_data_json) if request.url.endswith("/api/ask") else None)
    second = ask(page, SECOND)
    third = ask(page, THIRD)
    sent = sent[:2]
    assert [len(body["history"]) for body in sent] == [1, 2]
    assert sent[1]["history"][0]["question"] == FIRST and sent[1]["history"][1]["question"] == SECOND
    api = page.request.post(f"{live_url}/api/ask", data={"question": SECOND, "history": sent[0]["history"]}).json()
    if api["followup"]:
        expect(second.locator(".reply__read-as")).to_have_text(f"Read as: {api['read_as']}")
    else:
        expect(second.locator(".reply__read-as")).to_have_count(0)
    expect(third.locator(".reply__read-as")).to_contain_text("Read as: tell me more")
    expect(third.locator(".reply__text")).not_to_have_text(second.locator(".reply__text").text_content())
    # A new conversation sends no history.
    page.locator("#new-conversation").click()
    sent.clear()
    fresh = ask(page, THIRD)
    assert sent[0]["history"] == []
    expect(fresh.locator(".reply__read-as")).to_have_count(0)
    assert_clean(page)


def test_a_three_turn_conversation_without_javascript(no_js_page, live_url):
    page = no_js_page
    page.goto(live_url)
    for question in (FIRST, SECOND, THIRD):
        page.locator("#question").fill(question)
        page.locator("#ask-button").click()
        page.wait_for_load_state()
    # The earlier turns are shown (their quotes cut from the sources) and carried in hidden fields.
    expect(page.locator("#conversation .bubble")).to_have_text([FIRST, SECOND, THIRD])
    expect(page.locator("input[name=history_question]")).to_have_count(3)
    reply = page.locator("#conversation .turn").last.locator(".reply")
    expect(reply.locator(".reply__read-as")).to_contain_text("Read as: tell me more")
    expect(reply.locator(".evidence").first.locator(".quote__mark")).to_have_text(reply.locator(".reply__text").text_content())
    page.locator("#new-conversation").click()
    page.wait_for_load_state()
    expect(page.locator("input[name=history_question]")).to_have_count(0)
    expect(page.locator("#conversation .turn")).to_have_count(0)
    assert page.problems.dialogs == []


def test_feedback_on_a_follow_up_carries_read_as_and_the_history_sent(page, live_url, newest_feedback):
    page.goto(live_url)
    ask(page, FIRST)
    sent = []
    page.on("request", lambda request: sent.append(request.post_data_json) if request.url.endswith("/api/ask") else None)
    ask(page, THIRD)
    history = sent[0]["history"]
    assert [turn["question"] for turn in history] == [FIRST]
    # After a reload the turns come back from the tab's storage with the history they were sent with.
    page.reload()
    turn = page.locator("#conversation .turn").last
    read_as = turn.locator(".reply__read-as").text_content().removeprefix("Read as: ")
    turn.locator(".feedback").get_by_role("button", name="Helpful", exact=True).click()
    expect(turn.locator(".feedback__done")).to_be_visible()
    record = newest_feedback()
    assert (record.question, record.read_as, record.history) == (THIRD, read_as, history)
    # The first question was answered as asked: its feedback carries neither.
    first = page.locator("#conversation .turn").first
    first.locator(".feedback").get_by_role("button", name="Helpful", exact=True).click()
    expect(first.locator(".feedback__done")).to_be_visible()
    record = newest_feedback()
    assert (record.question, record.read_as, record.history) == (FIRST, None, None)
    assert_clean(page)


def test_feedback_on_a_follow_up_without_javascript_carries_read_as_and_history(no_js_page, live_url, newest_feedback):
    page = no_js_page
    page.goto(live_url)
    for question in (FIRST, THIRD):
        page.locator("#question").fill(question)
        page.locator("#ask-button").click()
        page.wait_for_load_state()
    reply = page.locator("#conversation .turn").last.locator(".reply")
    read_as = reply.locator(".reply__read-as").text_content().removeprefix("Read as: ")
    reply.locator(".feedback").get_by_role("button", name="Helpful", exact=True).click()
    expect(page.locator(".feedback-notice")).to_contain_text("your feedback was saved")
    record = newest_feedback()
    assert (record.question, record.read_as) == (THIRD, read_as)
    assert [turn["question"] for turn in record.history] == [FIRST] and record.history[0]["doc_id"]
    assert page.problems.dialogs == []
