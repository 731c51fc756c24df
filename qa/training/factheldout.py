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
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.loader import is_pairs_file, pairs_files
from ingest.pipeline import run_ingest
from qa.pipeline import Answerer
from qa.training.calibrate import calibrate, corpus_unanswerable
from qa.training.crossval import HeldOutCounts, score_held_out
from qa.training.dataset import EvalQuestion
from qa.training.fact_groups import FactGroup, group_by_facts
from verbatim.embedding import Embedder
from verbatim.settings import Settings


@dataclass
class FactHeldOutResult:
    """Per-group and total held-out counts for one embedder."""

    label: str
    per_group: list[HeldOutCounts] = field(default_factory=list)
    pairs_used: list[int] = field(default_factory=list)

    @property
    def total(self) -> HeldOutCounts:
        """Counts summed over the groups."""
        return HeldOutCounts.summed(self.per_group)


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
