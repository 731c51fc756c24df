"""Conversations (``eval/dialogs.jsonl``): follow-up turns scored as a real client asks them,
and the fit of the carried-over decision (``qa/followup_calibration.toml``).

Each conversation is asked turn by turn; each turn's ``history`` is built from the system's own
earlier answers (the question and ``passages[0]``'s document and highlight, or nulls for an
abstention), exactly as the chat page sends them. The first turn of a conversation is an
ordinary question; the follow-up turns (the second and later) are what this module scores.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eval.metrics import PassageView, check_invariants
from qa.calibration import MODEL_HASH_KEY
from qa.followup import CARRIED, FollowupModel, Turn, fit_margin
from qa.pipeline import Answerer
from qa.training.dataset import contains_gold, jsonl_rows
from qa.types import Answer

DEFAULT_DIALOGS = Path(__file__).with_name("dialogs.jsonl")
# Conversations written to study and fit on (split "train"), apart from the dev/test set.
DEFAULT_TRAIN_DIALOGS = Path(__file__).with_name("dialogs_train.jsonl")


@dataclass(frozen=True)
class DialogTurn:
    """One turn of a conversation.

    Attributes:
        question: As asked.
        gold: Fact substrings; the answer is right when it contains one.
        disclaimer: Whether the safety disclaimer is expected.
        abstain: Whether an abstention is expected.
        followup: The kind of follow-up the writer meant (informational, for the breakdown).
    """

    question: str
    gold: tuple[str, ...]
    disclaimer: bool
    abstain: bool
    followup: str | None = None


@dataclass(frozen=True)
class Dialog:
    """One conversation of two or three turns."""

    id: str
    split: str
    turns: tuple[DialogTurn, ...]


def load_dialogs(path: Path | None = None, split: str = "all") -> list[Dialog]:
    """Read conversations.

    Args:
        path: JSONL file; defaults to ``eval/dialogs.jsonl``.
        split: ``dev``, ``test``, ``train`` (the conversations of ``eval/dialogs_train.jsonl``) or ``all``.

    Returns:
        The conversations of that split, in file order.

    Raises:
        ValueError: On a malformed line (the message names it).
    """
    path = Path(path or DEFAULT_DIALOGS)
    dialogs = []
    for number, dialog in jsonl_rows(path, _dialog, "conversation"):
        if len(dialog.turns) < 2:
            raise ValueError(f"{path}:{number}: a conversation has at least two turns")
        if split == "all" or dialog.split == split:
            dialogs.append(dialog)
    return dialogs


def _dialog(raw: dict[str, Any]) -> Dialog:
    turns = tuple(
        DialogTurn(
            question=str(turn["question"]),
            gold=tuple(turn.get("gold", [])),
            disclaimer=bool(turn.get("disclaimer", False)),
            abstain=bool(turn.get("abstain", False)),
            followup=turn.get("followup"),
        )
        for turn in raw["turns"]
    )
    return Dialog(id=str(raw["id"]), split=str(raw["split"]), turns=turns)


def turn_of(question: str, answer: Answer) -> Turn:
    """The history entry a client keeps for an answered (or abstained) turn."""
    if answer.abstained or not answer.passages:
        return Turn(question)
    first = answer.passages[0]
    return Turn(question, first.doc_id, first.highlight_start, first.highlight_end)


def right(turn: DialogTurn, answer: Answer) -> bool:
    """Whether an answer does what the turn expects (abstains, or quotes a gold fact)."""
    if turn.abstain:
        return answer.abstained
    return not answer.abstained and contains_gold(answer.answer, turn.gold)


@dataclass
class DialogScores:
    """Figures of the follow-up turns.

    Attributes:
        turns: Follow-up turns scored.
        answerable / hits: Turns expecting an answer, and those whose answer holds a gold fact.
        false_abstentions: Answerable turns abstained.
        unanswerable / abstained: Turns expecting an abstention, and those abstained.
        disclaimer_expected / disclaimer_given / disclaimer_right: For recall and precision.
        repeats: Follow-ups that quote exactly the span the turn before quoted, unless they asked
            for it again ("say that again").
        violations: Broken verbatim invariants.
        by_kind: Per written kind: [turns, right].
        misses: One line per wrong follow-up turn (for the report).
    """

    turns: int = 0
    answerable: int = 0
    hits: int = 0
    false_abstentions: int = 0
    unanswerable: int = 0
    abstained: int = 0
    disclaimer_expected: int = 0
    disclaimer_given: int = 0
    disclaimer_right: int = 0
    repeats: int = 0
    violations: int = 0
    by_kind: dict[str, list[int]] = field(default_factory=dict)
    read_as: Counter = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)

    def rate(self, part: int, whole: int) -> str:
        """``part/whole`` as a percentage with counts."""
        return f"{part / whole:.1%} ({part}/{whole})" if whole else "—"

    def lines(self) -> list[str]:
        """The summary, one figure a line."""
        lines = [
            f"follow-up turns: {self.turns}",
            f"answer hit: {self.rate(self.hits, self.answerable)}",
            f"false abstention: {self.rate(self.false_abstentions, self.answerable)}",
            f"abstention recall: {self.rate(self.abstained, self.unanswerable)}",
            f"disclaimer recall: {self.rate(self.disclaimer_right, self.disclaimer_expected)}",
            f"disclaimer precision: {self.rate(self.disclaimer_right, self.disclaimer_given)}",
            f"repeats of the turn before: {self.repeats}",
            f"invariant violations: {self.violations}",
            "read as: " + ", ".join(f"{kind} {count}" for kind, count in sorted(self.read_as.items())),
        ]
        for kind, (count, good) in sorted(self.by_kind.items()):
            lines.append(f"  written as {kind}: {self.rate(good, count)} right")
        return lines


def score_dialogs(answerer: Answerer, dialogs: list[Dialog], top_k: int = 3) -> DialogScores:
    """Ask every conversation turn by turn and score the follow-up turns.

    Args:
        answerer: A warm answerer.
        dialogs: Conversations.
        top_k: Passages per answer.

    Returns:
        The figures.
    """
    store = answerer.store

    def document_text(doc_id: str) -> str | None:
        number = store.doc_index.get(doc_id)
        return None if number is None else store.documents[number].text

    scores = DialogScores()
    for dialog in dialogs:
        history: list[Turn] = []
        for position, turn in enumerate(dialog.turns):
            answer = answerer.run(turn.question, top_k=top_k, history=history)
            entry = turn_of(turn.question, answer)
            if position > 0:
                asked_again = answerer.followup.is_repeat(turn.question)
                _score_turn(scores, dialog, turn, answer, entry, history[-1], document_text, asked_again)
            history.append(entry)
    return scores


def _score_turn(
    scores: DialogScores, dialog: Dialog, turn: DialogTurn, answer: Answer, entry: Turn, before: Turn, document_text,
    asked_again: bool,
) -> None:
    scores.turns += 1
    scores.read_as[answer.followup or "as asked"] += 1
    good = right(turn, answer)
    kind = turn.followup or "new topic"
    counts = scores.by_kind.setdefault(kind, [0, 0])
    counts[0] += 1
    counts[1] += int(good)
    if turn.abstain:
        scores.unanswerable += 1
        scores.abstained += int(answer.abstained)
    else:
        scores.answerable += 1
        scores.hits += int(good)
        scores.false_abstentions += int(answer.abstained)
    given = answer.disclaimer is not None
    scores.disclaimer_expected += int(turn.disclaimer)
    scores.disclaimer_given += int(given)
    scores.disclaimer_right += int(given and turn.disclaimer)
    if (
        entry.answered and (entry.doc_id, entry.start, entry.end) == (before.doc_id, before.start, before.end)
        and not asked_again
    ):
        scores.repeats += 1
    passages = [PassageView(p.doc_id, p.quote, p.start, p.end, p.highlight_start, p.highlight_end) for p in answer.passages]
    scores.violations += len(check_invariants(answer.answer, answer.abstained, passages, document_text))
    if not good or given != turn.disclaimer:
        shown = "abstained" if answer.abstained else repr(answer.answer[:90])
        scores.misses.append(
            f"{dialog.id} {turn.question!r} [{kind}; read {answer.followup or 'as asked'}: {answer.read_as!r}] -> {shown}"
            f"{'' if given == turn.disclaimer else f' (disclaimer {given}, expected {turn.disclaimer})'}"
        )


def fit_followup_model(
    answerer: Answerer, dialogs: list[Dialog], data: str = "dev split of eval/dialogs.jsonl"
) -> tuple[FollowupModel, int, int]:
    """Fit the margin of the carried-over decision on dev (and training) conversations.

    Every follow-up turn that could be a carried follow-up is answered both ways, with the
    history the system's own answers give; a turn where one reading does better (right answer or
    abstention, plus right disclaimer) than the other is an example. The margin is the lead in
    calibrated chance of being right that gets most examples right (see
    :func:`qa.followup.fit_margin`).

    Args:
        answerer: A warm answerer.
        dialogs: Dev conversations (and the training ones, ``eval/dialogs_train.jsonl``).
        data: What they are, for the provenance.

    Returns:
        The model, the number of examples and how many favoured the carried reading.
    """
    examples: list[tuple[float, int, int]] = []
    probe = FollowupModel()
    for dialog in dialogs:
        history: list[Turn] = []
        for position, turn in enumerate(dialog.turns):
            answer = answerer.run(turn.question, history=history)
            if position > 0:
                plan = answerer.plan(turn.question, history)
                if plan.kind == CARRIED:
                    fresh, carried = answerer.readings(plan)
                    if carried is not None:
                        fresh_value = int(right(turn, fresh)) + int((fresh.disclaimer is not None) == turn.disclaimer)
                        carried_value = int(right(turn, carried)) + int((carried.disclaimer is not None) == turn.disclaimer)
                        decided = FollowupModel.decided(
                            (fresh.abstained, fresh.confidence), (carried.abstained, carried.confidence)
                        )
                        if fresh_value != carried_value and decided is None:
                            lead = probe.lead((fresh.abstained, fresh.confidence), (carried.abstained, carried.confidence))
                            examples.append((lead, fresh_value, carried_value))
            history.append(turn_of(turn.question, answer))
    if not examples:
        raise ValueError("the conversations give no follow-up where the readings differ; nothing to fit")
    model = FollowupModel(
        margin=fit_margin(examples),
        provenance={
            "command": "verbatim eval --dialogs eval/dialogs.jsonl --calibrate-followup",
            "data": data,
            "examples": str(len(examples)),
            MODEL_HASH_KEY: str(answerer.embedder.weights_hash),
            "fitted_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    return model, len(examples), sum(carried > fresh for _, fresh, carried in examples)
