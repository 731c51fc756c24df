"""The adapted model's training questions as the build stores them (``pair_questions.npz``).

An index adapted to its corpus's training pairs keeps each pair's question embedded by the
adapted model, with the span that answers it: the answer ranker's ``pair_sim`` compares a
question asked now with them (``qa/pair_memory.py``). They are corpus-wide (one file at the
build's root, read by whoever answers), and small: one vector per training pair, not per
sentence.

Who computes them: the process that assembles a whole build (:func:`ingest.pipeline.run_ingest`),
or, for a sharded build written by the workers (``verbatim ingest --ray --shards N``), one worker
task (:mod:`ingest.shard_build`), so that the driver of such a build holds no vector at all.
Either way the same function decides: the live build's vectors when they are what this build
would embed (same pairs and spans, same model, same file version), else the model's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.pairs import PairSet
from verbatim import index_format
from verbatim.textutil import key_terms, light_stem

# Bumped when what ``pair_questions.npz`` holds changes (a build without it is rebuilt).
PAIR_QUESTIONS_VERSION = 2  # 2: each question's key words (``words``)


def pair_words(question: str) -> list[str]:
    """A training question's key words as the abstention compares them (light stems, in order,
    without repeats): the words people use for the fact its span holds.

    Args:
        question: A training question.

    Returns:
        The stems.
    """
    return list(dict.fromkeys(light_stem(word) for word in key_terms(question)))


@dataclass(frozen=True)
class PairQuestions:
    """The training questions to embed, without their vectors (what a worker is sent).

    Attributes:
        questions: Each pair's question.
        doc_ids: The document that answers it.
        start: Start offset of the answering span in that document's canonical text.
        end: End offset of that span.
        pairs_hash: :meth:`ingest.pairs.PairSet.content_hash` of the pairs.
    """

    questions: list[str]
    doc_ids: list[str]
    start: list[int]
    end: list[int]
    pairs_hash: str

    @classmethod
    def of(cls, pair_set: PairSet) -> PairQuestions:
        """The questions of a pair set's valid pairs, in order."""
        pairs = pair_set.pairs
        return cls(
            questions=[pair.question for pair in pairs],
            doc_ids=[pair.doc_id for pair in pairs],
            start=[pair.start for pair in pairs],
            end=[pair.end for pair in pairs],
            pairs_hash=pair_set.content_hash(),
        )

    def words(self) -> np.ndarray:
        """Each question's key words (:func:`pair_words`, space-separated): the ``words`` column,
        read from the questions by whoever writes the file (cheap; no model)."""
        return np.array([" ".join(pair_words(question)) for question in self.questions], dtype=str)

    def columns(self, vectors: np.ndarray) -> dict[str, np.ndarray]:
        """The file's columns (:data:`verbatim.index_format.PAIR_QUESTION_COLUMNS` and ``words``)
        with these vectors."""
        return {
            "vectors": vectors,
            "doc_ids": np.array(self.doc_ids, dtype=str),
            "start": np.array(self.start, dtype=np.int32),
            "end": np.array(self.end, dtype=np.int32),
            "words": self.words(),
        }


def live_pair_questions(
    index_dir: Path, wanted: PairQuestions, weights_hash: str, dimensions: int
) -> dict[str, np.ndarray] | None:
    """The live build's embedded training questions, when they are what this build would embed:
    the same pairs (questions and spans), the same model, the same file version.

    Args:
        index_dir: Index folder.
        wanted: This build's training questions.
        weights_hash: Hash of this build's adapted model.
        dimensions: Its vector size.

    Returns:
        Columns of :data:`verbatim.index_format.PAIR_QUESTION_COLUMNS` and ``words`` (read from
        the questions again; only the vectors are re-used), or None when they must be embedded
        (nothing built, another model or other pairs, an older build, a damaged file).
    """
    try:
        manifest = index_format.read_manifest(Path(index_dir)) or {}
        model = manifest.get("model") or {}
        adapted = model.get("adapted") or {}
        if (
            model.get("weights_hash") != weights_hash
            or adapted.get("pairs_hash") != wanted.pairs_hash
            or adapted.get("pair_questions") != PAIR_QUESTIONS_VERSION
        ):
            return None
        stored = index_format.load_pair_questions(Path(index_dir))
    except (index_format.IndexMissingError, index_format.IndexInvalidError, OSError, ValueError):
        return None
    if stored is None or stored["vectors"].shape != (len(wanted.questions), dimensions):
        return None
    spans = (
        wanted.doc_ids == stored["doc_ids"].tolist()
        and wanted.start == stored["start"].tolist()
        and wanted.end == stored["end"].tolist()
    )
    if not spans:
        return None
    return {name: stored[name] for name in index_format.PAIR_QUESTION_COLUMNS} | {"words": wanted.words()}


def pair_question_columns(
    index_dir: Path, wanted: PairQuestions, weights_hash: str, dimensions: int,
    encoder: Callable[[], Callable[[list[str]], np.ndarray]],
) -> tuple[dict[str, np.ndarray], bool]:
    """The build's training questions: the live build's when unchanged, else embedded.

    Args:
        index_dir: Index folder (its live build's questions are re-used).
        wanted: This build's training questions.
        weights_hash: Hash of the adapted model.
        dimensions: Its vector size.
        encoder: Makes the batch encoder of the adapted model (called only when embedding).

    Returns:
        The columns of ``pair_questions.npz``, and whether they were re-used.
    """
    stored = live_pair_questions(index_dir, wanted, weights_hash, dimensions)
    if stored is not None:
        return stored, True
    return wanted.columns(encoder()(wanted.questions)), False
