"""Hostile documents are ingested (or skipped with a reason), never crash or stall ingest, and
leave exact offsets and inert text behind.

Each document is generated in a temp folder and put through the real pipeline (real model,
real FAISS). Rendering inert in the chat page is covered by the web XSS test in Chromium.
"""

from __future__ import annotations

import codecs
import dataclasses
import random
import re
from pathlib import Path

import pytest

from ingest.cleaner import clean
from ingest.pipeline import run_ingest
from ingest.sentences import split_sentences
from verbatim import index_format
from verbatim.safety_policy import SafetyPolicy
from verbatim.settings import Settings

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
XSS_HTML = """<!doctype html><html><head><title>Glutamine &amp; you</title>
<script>alert('head-script')</script><style>body { background: url(javascript:alert('css')) }</style></head>
<body onload="alert('onload')">
<h1>Glutamine <img src="x" onerror="alert('onerror')"></h1>
<p>Glutamine is an amino acid. <script>document.write('<b>injected</b>')</script>It supports the gut lining.</p>
<p onclick="alert('onclick')">Adults often take 5 grams daily.</p>
<p>Written as text: &lt;script&gt;alert('shown-as-text')&lt;/script&gt;</p>
<a href="javascript:alert('href')">Read more</a>
<iframe src="javascript:alert('iframe')"></iframe>
<svg><script>alert('svg-script')</script></svg>
<noscript><img src=x onerror="alert('noscript')"></noscript>
<template><script>alert('template')</script></template>
</body></html>"""
PERIODIC_LINE = ("glutamine supports gut health and recovery ") * 120_000  # ~5 MB, no full stop


def _hostile_corpus(folder: Path) -> dict[str, str]:
    """Write the hostile documents; returns name -> what is expected of it."""
    folder.mkdir()
    (folder / "xss.html").write_text(XSS_HTML, encoding="utf-8")
    (folder / "huge-line.txt").write_text(PERIODIC_LINE, encoding="utf-8")
    (folder / "three-million-a.txt").write_text("a" * 3_000_000, encoding="utf-8")
    (folder / "three-million-dots.txt").write_text("Glutamine" + "." * 3_000_000 + " Done.", encoding="utf-8")
    (folder / "brackets.md").write_text("# Title\n" + "[" * 1_000_000 + "\n# " + "#" * 1_000_000 + "x\n" + "[a](" * 250_000, encoding="utf-8")
    sentence = "Glutamine is an amino acid. It helps the gut lining heal after illness."
    (folder / "zero-width.txt").write_text("".join(char + ZERO_WIDTH[i % len(ZERO_WIDTH)] for i, char in enumerate(sentence)), encoding="utf-8")
    (folder / "mixed-encoding.txt").write_bytes("Café glutamine guide.\n".encode() + "Dosage is 5–7 g “daily”.\n".encode("cp1252"))
    (folder / "utf16.txt").write_bytes(codecs.BOM_UTF16_LE + "Glutamine in UTF-16.\nIt is an amino acid.".encode("utf-16-le"))
    (folder / "nul.txt").write_bytes(b"\x00" * 65536)
    rnd = random.Random(7)
    (folder / "control-soup.txt").write_bytes(bytes(rnd.choice(range(1, 32)) for _ in range(4096)))
    (folder / "rtl-and-emoji.txt").write_text("الجلوتامين حمض أميني. 💊 Glutamine is popular. 🤔\n", encoding="utf-8")
    return {
        "nul.txt": "binary file, not text",
        "control-soup.txt": "binary file, not text",
    }


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory, embedder):
    """One real ingest of every hostile document."""
    root = tmp_path_factory.mktemp("hostile")
    expected_skips = _hostile_corpus(root / "docs")
    settings = Settings.from_env(index_dir=root / "index")
    report = run_ingest([root / "docs"], settings=settings, embedder=embedder, show_progress=False)
    contents = index_format.load_build(settings.index_dir, embedder.name, embedder.weights_hash)
    return report, contents, expected_skips


def _document(contents, doc_id: str):
    matches = [document for document in contents.documents if document.doc_id == doc_id]
    assert matches, f"{doc_id} was not ingested: {[d.doc_id for d in contents.documents]}"
    return matches[0]


def test_ingest_finishes_and_gives_reasons_for_skips(hostile_build):
    report, contents, expected_skips = hostile_build
    assert report.status == "built", report.summary()
    skipped = {Path(item.source).name: item.reason for item in report.skipped}
    assert skipped == expected_skips
    assert {document.doc_id for document in contents.documents} == {
        "xss", "huge-line", "three-million-a", "three-million-dots", "brackets", "zero-width",
        "mixed-encoding", "utf16", "rtl-and-emoji",
    }


def test_offsets_stay_exact(hostile_build):
    _, contents, _ = hostile_build
    texts = [document.text for document in contents.documents]
    for table in (contents.sentences, contents.chunks):
        for doc, start, end in zip(table["doc"], table["start"], table["end"], strict=True):
            piece = texts[doc][start:end]
            assert 0 <= start < end <= len(texts[doc])
            assert piece == piece.strip(), "spans never start or end with whitespace"
    max_chars = Settings().chunking.max_sentence_chars
    lengths = contents.sentences["end"] - contents.sentences["start"]
    assert int(lengths.max()) <= max_chars, "huge lines are cut into bounded sentences"


def test_html_scripts_and_handlers_are_dropped(hostile_build):
    _, contents, _ = hostile_build
    text = _document(contents, "xss").text
    for executable in ("head-script", "onerror", "onload", "onclick", "injected", "document.write", "href",
                       "iframe", "svg-script", "noscript", "template", "javascript:", "background"):
        assert executable not in text, f"{executable!r} survived into the canonical text"
    assert "Glutamine is an amino acid." in text and "Adults often take 5 grams daily." in text
    # Text the page itself shows stays, as plain characters for the page to escape.
    assert "<script>alert('shown-as-text')</script>" in text


def test_zero_width_characters_are_removed(hostile_build):
    _, contents, _ = hostile_build
    text = _document(contents, "zero-width").text
    assert text == "Glutamine is an amino acid. It helps the gut lining heal after illness."
    for document in contents.documents:
        assert not re.search(f"[{ZERO_WIDTH}]", document.text), document.doc_id


def test_mixed_and_utf16_encodings_are_decoded(hostile_build):
    _, contents, _ = hostile_build
    mixed = _document(contents, "mixed-encoding")
    assert mixed.text == "Café glutamine guide.\nDosage is 5–7 g “daily”."
    assert mixed.encoding == "utf-8+cp1252"
    utf16 = _document(contents, "utf16")
    assert utf16.encoding == "utf-16" and "Glutamine in UTF-16." in utf16.text


def test_huge_and_repeated_documents_keep_their_text(hostile_build):
    _, contents, _ = hostile_build
    assert _document(contents, "huge-line").text == PERIODIC_LINE.strip()
    assert _document(contents, "three-million-a").text == "a" * 3_000_000
    dots = _document(contents, "three-million-dots").text
    assert dots.startswith("Glutamine....") and dots.endswith(" Done.") and len(dots) == 3_000_015


def test_right_to_left_and_emoji_text_is_kept_without_emoji(hostile_build):
    _, contents, _ = hostile_build
    text = _document(contents, "rtl-and-emoji").text
    assert "الجلوتامين حمض أميني." in text and "Glutamine is popular." in text
    assert "💊" not in text and "🤔" not in text


# -- linear-time guards (operation counts, not timings) ----------------------------------------


def test_sentence_splitter_does_not_backtrack_through_punctuation_runs():
    text = "." * 200_000 + " Next sentence."
    spans = split_sentences(text, 0, len(text), max_chars=1500)
    assert spans[-1] == (200_001, len(text))
    assert all(end - start <= 1500 for start, end in spans)


def test_markdown_cleaning_of_hostile_lines_is_exact():
    cleaned = clean("# Heading ##\n[see](https://x.org/Foo_(bar)) and [[x]\n# " + "#" * 50_000 + "x", "markdown")
    lines = cleaned.text.split("\n")
    assert lines[0] == "Heading"
    assert lines[1] == "see and [[x]"
    assert lines[2] == "#" * 50_000 + "x"


class _CountingPolicy(SafetyPolicy):
    """The real policy, counting the characters of block context it is given."""

    context_chars = 0

    def evidence_topics(self, sentence, block_text, *args, **kwargs):
        type(self).context_chars += len(block_text)
        return super().evidence_topics(sentence, block_text, *args, **kwargs)


def test_safety_tagging_of_one_huge_list_item_is_linear(tmp_path, embedder):
    # A 600 KB list item of contraindication text: every sentence is "in region", so tagging
    # once looked at the whole block per sentence (quadratic; minutes for 1 MB).
    path = tmp_path / "list.txt"
    path.write_text("Who should avoid it:\n- " + "do not take glutamine if you have liver disease " * 12_500, encoding="utf-8")
    loaded = SafetyPolicy.load()
    policy = _CountingPolicy(**{field.name: getattr(loaded, field.name) for field in dataclasses.fields(loaded)})
    report = run_ingest([path], settings=Settings.from_env(index_dir=tmp_path / "index"), embedder=embedder,
                        policy=policy, show_progress=False)
    assert report.status == "built", report.summary()
    document_chars = path.stat().st_size
    assert report.sentences > 300
    assert _CountingPolicy.context_chars < 10 * document_chars
