"""Feedback on answers in headless Chromium, with and without JavaScript: "Helpful", "Not
helpful" with a reason, and "This one answered it" on another passage; nothing is stored before
a button is pressed, and each record holds the spans the page showed."""

from __future__ import annotations

import pytest

from tests.web.browser_support import ask
from tests.web.test_browser import api_answer, assert_clean, expect
from verbatim.feedback_store import FeedbackStore

pytestmark = pytest.mark.browser

QUESTION = "Who should avoid glutamine?"
CONSENT = "Sending feedback stores your question with it"


@pytest.fixture
def store(corpus_settings):
    """The file the live server writes (a second connection, as the CLI has)."""
    handle = FeedbackStore(corpus_settings.data_dir)
    yield handle
    handle.close()


def newest(store: FeedbackStore):
    return max(store.records(), key=lambda record: record.id)


def highlight(passage: dict) -> tuple[str, int, int]:
    return passage["doc_id"], passage["highlight_start"], passage["highlight_end"]


def spans(span) -> tuple[str, int, int] | None:
    return None if span is None else (span.doc_id, span.start, span.end)


# -- with JavaScript --------------------------------------------------------------------------------


def test_helpful_by_keyboard_after_the_consent_line_stores_one_record(page, live_url, store):
    page.goto(live_url)
    before = store.count()
    turn = ask(page, QUESTION)
    api = api_answer(page, live_url, QUESTION)
    feedback = turn.locator(".feedback")
    expect(feedback.locator(".feedback__consent")).to_contain_text(CONSENT)
    expect(feedback.locator(".feedback__consent")).to_be_visible()
    assert store.count() == before  # asking stores nothing
    # Keyboard: from the citation, Tab reaches "Helpful".
    turn.locator(".evidence .citation__link").first.focus()
    helpful = feedback.get_by_role("button", name="Helpful", exact=True)
    for _ in range(5):
        if helpful.evaluate("node => node === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(helpful).to_be_focused()
    page.keyboard.press("Enter")
    expect(turn.locator(".feedback__done")).to_have_text("Thank you: your feedback was saved.")
    assert store.count() == before + 1
    record = newest(store)
    assert (record.question, record.verdict, record.reason) == (QUESTION, "helpful", None)
    assert spans(record.answer) == highlight(api["passages"][0]) and record.answer.quote == api["answer"]
    expect(turn.locator(".feedback__form")).to_have_count(0)  # one rating per answer
    assert_clean(page)


def test_not_helpful_with_a_reason_in_one_click(page, live_url, store):
    page.goto(live_url)
    turn = ask(page, QUESTION)
    turn.locator(".feedback summary", has_text="Not helpful").click()
    turn.get_by_role("button", name="Wrong passage").click()
    expect(turn.locator(".feedback__done")).to_be_visible()
    record = newest(store)
    assert (record.question, record.verdict, record.reason, record.chosen) == (QUESTION, "not_helpful", "wrong_passage", None)
    assert_clean(page)


def test_this_one_answered_it_on_another_passage(page, live_url, store):
    page.goto(live_url)
    turn = ask(page, QUESTION)
    api = api_answer(page, live_url, QUESTION)
    assert len(api["passages"]) > 1
    turn.locator("details.supporting summary").click()
    turn.get_by_role("button", name="This one answered it").first.click()
    expect(turn.locator(".feedback__done")).to_be_visible()
    record = newest(store)
    assert spans(record.chosen) == highlight(api["passages"][1]) and spans(record.answer) == highlight(api["passages"][0])
    assert record.verdict == "not_helpful" and record.reason == "wrong_passage"
    assert_clean(page)


def test_an_abstention_offers_the_reasons_that_fit_it(page, live_url, store):
    page.goto(live_url)
    turn = ask(page, "What is the capital of Peru?")
    expect(turn.locator(".reply--abstained")).to_be_visible()
    turn.locator(".feedback summary", has_text="Not helpful").click()
    expect(turn.get_by_role("button", name="Wrong passage")).to_have_count(0)
    turn.get_by_role("button", name="The sources do answer this").click()
    expect(turn.locator(".feedback__done")).to_be_visible()
    record = newest(store)
    assert (record.reason, record.answer) == ("should_answer", None)
    assert_clean(page)


# -- without JavaScript (the form posts) ------------------------------------------------------------


def ask_without_script(page, base_url: str) -> None:
    page.goto(base_url)
    page.locator("#question").fill(QUESTION)
    page.locator("#ask-button").click()
    expect(page.locator(".reply .reply__text")).to_be_visible()


def test_without_javascript_helpful_not_helpful_and_this_one_answered_it_are_stored(no_js_page, live_url, store):
    page = no_js_page
    api = api_answer(page, live_url, QUESTION)
    before = store.count()

    ask_without_script(page, live_url)
    expect(page.locator(".feedback__consent")).to_contain_text(CONSENT)
    assert store.count() == before
    page.locator(".feedback").get_by_role("button", name="Helpful", exact=True).click()
    expect(page.locator(".feedback-notice")).to_contain_text("your feedback was saved")
    record = newest(store)
    assert (record.verdict, spans(record.answer)) == ("helpful", highlight(api["passages"][0]))

    ask_without_script(page, live_url)
    page.locator(".feedback summary", has_text="Not helpful").click()  # <details> needs no script
    page.get_by_role("button", name="Missing safety notice").click()
    expect(page.locator(".feedback-notice")).to_contain_text("your feedback was saved")
    assert (newest(store).verdict, newest(store).reason) == ("not_helpful", "missing_safety_notice")

    ask_without_script(page, live_url)
    page.locator("details.supporting summary").click()
    page.get_by_role("button", name="This one answered it").first.click()
    expect(page.locator(".feedback-notice")).to_contain_text("your feedback was saved")
    record = newest(store)
    assert spans(record.chosen) == highlight(api["passages"][1]) and record.question == QUESTION
    assert store.count() == before + 3
    assert_clean(page)
