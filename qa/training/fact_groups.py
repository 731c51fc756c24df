"""Dev questions grouped by the sentences holding their gold facts (groups share no gold
sentence): what ``verbatim eval --fact-held-out`` holds out one group at a time, and what the
pair ranker's fact dropout withholds the training questions of (``qa/training/fact_dropout.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from qa.store import IndexStore
from qa.training.dataset import EvalQuestion, contains_gold, normalise


@dataclass
class FactGroup:
    """Dev questions whose gold facts lie in a set of sentences no other group's do.

    Attributes:
        questions: The group's answerable dev questions.
        sentences: ``(doc_id, start, end)`` of the sentences holding their gold facts.
    """

    questions: list[EvalQuestion] = field(default_factory=list)
    sentences: set[tuple[str, int, int]] = field(default_factory=set)


def gold_sentences(store: IndexStore, question: EvalQuestion) -> set[tuple[str, int, int]]:
    """The sentences holding a question's gold facts (all sentences a fact spans).

    Args:
        store: A loaded index (its sentence spans are the same for any embedder).
        question: An answerable question.

    Returns:
        ``(doc_id, start, end)`` of each sentence.
    """
    found: set[tuple[str, int, int]] = set()
    for number in range(len(store.sentence_doc)):
        if contains_gold(store.sentence_text(number), question.gold):
            found.add(_sentence_key(store, number))
    if found:
        return found
    # A fact across a sentence boundary: find it in the whole text, then the sentences it spans.
    for fact in question.gold:
        words = [re.escape(word) for word in normalise(fact).split()]
        pattern = re.compile(r"\s+".join(words), re.IGNORECASE) if words else None
        for doc, document in enumerate(store.documents):
            for match in pattern.finditer(document.text) if pattern else ():
                for number in range(len(store.sentence_doc)):
                    if (
                        store.sentence_doc[number] == doc
                        and store.sentence_start[number] < match.end()
                        and match.start() < store.sentence_end[number]
                    ):
                        found.add(_sentence_key(store, number))
    return found


def _sentence_key(store: IndexStore, number: int) -> tuple[str, int, int]:
    document = store.documents[store.sentence_doc[number]]
    return document.doc_id, int(store.sentence_start[number]), int(store.sentence_end[number])


def group_by_facts(store: IndexStore, questions: Sequence[EvalQuestion], groups: int) -> list[FactGroup]:
    """Deal the answerable questions into groups that share no gold sentence.

    Questions sharing a gold sentence are joined (transitively); the joined sets are dealt,
    largest first, to the group with the fewest questions so far.

    Args:
        store: A loaded index of the corpus.
        questions: Dev questions (those without gold facts are left out).
        groups: Number of groups.

    Returns:
        The groups, each with its questions and their gold sentences.
    """
    answerable = [question for question in questions if question.gold and not question.abstain]
    sentences = [gold_sentences(store, question) for question in answerable]
    parent = list(range(len(answerable)))

    def root(item: int) -> int:
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    owner: dict[tuple[str, int, int], int] = {}
    for number, held in enumerate(sentences):
        for sentence in sorted(held):
            if sentence in owner:
                parent[root(number)] = root(owner[sentence])
            else:
                owner[sentence] = number
    components: dict[int, list[int]] = {}
    for number in range(len(answerable)):
        components.setdefault(root(number), []).append(number)
    result = [FactGroup() for _ in range(groups)]
    for members in sorted(components.values(), key=lambda members: (-len(members), members[0])):
        target = min(range(groups), key=lambda group: (len(result[group].questions), group))
        for number in members:
            result[target].questions.append(answerable[number])
            result[target].sentences |= sentences[number]
    return result
