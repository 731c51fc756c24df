"""Fact-held-out evaluation of the adapted embedder (``verbatim eval --fact-held-out``).

A model fine-tuned on (question, answer sentence) pairs can memorise facts: the test and
reworded questions ask about the same sentences as its pairs. This run measures what the
adaptation gives on facts it never saw. The dev questions are grouped by the sentences holding
their gold facts (questions sharing a sentence stay together) into a few groups; for each group
the embedder is trained on the pairs whose spans avoid all of that group's gold sentences, the
index is rebuilt with it, the ranker, abstention and confidence models are refitted on the other
dev questions, and the group's questions are answered. The base model goes through the same
folds (same refits, index without adaptation), so the two figures differ only by the embedder.

Not part of CI: it trains one model per group (about a minute and a half each on 2 cores).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.loader import is_pairs_file, pairs_files
from ingest.pipeline import run_ingest
from qa.pipeline import Answerer
from qa.store import IndexStore
from qa.training.calibrate import calibrate, corpus_unanswerable
from qa.training.crossval import HeldOutCounts, score_held_out
from qa.training.dataset import EvalQuestion, contains_gold, normalise
from verbatim.embedding import Embedder
from verbatim.settings import Settings


@dataclass
class FactGroup:
    """Dev questions whose gold facts lie in a set of sentences no other group's do.

    Attributes:
        questions: The group's answerable dev questions.
        sentences: ``(doc_id, start, end)`` of the sentences holding their gold facts.
    """

    questions: list[EvalQuestion] = field(default_factory=list)
    sentences: set[tuple[str, int, int]] = field(default_factory=set)


@dataclass
class FactHeldOutResult:
    """Per-group and total held-out counts for one embedder."""

    label: str
    per_group: list[HeldOutCounts] = field(default_factory=list)
    pairs_used: list[int] = field(default_factory=list)

    @property
    def total(self) -> HeldOutCounts:
        """Counts summed over the groups."""
        total = HeldOutCounts()
        for counts in self.per_group:
            total = total.add(counts)
        return total


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


def _overlaps(pair: dict, sentences: set[tuple[str, int, int]]) -> bool:
    if pair.get("out_of_scope") is True:
        return False  # an out-of-scope question holds no fact: it is kept in every group
    return any(doc == pair["doc_id"] and start < pair["end"] and pair["start"] < end for doc, start, end in sentences)


def _corpus_without(corpus: Path, target: Path, held: set[tuple[str, int, int]]) -> int:
    """Copy a corpus folder's documents into ``target`` with only the pairs that avoid ``held``
    (out-of-scope questions are all kept; the shipped model is not copied, so the group trains).

    Returns:
        The number of answer pairs kept (out-of-scope questions not counted).
    """
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(corpus.iterdir()):
        if path.is_file() and not is_pairs_file(path) and path.stem.upper() != "README":
            shutil.copy2(path, target / path.name)
    lines = []
    kept = 0
    for path in pairs_files([corpus]):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and not _overlaps(row := json.loads(line), held):
                lines.append(line)
                kept += row.get("out_of_scope") is not True
    (target / "held-out.pairs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return kept


def fact_held_out(
    settings: Settings,
    corpus: Path,
    questions: Sequence[EvalQuestion],
    groups: int = 5,
    embedder: Embedder | None = None,
    workdir: Path | None = None,
    progress=print,
) -> tuple[FactHeldOutResult, FactHeldOutResult, list[FactGroup]]:
    """Answer each fact group's dev questions with the base and with an embedder adapted without them.

    Args:
        settings: Settings (model cache, adaptation settings); index folders are temporary.
        corpus: The corpus folder (documents and ``*.pairs.jsonl``).
        questions: The dev questions (all of them: the refits use the other groups' and the
            out-of-scope questions).
        groups: Number of fact groups.
        embedder: A shared base embedder.
        workdir: Where the temporary indexes go (a new temporary folder by default).
        progress: Called with a line per step.

    Returns:
        The base model's result, the adapted model's result, and the groups.
    """
    embedder = embedder or Embedder()
    scratch = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="verbatim-fact-held-out-"))
    empty_data = scratch / "no-feedback"
    empty_data.mkdir(parents=True, exist_ok=True)
    base_settings = settings.replace(index_dir=scratch / "base-index", data_dir=empty_data, adapt=False)
    report = run_ingest([corpus], settings=base_settings, embedder=embedder, show_progress=False)
    if not report.ok:
        raise RuntimeError(report.summary())
    base_answerer = Answerer(base_settings, embedder=embedder)
    base_answerer.warm_up()
    dealt = group_by_facts(base_answerer.store, questions, groups)
    unanswerable = corpus_unanswerable([corpus])
    base = FactHeldOutResult("base")
    adapted = FactHeldOutResult("adapted")
    for number, group in enumerate(dealt):
        ids = {question.id for question in group.questions}
        fitted_on = [question for question in questions if question.id not in ids]
        calibrate(base_answerer, fitted_on, unanswerable=unanswerable)
        base.per_group.append(score_held_out(base_answerer, group.questions))
        base.pairs_used.append(0)

        folder = scratch / f"group-{number}"
        kept = _corpus_without(corpus, folder / "corpus", group.sentences)
        group_settings = settings.replace(index_dir=folder / "index", data_dir=empty_data)
        report = run_ingest([folder / "corpus"], settings=group_settings, embedder=embedder, show_progress=False)
        if not report.ok:
            raise RuntimeError(report.summary())
        answerer = Answerer(group_settings, embedder=embedder)
        answerer.warm_up()
        calibrate(answerer, fitted_on, unanswerable=unanswerable)
        adapted.per_group.append(score_held_out(answerer, group.questions))
        adapted.pairs_used.append(kept)
        progress(
            f"  group {number}: {len(group.questions)} questions, {len(group.sentences)} gold sentences, "
            f"{kept} pairs kept ({report.adaptation or 'base model'}); "
            f"base {base.per_group[-1].summary()}; adapted {adapted.per_group[-1].summary()}"
        )
    if workdir is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return base, adapted, dealt
