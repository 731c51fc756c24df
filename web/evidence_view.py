"""How the pages show evidence kinds (issue 26): the chip on each quote, the side-by-side pair,
and the tags of the document view.

The chip texts are data (``web/evidence_chips.toml``); the chat's script receives the same table
through a data attribute, so the server-rendered and the script-rendered pages say the same. The
pair is decided here only (``beside_index``): the API's answer carries it (``AskResponse.beside``),
and both the server's page and the chat's script show the passage it names.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

from verbatim.index_format import EVIDENCE_KINDS

CHIPS_PATH = Path(__file__).with_name("evidence_chips.toml")
# A pair shown side by side: a study result in one source, an opinion or a story in the other.
STRONG_KINDS = frozenset({"study"})
WEAK_KINDS = frozenset({"recommendation", "anecdote"})


# What of the API's passages (web/schemas.py ``PassageOut``, ``EvidenceOut``) is read here; written
# as protocols because web/schemas.py imports this module (the API's answer carries the pair).
class EvidenceLike(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def design(self) -> str | None: ...


class PassageLike(Protocol):
    @property
    def doc_id(self) -> str: ...

    @property
    def evidence(self) -> EvidenceLike: ...


@dataclass(frozen=True)
class EvidenceChip:
    """The label of one quote.

    Attributes:
        kind: The evidence kind (CSS modifier).
        label: What the page calls it ("Study result").
        explanation: One line on what that means (hover, focus, screen readers).
        design: The study design, when the source states it.
    """

    kind: str
    label: str
    explanation: str
    design: str | None = None


@cache
def chip_texts() -> dict[str, dict[str, str]]:
    """``kind -> {"label", "explanation"}`` for every evidence kind.

    Raises:
        ValueError: The file misses a kind or a text.
    """
    raw = tomllib.loads(CHIPS_PATH.read_text(encoding="utf-8"))
    texts = {kind: {"label": str(raw[kind]["label"]), "explanation": str(raw[kind]["explanation"])} for kind in EVIDENCE_KINDS if kind in raw}
    if set(texts) != set(EVIDENCE_KINDS):
        raise ValueError(f"{CHIPS_PATH} must describe every kind {EVIDENCE_KINDS}")
    return texts


def chips_json() -> str:
    """The chip table for the chat's script (a data attribute)."""
    return json.dumps(chip_texts())


def evidence_chip(evidence: EvidenceLike | None) -> EvidenceChip:
    """The chip of a passage (Background when it has no evidence kind)."""
    kind = evidence.kind if evidence is not None else "background"
    texts = chip_texts()[kind]
    return EvidenceChip(kind, texts["label"], texts["explanation"], evidence.design if evidence is not None else None)


def beside_index(passages: Sequence[PassageLike]) -> int | None:
    """The passage shown side by side with the answer's, if any.

    Both sources speak to the question (the answerer only shows another document's passage
    when it does) and one gives a study result while the other gives advice or a story.

    Returns:
        Index into ``passages`` of the first passage of another document that makes such a
        pair with the first passage, or None.
    """
    if not passages:
        return None
    main = passages[0]
    for index, passage in enumerate(passages[1:], start=1):
        if passage.doc_id == main.doc_id:
            continue
        kinds = {main.evidence.kind, passage.evidence.kind}
        if kinds & STRONG_KINDS and kinds & WEAK_KINDS:
            return index
        return None  # only the other document's best passage is compared
    return None


def document_tags(store, doc: int) -> list[tuple[int, int, str]]:
    """``(start, end, kind)`` of every sentence of a document that is not background (the
    document view tags those)."""
    tags = []
    for sentence in range(*_doc_sentences(store, doc)):
        kind, _ = store.sentence_evidence(sentence)
        if kind != "background":
            tags.append((int(store.sentence_start[sentence]), int(store.sentence_end[sentence]), kind))
    return tags


def _doc_sentences(store, doc: int) -> tuple[int, int]:
    sentences = store.sentences_in(doc, 0, len(store.documents[doc].text))
    return sentences.start, sentences.stop
