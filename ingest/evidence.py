"""Label each sentence with the kind of evidence it is (issue 26).

Kinds: ``caution``, ``study``, ``recommendation``, ``anecdote``, ``background``; studies (and
studies of a risk) also get a design when it is stated. The rules and cue lists are data, in
``ingest/evidence_rules.toml``; what the kinds mean is in ``eval/EVIDENCE.md``. The labeller uses
the structure ingest already found (block kinds, "Label: value" lines, list items, FAQ answers)
and the safety topics it tagged; it makes no model call.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from verbatim.index_format import EVIDENCE_DESIGNS, EVIDENCE_KINDS, BlockKind

RULES_PATH = Path(__file__).with_name("evidence_rules.toml")
# A "Label: value" prefix as structure detection finds it (a capitalised label of a few words).
_LABEL_PREFIX = re.compile(r"^([A-Z][^:.!?]{0,45}):\s+")
_LEADING_PLEASE = re.compile(r"^(please|okay|ok|so|now|and|but),?\s+", re.IGNORECASE)
_IF_CLAUSE = re.compile(r"^if\b[^,.]{1,120},\s+", re.IGNORECASE)


@dataclass(frozen=True)
class EvidenceInput:
    """One sentence of a document, with the structure ingest found around it.

    Attributes:
        text: The sentence.
        block: Number of its block within the document (sentences of one block are adjacent).
        block_kind: Kind of that block.
        has_safety_topic: Whether ingest tagged it with a safety topic.
    """

    text: str
    block: int
    block_kind: BlockKind
    has_safety_topic: bool = False


@dataclass(frozen=True)
class EvidenceLabel:
    """The evidence kind of one sentence and, for studies and cautions, its stated design."""

    kind: str
    design: str | None = None


def _compile(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(pattern, re.IGNORECASE) for pattern in patterns)


@dataclass(frozen=True)
class _KindRules:
    cues: tuple[re.Pattern[str], ...]
    not_cues: tuple[re.Pattern[str], ...]

    def matches(self, text: str) -> bool:
        return any(cue.search(text) for cue in self.cues) and not any(cue.search(text) for cue in self.not_cues)


@dataclass(frozen=True)
class EvidenceRules:
    """The parsed contents of ``evidence_rules.toml`` (see its header for what each part does)."""

    priority: tuple[str, ...]
    background_blocks: frozenset[BlockKind]
    question: re.Pattern[str]
    background_labels: tuple[re.Pattern[str], ...]
    verdict: re.Pattern[str]
    use_safety_topics: bool
    kinds: dict[str, _KindRules]
    study_continuation: re.Pattern[str]
    anecdote_continuation: re.Pattern[str]
    recommendation_labels: tuple[re.Pattern[str], ...]
    imperative: re.Pattern[str]
    not_imperative: tuple[re.Pattern[str], ...]
    weak_recommendation: tuple[re.Pattern[str], ...]
    design_order: tuple[str, ...]
    design_patterns: dict[str, re.Pattern[str]]

    @classmethod
    def load(cls, path: Path | None = None) -> EvidenceRules:
        """Read and check a rules file.

        Args:
            path: The TOML file; defaults to ``ingest/evidence_rules.toml``.

        Returns:
            The compiled rules.

        Raises:
            ValueError: A kind or design the index format does not know, or a missing section.
        """
        raw = tomllib.loads(Path(path or RULES_PATH).read_text(encoding="utf-8"))
        priority = tuple(raw["priority"])
        if sorted(priority) != sorted(EVIDENCE_KINDS):
            raise ValueError(f"priority must list exactly the kinds {EVIDENCE_KINDS}, got {priority}")
        order = tuple(raw["designs"]["order"])
        if sorted(order) != sorted(name for name in EVIDENCE_DESIGNS if name):
            raise ValueError(f"designs.order must list exactly the designs {EVIDENCE_DESIGNS[1:]}, got {order}")
        verbs = sorted(raw["recommendation"]["imperative_verbs"], key=len, reverse=True)
        kinds = {
            name: _KindRules(_compile(raw[name]["cues"]), _compile(raw[name].get("not_cues", [])))
            for name in ("caution", "study", "recommendation", "anecdote")
        }
        return cls(
            priority=priority,
            background_blocks=frozenset(BlockKind[name] for name in raw["background"]["block_kinds"]),
            question=re.compile(raw["background"]["question"]),
            background_labels=_compile(raw["background"]["labels"]),
            verdict=re.compile(raw["verdict"]["pattern"], re.IGNORECASE),
            use_safety_topics=bool(raw["caution"].get("use_safety_topics", True)),
            kinds=kinds,
            study_continuation=re.compile(raw["study"]["continuation"], re.IGNORECASE),
            anecdote_continuation=re.compile(raw["anecdote"]["continuation"], re.IGNORECASE),
            recommendation_labels=_compile(raw["recommendation"]["labels"]),
            imperative=re.compile(
                r"^(?:" + "|".join(re.escape(verb).replace("'", "['’]") for verb in verbs) + r")\b", re.IGNORECASE
            ),
            not_imperative=_compile(raw["recommendation"].get("not_imperative", [])),
            weak_recommendation=_compile(raw["recommendation"]["weak_cues"]),
            design_order=order,
            design_patterns={name: re.compile(raw["designs"]["patterns"][name], re.IGNORECASE) for name in order},
        )


def _split_label(text: str) -> tuple[str | None, str]:
    """``("Typical dose", "5-15 grams daily")`` for a "Label: value" sentence, else ``(None, text)``."""
    match = _LABEL_PREFIX.match(text)
    if not match or len(match.group(1).split()) > 5:
        return None, text
    return match.group(1), text[match.end() :]


class EvidenceLabeller:
    """Labels the sentences of one document at a time (an ingest component).

    Args:
        rules: Compiled rules; loaded from ``ingest/evidence_rules.toml`` by :meth:`warm_up`
            when not given.
    """

    def __init__(self, rules: EvidenceRules | None = None) -> None:
        self._rules = rules

    def warm_up(self) -> None:
        """Read the rules file (once)."""
        if self._rules is None:
            self._rules = EvidenceRules.load()

    @property
    def rules(self) -> EvidenceRules:
        """The rules in use (loaded on first use)."""
        self.warm_up()
        assert self._rules is not None
        return self._rules

    def run(self, sentences: Sequence[EvidenceInput]) -> list[EvidenceLabel]:
        """Label every sentence of one document.

        Args:
            sentences: The document's sentences in order.

        Returns:
            One label per sentence.
        """
        labels: list[EvidenceLabel | None] = [None] * len(sentences)
        pending_verdicts: list[int] = []
        for number, sentence in enumerate(sentences):
            if self._is_verdict(sentence):
                pending_verdicts.append(number)
                continue
            previous = labels[number - 1] if number and sentences[number - 1].block == sentence.block else None
            labels[number] = self.label(sentence, previous)
            # Verdicts just before this sentence in its block answer with it.
            for verdict in pending_verdicts:
                labels[verdict] = labels[number] if sentences[verdict].block == sentence.block else EvidenceLabel("background")
            pending_verdicts = []
        for verdict in pending_verdicts:
            labels[verdict] = EvidenceLabel("background")
        return [label if label is not None else EvidenceLabel("background") for label in labels]

    def _is_verdict(self, sentence: EvidenceInput) -> bool:
        return sentence.block_kind not in self.rules.background_blocks and bool(self.rules.verdict.match(sentence.text.strip()))

    def label(self, sentence: EvidenceInput, previous: EvidenceLabel | None = None) -> EvidenceLabel:
        """Label one sentence.

        Args:
            sentence: The sentence and its structure.
            previous: Label of the sentence just before it in the same block, if any.

        Returns:
            Its kind and design.
        """
        rules = self.rules
        text = sentence.text.strip()
        label, value = _split_label(text)
        if (
            sentence.block_kind in rules.background_blocks
            or rules.question.search(text)
            or (label is not None and any(pattern.search(label) for pattern in rules.background_labels))
        ):
            return EvidenceLabel("background")

        candidates = {kind for kind, kind_rules in rules.kinds.items() if kind_rules.matches(text)}
        if rules.use_safety_topics and sentence.has_safety_topic:
            candidates.add("caution")
        if self._is_instruction(value) or (label is not None and any(p.search(label) for p in rules.recommendation_labels)):
            candidates.add("recommendation")
        carried = None
        if previous is not None and previous.kind in ("study", "caution") and rules.study_continuation.match(text):
            candidates.add("study")
            carried = previous.design
        if previous is not None and previous.kind in ("anecdote", "caution") and rules.anecdote_continuation.match(text):
            candidates.add("anecdote")
        if not candidates and any(cue.search(text) for cue in rules.weak_recommendation):
            candidates.add("recommendation")

        kind = next((kind for kind in rules.priority if kind in candidates), "background")
        design = self._design(text, carried) if kind in ("study", "caution") else None
        return EvidenceLabel(kind, design)

    def _is_instruction(self, text: str) -> bool:
        """Whether a sentence (or a "Label:"'s value) opens with an instruction to the reader."""
        rules = self.rules
        text = _IF_CLAUSE.sub("", _LEADING_PLEASE.sub("", text.strip()), count=1)
        text = _LEADING_PLEASE.sub("", text)
        if not rules.imperative.match(text):
            return False
        return not any(pattern.search(text) for pattern in rules.not_imperative)

    def _design(self, text: str, carried: str | None) -> str | None:
        """The highest design the sentence states, or the one carried from the study it continues."""
        stated = {name for name, pattern in self.rules.design_patterns.items() if pattern.search(text)}
        if carried:
            stated.add(carried)
        return next((name for name in self.rules.design_order if name in stated), None)


def kind_code(label: EvidenceLabel) -> tuple[int, int]:
    """The label as the index stores it: codes into ``EVIDENCE_KINDS`` and ``EVIDENCE_DESIGNS``."""
    return EVIDENCE_KINDS.index(label.kind), EVIDENCE_DESIGNS.index(label.design)
