"""The excerpt window: computed once (web/excerpt.py), carried by the API, cut alike by the page and chat.js."""

from __future__ import annotations

from web.excerpt import ExcerptWindow, cut_excerpt, excerpt_window, make_excerpt
from web.schemas import PassageOut


def test_excerpt_keeps_the_paragraph_around_the_mark():
    quote = "Heading\nFirst sentence. The answer is here. Last sentence.\nNext paragraph."
    start = 100
    low = start + quote.index("The answer")
    excerpt = make_excerpt(quote, start, low, low + len("The answer is here."))
    assert (excerpt.before, excerpt.marked, excerpt.after) == ("First sentence. ", "The answer is here.", " Last sentence.")
    assert not excerpt.clipped_start and not excerpt.clipped_end


def test_excerpt_clips_long_context_at_word_boundaries():
    words = " ".join(f"word{i}" for i in range(200))
    quote = words + " ANSWER " + words
    low = quote.index("ANSWER")
    excerpt = make_excerpt(quote, 0, low, low + 6, context=50)
    assert excerpt.clipped_start and excerpt.clipped_end
    assert len(excerpt.before) <= 50 and len(excerpt.after) <= 50
    assert excerpt.before.startswith("word") and excerpt.after.startswith(" word")
    assert (excerpt.before + excerpt.marked + excerpt.after) in quote


def test_excerpt_survives_offsets_outside_the_quote():
    excerpt = make_excerpt("short quote", 10, 0, 5000)
    assert excerpt.marked == "short quote"
    empty = make_excerpt("short quote", 10, 9999, 99999)
    assert empty.marked == "" and empty.after == ""


def test_the_window_is_in_document_offsets_around_the_highlight():
    quote = "Heading\nFirst sentence. The answer is here. Last sentence.\nNext paragraph."
    start = 100
    low = start + quote.index("The answer")
    high = low + len("The answer is here.")
    window = excerpt_window(quote, start, low, high)
    assert window == ExcerptWindow(start + quote.index("First"), start + quote.index("\nNext"), False, False)
    assert cut_excerpt(quote, start, low, high, window) == make_excerpt(quote, start, low, high)


def test_a_window_never_cuts_into_the_highlight():
    quote = "one two three four five"
    window = ExcerptWindow(start=8, end=9)  # narrower than the highlight "two three" at [4, 13)
    excerpt = cut_excerpt(quote, 0, 4, 13, window)
    assert (excerpt.before, excerpt.marked, excerpt.after) == ("", "two three", "")


def test_the_api_carries_the_window_the_page_shows(client):
    body = client.post("/api/ask", json={"question": "How much glutamine should I take for gut health?"}).json()
    assert body["passages"]
    for passage in body["passages"]:
        window = excerpt_window(passage["quote"], passage["start"], passage["highlight_start"], passage["highlight_end"])
        assert passage["excerpt"] == {
            "start": window.start, "end": window.end,
            "clipped_start": window.clipped_start, "clipped_end": window.clipped_end,
        }
        assert passage["start"] <= passage["excerpt"]["start"] <= passage["highlight_start"]
        assert passage["highlight_end"] <= passage["excerpt"]["end"] <= passage["end"]
        PassageOut.model_validate(passage)
