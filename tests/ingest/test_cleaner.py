"""Cleaning rules on small inputs: what is boilerplate and what is content."""

from __future__ import annotations

from ingest.cleaner import clean, is_navigation, repair_tables, strip_emoji
from verbatim.index_format import BlockKind

NAV = "Nutrition & FoodsWellness & TherapiesHerbs & SupplementsVitamins & MineralsAbout UsContact UsExplore All Topics →"


def test_menu_strip_is_navigation_but_camelcase_names_are_not():
    assert is_navigation(NAV)
    resources = (
        "These resources address the diagnosis or management of X: - Genetic Testing Registry: X - MedlinePlus "
        "Encyclopedia: Y - MedlinePlus Encyclopedia: Z - MedlinePlus Encyclopedia: W - Diagnostic Tests - Drug Therapy"
    )
    assert not is_navigation(resources)
    assert not is_navigation("For value, NOW Foods' L-Glutamine powder tests well with ConsumerLab.")


def test_a_single_line_document_is_never_dropped():
    only = "Home & GardenKitchen & DiningBath & BodyLighting"
    assert clean(only, "record").text == only


def test_navigation_and_comment_prompts_are_removed():
    raw = f"{NAV}\n\nTitle Of The Page\n\nA paragraph of content.\nJoin the Discussion\nHave questions or insights to share?\nShare below!"
    cleaned = clean(raw, "text")
    assert cleaned.text == "Title Of The Page\n\nA paragraph of content."
    assert any("navigation" in note for note in cleaned.removed)
    assert any("comment prompt" in note for note in cleaned.removed)


def test_glued_table_rows_are_repaired_with_separators():
    lines = [
        "Area of ResearchStrength of Current EvidencePrimary Population Studied",
        "Exercise recoveryMixedAthletes, resistance trainers",
        "Metabolic and glycemic rolesEmergingMixed populations",
    ]
    repaired, kinds, tables = repair_tables(lines)
    assert tables == 1
    assert repaired[1] == "Exercise recovery | Mixed | Athletes, resistance trainers"
    assert kinds[0] == BlockKind.TABLE_HEADER and kinds[2] == BlockKind.TABLE_ROW


def test_emoji_decoration_and_invisible_characters_are_removed():
    assert strip_emoji("How Glutamine Works 🔬") == "How Glutamine Works"
    cleaned = clean("Glu\u200btamine is an amino\u00a0acid.\u202e", "text")
    assert cleaned.text == "Glutamine is an amino acid."


def test_html_keeps_text_and_drops_scripts():
    html = "<html><head><title>T</title><script>alert(1)</script></head><body><h2>Dose</h2><p>Take <b>5 g</b>.</p><ul><li>One</li></ul></body></html>"
    cleaned = clean(html, "html")
    assert "alert" not in cleaned.text
    assert cleaned.text.splitlines() == ["Dose", "Take 5 g.", "- One"]
    assert cleaned.title == "T"
