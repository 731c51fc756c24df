"""The HTML pages without a browser: server-side rendering (the no-JavaScript path), the
document view, escaping, the security headers and the pure helpers behind the highlights."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest

from qa.confidence import CONFIDENCE_LEVELS, describe_confidence
from tests.web.conftest import HOSTILE_QUESTION, HUGE_LINE_QUESTION
from verbatim.safety_policy import SafetyPolicy
from web.routers.pages import (
    document_blocks,
    split_segments,
)
from web.security import REDOC_CSP, STRICT_CSP

DOSING = "How much glutamine should I take for gut health?"
LIVER = "Can I take glutamine if I have liver disease?"
OUT_OF_SCOPE = "What is the capital of France?"


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the text inside each element."""

    VOID = frozenset({"br", "img", "input", "link", "meta", "hr", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.elements: list[tuple[frozenset[str], list[str]]] = []  # (classes, text parts) in document order
        self.runs: list[tuple[frozenset[str], str]] = []
        self._open: list[tuple[str, int]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        if tag not in self.VOID:
            self.elements.append((frozenset((attributes.get("class") or "").split()), []))
            self._open.append((tag, len(self.elements) - 1))

    def handle_endtag(self, tag):
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                break

    def handle_data(self, data):
        classes = frozenset(name for _, number in self._open for name in self.elements[number][0])
        self.runs.append((classes, data))
        for _, number in self._open:
            self.elements[number][1].append(data)

    def texts(self, css_class: str) -> list[str]:
        """The text of each element with this class, in document order."""
        return ["".join(parts) for classes, parts in self.elements if css_class in classes]

    def text(self, css_class: str) -> str:
        """All text inside elements with this class (nested ones counted once)."""
        return "".join(data for classes, data in self.runs if css_class in classes)

    def text_in_order(self, css_classes: set[str]) -> list[str]:
        return [data for classes, data in self.runs if classes & css_classes]

    def find(self, tag: str, **wanted: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in wanted.items())]


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


def assert_no_active_content(html: str) -> None:
    """No inline script, no inline event handler, no javascript: URL, no inline style."""
    page = parse(html)
    for tag, attributes in page.tags:
        if tag == "script":
            assert attributes.get("src", "").startswith("/static/"), f"script not from /static: {attributes}"
        for name, value in attributes.items():
            assert not name.startswith("on"), f"inline handler {name} on <{tag}>"
            assert name != "style", f"inline style on <{tag}>"
            if name in {"href", "src", "action"} and value:
                assert not value.strip().lower().startswith("javascript:"), f"{name}={value!r} on <{tag}>"
    assert "<script>" not in html


# -- the chat page ---------------------------------------------------------------------------


def test_chat_page_has_a_labelled_form_a_live_log_and_the_sources(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = parse(response.text)
    form = page.find("form", id="ask-form")[0]
    assert form["method"] == "post" and form["action"] == "/"
    assert page.find("label", **{"for": "question"}), "the question box has a label"
    textarea = page.find("textarea", id="question")[0]
    assert textarea["name"] == "question" and textarea["maxlength"] == "1000"
    log = page.find("div", id="conversation")[0]
    assert log["aria-live"] == "polite" and log["role"] == "log"
    assert page.find("button", type="submit", id="ask-button")
    footer = page.text("site-footer")
    assert "not medical advice" in footer
    for document in client.get("/api/documents").json():
        assert document["title"] in footer
    assert_no_active_content(response.text)


def test_chat_page_passes_the_shared_settings_as_data_attributes(client):
    page = parse(client.get("/").text)
    main = page.find("main", id="main")[0]
    levels = json.loads(main["data-confidence-levels"])
    assert levels == [[level.minimum, level.key, level.words] for level in CONFIDENCE_LEVELS]
    labels = json.loads(main["data-safety-labels"])
    assert labels["liver-disease"] == SafetyPolicy.load().label("liver-disease")


def test_static_files_are_served_with_their_types(client):
    page = parse(client.get("/").text)
    script = page.find("script")[0]["src"]
    stylesheet = page.find("link", rel="stylesheet")[0]["href"]
    js = client.get(script)
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert "textContent" in js.text and "innerHTML" not in js.text
    css = client.get(stylesheet)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/static/no-such-file.js").status_code == 404


# -- the form post (no JavaScript) ---------------------------------------------------------------


def test_form_post_renders_the_answer_with_highlight_and_citation(client):
    api = client.post("/api/ask", json={"question": DOSING}).json()
    response = client.post("/", data={"question": DOSING})
    assert response.status_code == 200
    page = parse(response.text)
    assert "grams" in page.text("reply__text")
    assert page.text("reply__text") == api["answer"]
    marks = page.texts("quote__mark")
    assert marks[0] == api["answer"], "the answer is highlighted in the first quote"
    assert len(marks) == len(api["passages"]), "every passage shows its best span"
    passage = api["passages"][0]
    link = page.find("a", **{"class": "citation__link"})[0]["href"]
    assert link == (
        f"/documents/{passage['doc_id']}?start={passage['start']}&end={passage['end']}"
        f"&hl_start={passage['highlight_start']}&hl_end={passage['highlight_end']}#quote"
    )
    assert describe_confidence(api["confidence"]).words in page.text("confidence")
    # In words, not as a number (the quoted sources may hold numbers of their own: "p<0.001").
    assert not re.search(r"\b0\.\d{2,}", page.text("confidence")), "confidence is shown in words, not as a number"
    assert f"{api['confidence']:.2f}" not in page.text("reply") and str(api["confidence"]) not in page.text("reply")
    assert "hidden" in page.find("section", id="intro")[0], "the welcome text gives way to the conversation"
    assert_no_active_content(response.text)


def test_form_post_shows_the_disclaimer_with_topic_labels(client):
    api = client.post("/api/ask", json={"question": LIVER}).json()
    assert api["disclaimer"]
    page = parse(client.post("/", data={"question": LIVER}).text)
    notice = page.text("safety-notice")
    assert SafetyPolicy.load().disclaimer in notice
    assert "Liver disease" in page.text("topic")
    assert "liver-disease" not in notice, "labels, not ids"


def test_form_post_abstains_honestly_and_says_what_the_sources_cover(client):
    page = parse(client.post("/", data={"question": OUT_OF_SCOPE}).text)
    assert "couldn't find this in my sources" in page.text("reply--abstained")
    assert page.text("quote") == "", "no quote for an abstention"
    hint = page.text("reply--abstained")
    for document in client.get("/api/documents").json():
        assert document["title"] in hint
    assert "Dosing & Recommendations" in hint, "section titles say what the sources cover"


@pytest.mark.parametrize(
    ("question", "message"),
    [("   ", "must not be empty"), ("x" * 1001, "at most 1000 characters"), ("bad\x00byte", "control characters")],
)
def test_form_post_rejects_invalid_questions_and_keeps_them(client, question, message):
    response = client.post("/", data={"question": question})
    assert response.status_code == 422
    page = parse(response.text)
    assert message in page.text("composer__error")
    assert page.text("turn") == "", "no turn for a rejected question"
    if question.strip() and "\x00" not in question:
        assert question in response.text, "the typed question stays in the box"


def test_form_post_without_a_question_field_is_a_readable_error(client):
    response = client.post("/", data={})
    assert response.status_code == 422
    assert "must not be empty" in parse(response.text).text("composer__error")


# -- the document view -----------------------------------------------------------------------------


def test_document_view_shows_the_whole_text_with_the_quote_and_answer_highlighted(client):
    api = client.post("/api/ask", json={"question": DOSING}).json()
    passage = api["passages"][0]
    document = client.get(f"/api/documents/{passage['doc_id']}").json()
    response = client.get(
        f"/documents/{passage['doc_id']}",
        params={"start": passage["start"], "end": passage["end"], "hl_start": passage["highlight_start"], "hl_end": passage["highlight_end"]},
    )
    assert response.status_code == 200
    page = parse(response.text)
    marks = page.find("mark", id="quote")
    assert len(marks) == 1, "the answer carries the scroll anchor"
    assert page.text("doc-mark") == api["answer"]
    shaded = "".join(page.text_in_order({"doc-quote", "doc-mark"}))
    assert re.sub(r"\s+", "", shaded) == re.sub(r"\s+", "", passage["quote"]), "exactly the quote is shaded"
    body = page.text("document__text")
    compact = re.sub(r"\s+", "", body)
    assert compact == re.sub(r"\s+", "", document["text"]), "the whole canonical text is shown"
    for part in page.texts("doc-section__heading") + page.texts("doc-section__body"):
        assert part in document["text"], "each heading and section body is an exact slice of the text"
    assert document["title"] in page.text("document__title")
    assert_no_active_content(response.text)


def test_document_view_without_or_with_bad_offsets_shows_no_highlight(client):
    doc_id = client.get("/api/documents").json()[0]["id"]
    for params in ({}, {"start": "abc", "end": "10"}, {"start": "50", "end": "10"}, {"start": "-5", "end": "10"}):
        response = client.get(f"/documents/{doc_id}", params=params)
        assert response.status_code == 200, params
        assert 'id="quote"' not in response.text
    huge = client.get(f"/documents/{doc_id}", params={"start": "0", "end": str(10**12)})
    assert huge.status_code == 200 and 'id="quote"' in huge.text, "offsets past the end are clamped"


def test_unknown_document_is_an_html_404(client):
    response = client.get("/documents/no-such-doc")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Document not found" in response.text and "no-such-doc" in response.text


# -- hostile documents ---------------------------------------------------------------------------


def test_hostile_markup_is_escaped_in_the_answer(hostile_client):
    api = hostile_client.post("/api/ask", json={"question": HOSTILE_QUESTION}).json()
    assert not api["abstained"] and "<img src=x onerror=alert(1)>" in api["answer"]
    response = hostile_client.post("/", data={"question": HOSTILE_QUESTION})
    assert response.status_code == 200
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text
    assert "<img" not in response.text
    assert_no_active_content(response.text)
    assert parse(response.text).texts("quote__mark")[0] == api["answer"]


def test_hostile_markup_is_escaped_in_the_document_view_and_footer(hostile_client):
    for document in hostile_client.get("/api/documents").json():
        response = hostile_client.get(f"/documents/{document['id']}", params={"start": 0, "end": 200, "hl_start": 10, "hl_end": 60})
        assert response.status_code == 200
        assert "<img" not in response.text and "<b " not in response.text
        assert_no_active_content(response.text)
    markup = hostile_client.get("/documents/hostile-markup").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "&lt;a href=&#34;javascript:alert(1)&#34;&gt;" in markup


def test_huge_line_document_renders(hostile_client):
    api = hostile_client.post("/api/ask", json={"question": HUGE_LINE_QUESTION}).json()
    assert not api["abstained"]
    page = parse(hostile_client.post("/", data={"question": HUGE_LINE_QUESTION}).text)
    assert page.texts("quote__mark")[0] == api["answer"]
    excerpt = page.texts("quote")[0]
    assert len(excerpt) < 2 * 240 + len(api["answer"]) + 10, "the excerpt stays short even in a 30,000-character passage"


# -- security headers ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/documents/glutamine-clinician-guide", "/api/documents", "/healthz", "/static/app.css", "/nowhere"])
def test_every_response_has_the_security_headers(client, path):
    headers = client.get(path).headers
    csp = headers["content-security-policy"]
    assert csp == STRICT_CSP
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["script-src"] == "'self'", "no inline scripts, no other origins"
    assert directives["default-src"] == "'none'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"


def test_posted_pages_and_errors_have_the_security_headers(client):
    for response in (client.post("/", data={"question": ""}), client.post("/api/ask", json={})):
        assert response.headers["content-security-policy"] == STRICT_CSP
        assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(("path", "policy"), [("/docs", STRICT_CSP), ("/redoc", REDOC_CSP)])
def test_api_docs_are_served_from_the_package_under_the_strict_policy(client, path, policy):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == policy
    assert "script-src 'self';" in policy and "'unsafe-inline'" not in policy.split("style-src")[0]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "http" not in response.text.replace("http-equiv", "")  # no CDN, no absolute URL
    assert "<script>" not in response.text  # no inline script
    for asset in re.findall(r'(?:src|href)="(/[^"]+)"', response.text):
        assert client.get(asset).status_code == 200, asset


# -- helpers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("confidence", "words"),
    [(1.0, "Strong match"), (0.8, "Strong match"), (0.79, "Good match"), (0.6, "Good match"), (0.59, "Possible match"), (0.0, "Possible match")],
)
def test_confidence_words(confidence, words):
    assert describe_confidence(confidence).words == words


def test_segments_cover_the_text_and_mark_the_ranges():
    text = "abcdefghijklmnopqrstuvwxyz"
    segments = split_segments(text, 2, 20, quote=(5, 15), mark=(8, 10))
    assert "".join(s.text for s in segments) == text[2:20]
    assert [(s.text, s.kind) for s in segments] == [("cde", ""), ("fgh", "quote"), ("ij", "mark"), ("klmno", "quote"), ("pqrst", "")]
    assert split_segments(text, 3, 3, None, None) == []


def test_document_blocks_cover_every_word_and_anchor_the_mark(answerer):
    document = answerer.store.documents[0]
    section = document.sections[2]
    quote = (section.start + 5, section.end - 5)
    mark = (quote[0] + 10, quote[0] + 40)
    blocks = document_blocks(document, quote, mark)
    shown = "".join(s.text for b in blocks for s in b.heading + b.body)
    assert re.sub(r"\s+", "", shown) == re.sub(r"\s+", "", document.text)
    anchors = [s for b in blocks for s in b.heading + b.body if s.anchor]
    assert len(anchors) == 1 and anchors[0].kind == "mark"
    assert document.text[mark[0] : mark[1]].startswith(anchors[0].text), "the anchor is the first marked run"
    marked = "".join(s.text for b in blocks for s in b.heading + b.body if s.kind == "mark")
    assert re.sub(r"\s+", "", marked) == re.sub(r"\s+", "", document.text[mark[0] : mark[1]])
    assert [b.title for b in blocks if b.title] == [s.title for s in document.sections]
