"""End-to-end tests of the chat page in headless Chromium against a real uvicorn server.

Every test also checks that the page raised no dialog, no script error and no console error
(a Content-Security-Policy violation is reported as a console error).
"""

from __future__ import annotations

import re

import pytest

from tests.qa.regressions import PAIR_CHOICE_REGRESSION
from tests.web.browser_support import ask
from tests.web.conftest import HOSTILE_QUESTION, HUGE_LINE_QUESTION
from tests.web.test_pages import DOSING, LIVER, OUT_OF_SCOPE, parse
from verbatim.safety_policy import SafetyPolicy

pytestmark = pytest.mark.browser

CONFIDENCE_WORDS = {"Strong match", "Good match", "Possible match"}


def expect(*args, **kwargs):
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(*args, **kwargs)


def assert_clean(page) -> None:
    problems = page.problems
    assert problems.dialogs == [], f"a dialog opened: {problems.dialogs}"
    assert problems.page_errors == [], f"script errors: {problems.page_errors}"
    assert problems.console_errors == [], f"console errors (CSP violations show here): {problems.console_errors}"


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def api_answer(page, base_url: str, question: str) -> dict:
    response = page.request.post(f"{base_url}/api/ask", data={"question": question})
    assert response.ok
    return response.json()


# -- asking ----------------------------------------------------------------------------------


def test_question_gets_an_answer_with_highlight_confidence_and_citation(page, live_url):
    page.goto(live_url)
    expect(page.locator("#question")).to_be_focused()
    expect(page.locator("#composer-hint")).to_be_visible()
    turn = ask(page, DOSING)
    api = api_answer(page, live_url, DOSING)

    expect(turn.locator(".bubble")).to_have_text(DOSING)
    answer = turn.locator(".reply__text").text_content()
    assert "grams" in answer and answer == api["answer"]
    main_quote = turn.locator(".evidence").first
    assert main_quote.locator(".quote__mark").text_content() == api["answer"]
    expect(main_quote.locator(".quote__mark")).to_be_visible()
    link = main_quote.locator(".citation__link")
    assert link.text_content() == api["passages"][0]["title"]
    assert link.get_attribute("href").startswith(f"/documents/{api['passages'][0]['doc_id']}?start=")
    confidence = turn.locator(".confidence").text_content().replace("Confidence: ", "")
    assert confidence in CONFIDENCE_WORDS and not re.search(r"\d", confidence)
    # Supporting passages are collapsed until asked for.
    supporting = turn.locator("details.supporting")
    if len(api["passages"]) > 1:
        expect(supporting.locator(".evidence").first).to_be_hidden()
        supporting.locator("summary").click()
        expect(supporting.locator(".evidence")).to_have_count(len(api["passages"]) - 1)
        expect(supporting.locator(".evidence").first).to_be_visible()
    expect(page.locator("#question")).to_have_value("")
    expect(page.locator("#ask-button")).to_be_enabled()
    expect(page.locator("#intro")).to_be_hidden()
    assert_clean(page)


def test_the_page_script_renders_quotes_exactly_like_the_server(page, live_url):
    page.goto(live_url)
    turn = ask(page, DOSING)
    server = parse(page.request.post(f"{live_url}/", form={"question": DOSING}).text())
    turn.locator("details.supporting summary").click()
    browser_quotes = turn.locator(".quote").all_text_contents()
    assert browser_quotes == server.texts("quote")
    # Same words in every citation (the server's markup adds indentation between them).
    assert [t.split() for t in turn.locator(".citation").all_text_contents()] == [t.split() for t in server.texts("citation")]
    hrefs = [link.get_attribute("href") for link in turn.locator(".citation__link").all()]
    assert hrefs == [a["href"] for a in server.find("a", **{"class": "citation__link"})]
    assert_clean(page)


def test_enter_asks_and_shift_enter_adds_a_line(page, live_url):
    page.goto(live_url)
    box = page.locator("#question")
    box.press_sequentially("How much glutamine")
    box.press("Shift+Enter")
    box.press_sequentially("for gut health?")
    expect(box).to_have_value("How much glutamine\nfor gut health?")
    expect(page.locator("#conversation .turn")).to_have_count(0)
    box.press("Enter")
    turn = page.locator("#conversation .turn").first
    turn.locator(".reply:not(.reply--thinking)").wait_for()
    expect(turn.locator(".bubble")).to_have_text("How much glutamine\nfor gut health?")
    expect(page.locator("#conversation .turn")).to_have_count(1)
    assert_clean(page)


def test_conversation_keeps_turns_in_order_with_the_newest_in_view(page, live_url):
    page.goto(live_url)
    ask(page, DOSING)
    ask(page, OUT_OF_SCOPE)
    last = ask(page, LIVER)
    expect(page.locator("#conversation .bubble")).to_have_text([DOSING, OUT_OF_SCOPE, LIVER])
    expect(last.locator(".reply")).to_be_in_viewport()
    assert_clean(page)


def test_waiting_shows_thinking_and_blocks_double_submits(page, live_url):
    held = []
    page.route("**/api/ask", lambda route: held.append(route))  # hold the request until the test releases it
    page.goto(live_url)
    page.locator("#question").fill(DOSING)
    page.locator("#question").press("Enter")
    expect(page.locator(".reply--thinking")).to_be_visible()
    expect(page.locator(".reply--thinking")).to_contain_text("Looking through the sources")
    expect(page.locator("#ask-button")).to_be_disabled()
    page.locator("#question").fill(DOSING)
    page.locator("#question").press("Enter")
    page.locator("#ask-button").click(force=True)
    page.wait_for_timeout(300)
    assert len(held) == 1, "a second question must not be sent while one is pending"
    expect(page.locator("#conversation .turn")).to_have_count(1)
    held[0].continue_()
    expect(page.locator(".reply--thinking")).to_have_count(0)
    expect(page.locator("#conversation .reply__text")).to_contain_text("grams")
    expect(page.locator("#ask-button")).to_be_enabled()
    page.unroute("**/api/ask")
    assert_clean(page)


def test_server_rejection_shows_a_readable_message_and_keeps_the_question(page, live_url):
    page.goto(live_url)
    question = "Is glutamine \x07 safe?"  # a control character: the real API answers 422
    page.locator("#question").fill(question)
    page.locator("#question").press("Enter")
    error = page.locator(".reply--error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("The question wasn't accepted")
    expect(error).to_contain_text("control characters")
    expect(page.locator("#question")).to_have_value(question)
    expect(page.locator("#ask-button")).to_be_enabled()
    assert page.problems.dialogs == [] and page.problems.page_errors == []


def test_network_failure_shows_a_readable_message_and_keeps_the_question(page, live_url):
    page.goto(live_url)
    page.route("**/api/ask", lambda route: route.abort("internetdisconnected"))
    page.locator("#question").fill(DOSING)
    page.locator("#question").press("Enter")
    expect(page.locator(".reply--error")).to_contain_text("Couldn't reach the server")
    expect(page.locator("#question")).to_have_value(DOSING)
    expect(page.locator("#ask-button")).to_be_enabled()
    page.unroute("**/api/ask")
    turn = ask(page, DOSING)  # the kept question can be sent again
    expect(turn.locator(".reply__text")).to_contain_text("grams")
    assert page.problems.dialogs == [] and page.problems.page_errors == []


# -- citations and the document view -----------------------------------------------------------


def test_citation_opens_the_document_with_the_quote_in_view(page, live_url):
    page.goto(live_url)
    turn = ask(page, DOSING)
    answer = turn.locator(".reply__text").text_content()
    turn.locator(".evidence").first.locator(".citation__link").click()
    page.wait_for_url(re.compile(r"/documents/[^?]+\?start=\d+&end=\d+&hl_start=\d+&hl_end=\d+#quote$"))
    target = page.locator("#quote")
    expect(target).to_have_text(answer)
    expect(target).to_be_in_viewport()
    expect(page.locator(".doc-quote").first).to_be_visible()
    # The whole canonical text is on the page, under its title.
    doc_id = re.search(r"/documents/([^?]+)", page.url).group(1)
    document = page.request.get(f"{live_url}/api/documents/{doc_id}").json()
    expect(page.locator(".document__title")).to_have_text(document["title"])
    text = document["text"]
    shown = page.locator("#document-text").text_content()
    assert re.sub(r"\s+", "", shown) == re.sub(r"\s+", "", text)
    assert_clean(page)


def test_coming_back_from_a_document_keeps_the_conversation(page, live_url):
    page.goto(live_url)
    ask(page, DOSING)
    ask(page, LIVER)
    page.locator(".citation__link").first.click()
    page.wait_for_url(re.compile(r"/documents/"))
    page.go_back()
    expect(page.locator("#conversation .bubble")).to_have_text([DOSING, LIVER])
    page.locator(".citation__link").first.click()
    page.locator("#back-to-chat").click()
    expect(page.locator("#conversation .bubble")).to_have_text([DOSING, LIVER])
    # "New conversation" starts over.
    page.locator("#new-conversation").click()
    expect(page.locator("#conversation .turn")).to_have_count(0)
    expect(page.locator("#intro")).to_be_visible()
    page.reload()
    expect(page.locator("#conversation .turn")).to_have_count(0)
    assert_clean(page)


# -- safety and abstention ---------------------------------------------------------------------


def test_safety_question_shows_the_disclaimer_attached_to_the_answer(page, live_url):
    page.goto(live_url)
    turn = ask(page, LIVER)
    notice = turn.locator(".reply .safety-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(SafetyPolicy.load().disclaimer)
    expect(notice.locator(".topic", has_text="Liver disease")).to_be_visible()
    assert "liver-disease" not in notice.text_content()
    assert page.problems.dialogs == [], "the notice is part of the answer, not a pop-up"
    assert_clean(page)


def test_out_of_scope_question_gets_an_honest_abstention(page, live_url):
    page.goto(live_url)
    turn = ask(page, OUT_OF_SCOPE)
    reply = turn.locator(".reply")
    expect(reply).to_have_class(re.compile(r"reply--abstained"))
    expect(reply).to_contain_text("I couldn't find this in my sources")
    for document in page.request.get(f"{live_url}/api/documents").json():
        expect(reply.locator(".coverage")).to_contain_text(document["title"])
    expect(reply.locator(".quote")).to_have_count(0)
    expect(reply.locator(".confidence")).to_have_count(0)
    assert_clean(page)


# -- without JavaScript --------------------------------------------------------------------------


def test_form_works_without_javascript(no_js_page, live_url):
    page = no_js_page
    page.goto(live_url)
    expect(page.locator("#composer-hint")).to_be_hidden()
    page.locator("#question").fill(DOSING)
    page.locator("#ask-button").click()
    page.wait_for_load_state()
    reply = page.locator("#conversation .reply")
    expect(reply.locator(".reply__text")).to_contain_text("grams")
    expect(reply.locator(".evidence").first.locator(".quote__mark")).to_have_text(reply.locator(".reply__text").text_content())
    reply.locator(".citation__link").first.click()
    page.wait_for_url(re.compile(r"/documents/.*#quote$"))
    expect(page.locator("#quote")).to_be_in_viewport()
    page.goto(live_url)
    page.locator("#question").fill(LIVER)
    page.locator("#ask-button").click()
    expect(page.locator(".safety-notice")).to_contain_text(SafetyPolicy.load().disclaimer)
    assert page.problems.dialogs == []


# -- accessibility and layout ----------------------------------------------------------------------

_CONTRAST = """
(selectors) => {
  const parse = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c.length < 4 || c[3] > 0.9) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = {};
  for (const selector of selectors) {
    const el = document.querySelector(selector);
    if (!el) { out[selector] = null; continue; }
    const fg = lum(parse(getComputedStyle(el).color).slice(0, 3));
    const bg = lum(background(el));
    out[selector] = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
  }
  return out;
}
"""
CONTRAST_SELECTORS = [
    "body", ".brand__tagline", ".bubble", ".reply__label", ".reply__text", ".confidence", ".quote p",
    ".quote__mark", ".citation", ".citation__link", ".safety-notice__title", ".safety-notice__text", ".topic",
    ".reply--abstained .reply__reason", ".coverage__sections", ".composer__label", ".composer__hint",
    "#ask-button", ".site-footer", ".site-footer a", ".supporting summary",
]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_has_enough_contrast(page, live_url, scheme):
    page.emulate_media(color_scheme=scheme)
    page.goto(live_url)
    ask(page, LIVER)
    ask(page, OUT_OF_SCOPE)
    ratios = page.evaluate(_CONTRAST, CONTRAST_SELECTORS)
    missing = [selector for selector, ratio in ratios.items() if ratio is None]
    assert not missing, f"elements not found: {missing}"
    low = {selector: round(ratio, 2) for selector, ratio in ratios.items() if ratio < 4.5}
    assert not low, f"contrast below WCAG AA 4.5:1 ({scheme}): {low}"


def test_keyboard_alone_can_ask_and_follow_a_citation(page, live_url):
    page.goto(live_url)
    page.keyboard.type(DOSING)  # the question box has focus on load
    page.keyboard.press("Enter")
    page.locator(".reply:not(.reply--thinking)").wait_for()
    expect(page.locator("#question")).to_be_focused()
    for _ in range(12):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("() => document.activeElement.classList.contains('citation__link')"):
            break
    else:
        pytest.fail("the citation link cannot be reached with the keyboard")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/documents/"))
    expect(page.locator("#quote")).to_be_in_viewport()
    assert_clean(page)


def test_skip_link_and_labels(no_js_page, live_url):
    page = no_js_page  # without the script nothing takes focus on load, so Tab starts at the top
    page.goto(live_url)
    page.keyboard.press("Tab")
    skip = page.locator(".skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("#question")).to_be_focused()
    expect(page.get_by_label("Your question")).to_have_attribute("id", "question")
    expect(page.get_by_role("button", name="Ask")).to_be_visible()
    expect(page.get_by_role("log")).to_have_attribute("aria-live", "polite")


def test_phone_width_layout(phone_page, live_url):
    page = phone_page
    page.goto(live_url)
    assert no_horizontal_overflow(page)
    ask(page, DOSING)
    ask(page, LIVER)
    assert no_horizontal_overflow(page)
    expect(page.locator("#ask-form")).to_be_in_viewport()
    box = page.locator(".reply").first.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.locator(".citation__link").first.click()
    expect(page.locator("#quote")).to_be_in_viewport()
    assert no_horizontal_overflow(page)
    assert_clean(page)


# -- hostile documents -----------------------------------------------------------------------------

INJECTED = "script, img, b, a[href^='javascript'], [onerror], [onmouseover], [onclick], iframe, object, embed"


def test_hostile_document_is_inert_in_the_chat(page, hostile_url):
    page.goto(hostile_url)
    turn = ask(page, HOSTILE_QUESTION)
    api = api_answer(page, hostile_url, HOSTILE_QUESTION)
    assert "<img src=x onerror=alert(1)>" in api["answer"]
    expect(turn.locator(".reply__text")).to_have_text(api["answer"])
    # The highlight lands exactly on the answer although astral characters precede it.
    assert turn.locator(".evidence").first.locator(".quote__mark").text_content() == api["answer"]
    turn.locator("details.supporting summary").click()
    expect(turn.locator(".quote", has_text='<script>alert("title")</script>')).to_be_visible()
    assert page.locator(f"#conversation :is({INJECTED})").count() == 0
    assert page.locator("#conversation .citation__link").first.get_attribute("href").startswith("/documents/")
    page.wait_for_timeout(300)  # give any injected handler a chance to fire
    assert_clean(page)


def test_hostile_document_view_is_inert(page, hostile_url):
    page.goto(hostile_url)
    ask(page, HOSTILE_QUESTION)
    page.locator(".citation__link").first.click()
    page.wait_for_url(re.compile(r"/documents/hostile-markup"))
    text = page.locator("#document-text")
    expect(text).to_contain_text("<script>alert(1)</script>")
    expect(text).to_contain_text("<img src=x onerror=alert(1)>")
    expect(text).to_contain_text('<a href="javascript:alert(1)">links</a>')
    assert page.locator(f"main :is({INJECTED})").count() == 0
    expect(page.locator("#quote")).to_be_in_viewport()
    page.wait_for_timeout(300)
    assert_clean(page)


@pytest.mark.parametrize("page_fixture", ["page", "phone_page"])
def test_huge_line_document_keeps_the_page_usable(request, hostile_url, page_fixture):
    page = request.getfixturevalue(page_fixture)
    page.goto(hostile_url)
    turn = ask(page, HUGE_LINE_QUESTION)
    expect(turn.locator(".reply__text")).to_contain_text("two years")
    assert no_horizontal_overflow(page)
    turn = ask(page, HOSTILE_QUESTION)  # still usable afterwards
    expect(turn.locator(".reply__text")).to_contain_text("three drops")
    page.locator("#conversation .turn").first.locator(".citation__link").first.click()
    page.wait_for_url(re.compile(r"/documents/huge-line"))
    expect(page.locator("#quote")).to_have_text(re.compile("two years"))
    expect(page.locator("#quote")).to_be_in_viewport()
    assert no_horizontal_overflow(page)
    page.locator("#back-to-chat").click()
    expect(page.locator("#conversation .turn")).to_have_count(2)
    assert_clean(page)


# Its answer and the other document's passage sit in long paragraphs: both excerpts are clipped.
CLIPPED = "What is one of the most common misreadings of glutamine science?"


def test_a_clipped_excerpt_is_the_same_with_and_without_javascript(page, live_url):
    # The excerpt's window comes with the API's answer (web/excerpt.py); neither page computes it.
    page.goto(live_url)
    turn = ask(page, CLIPPED)
    server = parse(page.request.post(f"{live_url}/", form={"question": CLIPPED}).text())
    turn.locator("details.supporting summary").click()
    expect(turn.locator(".quote__ellipsis")).not_to_have_count(0)
    assert turn.locator(".quote").all_text_contents() == server.texts("quote")
    assert len(server.texts("quote__ellipsis")) == turn.locator(".quote__ellipsis").count()


# -- evidence kinds (issue 26) -----------------------------------------------------------------

STUDY_AND_ADVICE = "What do the studies and the clinician say about glutamine dosing?"
# Dev questions (eval/questions.jsonl q017, q009) that the current answer path answers with a study
# result and shows the other source's advice or story beside it (docs/evidence.md, "Side by side").
STUDY_BESIDE_ADVICE = "Is glutamine stable once it is mixed into a liquid?"
STUDY_BESIDE_STORY = "Are the results of glutamine trials in hospital patients consistent?"


def test_each_quote_has_an_evidence_chip_explained_on_focus(page, live_url):
    page.goto(live_url)
    turn = ask(page, LIVER)
    api = api_answer(page, live_url, LIVER)
    chip = turn.locator(".evidence-chip").first
    expect(chip).to_contain_text("Caution")
    assert api["passages"][0]["evidence"]["kind"] == "caution"
    tip = chip.locator(".evidence-chip__tip")
    assert tip.bounding_box()["width"] <= 1, "the explanation is hidden until hover or focus"
    chip.focus()
    expect(tip).to_be_visible()
    assert tip.bounding_box()["width"] > 50
    assert "risk" in tip.text_content()
    # Screen readers get the kind and the explanation with the chip.
    assert chip.evaluate("node => node.textContent").startswith("Kind of evidence: Caution")
    assert_clean(page)


def assert_shows_a_pair(page, live_url: str, question: str, other_label: str) -> None:
    """The chat shows a study result and ``other_label`` side by side, as the page without
    JavaScript does."""
    page.goto(live_url)
    turn = ask(page, question)
    pair = turn.locator(".evidence-pair")
    expect(pair).to_be_visible()
    expect(pair).to_have_attribute("role", "group")
    expect(pair.locator(".evidence-pair__lead")).to_have_text("The two sources give different kinds of evidence:")
    chips = pair.locator(".evidence-chip").all_text_contents()
    assert len(chips) == 2
    assert any("Study result" in text for text in chips) and any(other_label in text for text in chips)
    figures = pair.locator(".evidence")
    expect(figures).to_have_count(2)
    # The two quotes come from the two sources: each cites another document.
    cited = [figure.locator("a.citation__link").get_attribute("href").split("?")[0] for figure in figures.all()]
    assert len(set(cited)) == 2, cited
    boxes = [figure.bounding_box() for figure in figures.all()]
    # One row, not stacked: the second starts left-to-right after the first and within the first's upper half
    # (a few pixels of difference in their tops come from the quotes' own first lines).
    same_row = abs(boxes[0]["y"] - boxes[1]["y"]) < min(boxes[0]["height"], boxes[1]["height"]) / 2
    assert same_row and boxes[0]["x"] + boxes[0]["width"] <= boxes[1]["x"], "side by side on a wide screen"
    # The page without JavaScript renders the same pair.
    server = parse(page.request.post(f"{live_url}/", form={"question": question}).text())
    assert [t.split() for t in server.texts("evidence-chip")] == [t.split() for t in turn.locator(".evidence-chip").all_text_contents()]
    assert_clean(page)


@pytest.mark.parametrize(
    ("question", "other_label"), [(STUDY_BESIDE_ADVICE, "Clinician's advice"), (STUDY_BESIDE_STORY, "One patient's story")]
)
def test_a_study_and_the_other_sources_advice_or_story_are_shown_side_by_side(page, live_url, question, other_label):
    assert_shows_a_pair(page, live_url, question, other_label)


def test_the_script_shows_the_pair_the_server_decides_and_decides_none_itself(page, live_url):
    """The pair rule lives in web/evidence_view.py alone: the API's answer names the pair
    (``beside``) and the chat's script shows that one. The page's /api/ask answers are the server's
    own answer for a dev question with a pair, with ``beside`` told otherwise than the kinds would
    say, so a script that decided the pair again from the kinds would fail here."""
    real = api_answer(page, live_url, STUDY_BESIDE_ADVICE)
    assert real["beside"] is not None and len(real["passages"]) >= 2
    answers = []

    def reply(route):
        route.fulfill(json=answers.pop(0))

    page.route("**/api/ask", reply)
    page.goto(live_url)
    # Told "no pair" for the study beside the clinician's advice: no pair, the other passage listed under it.
    answers.append({**real, "beside": None})
    turn = ask(page, STUDY_BESIDE_ADVICE)
    expect(turn.locator(".evidence-pair")).to_have_count(0)
    expect(turn.locator("details.supporting .evidence")).to_have_count(len(real["passages"]) - 1)
    # Told "pair" for two study results (no pair by the kinds): the pair, with both study chips.
    studies = [{**passage, "evidence": {"kind": "study", "design": None}} for passage in real["passages"]]
    answers.append({**real, "passages": studies, "beside": real["beside"]})
    turn = ask(page, STUDY_BESIDE_ADVICE)
    pair = turn.locator(".evidence-pair")
    expect(pair).to_be_visible()
    expect(pair.locator(".evidence-chip")).to_have_count(2)
    assert all("Study result" in text for text in pair.locator(".evidence-chip").all_text_contents())
    page.unroute("**/api/ask")
    assert_clean(page)


# The pair ranker now quotes a study result from each source for this question, so no study/advice
# pair is shown; the pairing itself is unchanged (web/evidence_view.py; tests/web/test_evidence_view.py).
@PAIR_CHOICE_REGRESSION
def test_study_and_advice_from_the_two_sources_are_shown_side_by_side(page, live_url):
    assert_shows_a_pair(page, live_url, STUDY_AND_ADVICE, "Clinician's advice")


def test_document_view_tags_evidence_on_a_phone(phone_page, live_url):
    page = phone_page
    page.goto(f"{live_url}/documents/glutamine-clinician-guide")
    tags = page.locator("#document-text .doc-evidence--anecdote")
    assert tags.count() >= 3
    label = tags.first.evaluate("node => getComputedStyle(node, '::before').content")
    assert "One patient" in label
    expect(tags.first).to_be_visible()
    assert page.locator("#document-text .doc-evidence--study").count() >= 5
    assert page.locator("#document-text .doc-evidence--caution").count() >= 10
    # Screen readers read the tag (CSS-generated content is in the accessibility tree).
    assert "One patient's story" in page.locator("#document-text").aria_snapshot()
    assert no_horizontal_overflow(page)
    assert_clean(page)
