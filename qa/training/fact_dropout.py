"""Fact dropout: the training questions as a fit sees them when some facts have none.

The pair ranker (``qa/pair_ranker.py``) reads the corpus's training questions. Fitted on dev
questions whose gold sentences all have training questions, it would learn that a sentence
without any cannot be the answer, and fail on facts the pairs never covered (what
``verbatim eval --fact-held-out`` measures). So each dev question is seen twice: once with the
build's training questions, and once with those of its **fact group** withheld: the answerable
dev questions are dealt into groups that share no gold sentence (``group_by_facts``, as the
fact-held-out run deals them), and a group's view drops every training question whose answer
span touches one of the group's gold sentences. Out-of-scope questions play no part: only the
answerable ones train a ranker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from qa.pair_memory import PairMemory
from qa.store import IndexStore
from qa.training.dataset import EvalQuestion
from qa.training.fact_groups import group_by_facts
from qa.tunables import TUNABLES


@dataclass(frozen=True)
class DropoutViews:
    """The training questions each fitting question sees in its dropout view.

    Attributes:
        memories: One memory per fact group (that group's gold sentences' questions withheld).
        group_of: Question id -> its group's number.
    """

    memories: tuple[PairMemory, ...]
    group_of: dict[str, int]

    def for_question(self, question_id: str) -> PairMemory | None:
        """The memory of a question's dropout view (None: an out-of-scope question or one
        without gold facts, in no group)."""
        group = self.group_of.get(question_id)
        return None if group is None else self.memories[group]


def dropout_views(
    store: IndexStore, pairs: PairMemory, questions: Sequence[EvalQuestion], groups: int = TUNABLES.training.dropout_groups
) -> DropoutViews:
    """Deal the questions into fact groups and withhold each group's training questions.

    Args:
        store: The loaded index (the sentences gold facts are matched in).
        pairs: The build's training questions.
        questions: The questions a fit is made on.
        groups: Number of fact groups.

    Returns:
        The views.
    """
    dealt = group_by_facts(store, questions, groups)
    return DropoutViews(
        memories=tuple(pairs.without(group.sentences) for group in dealt),
        group_of={question.id: number for number, group in enumerate(dealt) for question in group.questions},
    )
