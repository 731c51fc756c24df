"""The corpus's training questions as evidence for the answer ranker (``pair_sim``).

A corpus that ships training pairs (``*.pairs.jsonl``: a question and the span of a document
that answers it) has its embedder adapted on them, and ingest stores their questions, embedded
by that model, in the build (``pair_questions.npz``). A question asked now that lies close to a
training question is likely asking for the span that training question is answered by, however
differently both are worded from the sentence itself. ``pair_sim`` gives each candidate sentence
the highest cosine between the question and a training question whose answer span touches that
sentence (0 when none does). A build without training questions (the base model) lets each
sentence stand in for the questions it answers: its ``pair_sim`` is its own cosine with the
question, so a model fitted with pairs still ranks sensibly there (an index is meant to be
refitted for, but a corpus without pairs must not collapse before it is). The question vector is
the one the answer path already has: no extra embedding. Spans are kept by document id and
character offsets, so any store of the documents (a whole build, a shard, a view) can look
its sentences up. The abstention model reads the closest training question of all
(``pair_top``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.store import IndexStore
from verbatim import index_format


@dataclass(frozen=True)
class PairMemory:
    """Embedded training questions and the spans that answer them.

    Attributes:
        vectors: One L2-normalised row per training question (float32).
        doc_ids: Document id of each question's answer span.
        starts: Its first character in that document's canonical text.
        ends: One past its last character.
    """

    vectors: np.ndarray
    doc_ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    _by_doc: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for doc_id in set(self.doc_ids.tolist()):
            self._by_doc[str(doc_id)] = np.flatnonzero(self.doc_ids == doc_id)

    @classmethod
    def empty(cls, dimensions: int = 0) -> PairMemory:
        """No training questions: ``pair_sim`` is 0 everywhere."""
        return cls(np.zeros((0, dimensions), np.float32), np.zeros(0, str), np.zeros(0, np.int32), np.zeros(0, np.int32))

    @classmethod
    def from_columns(cls, columns: dict[str, np.ndarray] | None) -> PairMemory:
        """From the columns of ``pair_questions.npz`` (None: empty).

        Args:
            columns: :data:`verbatim.index_format.PAIR_QUESTION_COLUMNS`.

        Returns:
            The memory.
        """
        if columns is None:
            return cls.empty()
        return cls(
            np.asarray(columns["vectors"], np.float32),
            np.asarray(columns["doc_ids"]).astype(str),
            np.asarray(columns["start"], np.int64),
            np.asarray(columns["end"], np.int64),
        )

    @classmethod
    def load(cls, index_dir: Path) -> PairMemory:
        """The live build's training questions (empty for a build without pairs).

        Args:
            index_dir: Index folder.

        Returns:
            The memory.

        Raises:
            verbatim.index_format.IndexInvalidError: The file is listed but damaged.
        """
        return cls.from_columns(index_format.load_pair_questions(index_dir))

    def __len__(self) -> int:
        return len(self.doc_ids)

    def top(self, question: np.ndarray, fallback: float = 0.0) -> float:
        """The highest cosine between the question and any training question (clipped at 0), the
        abstention model's ``pair_top``.

        Args:
            question: The question's unit vector.
            fallback: The value without training questions (the abstention model gives the
                winning sentence's own cosine: it stands in for the questions it answers).

        Returns:
            The cosine.
        """
        if len(self) == 0:
            return max(0.0, fallback)
        return max(0.0, float((self.vectors @ question).max()))

    def similarity(self, store: IndexStore, sentences: np.ndarray, question: np.ndarray) -> np.ndarray:
        """Each sentence's highest cosine between the question and a training question whose
        answer span overlaps it (0 when none does).

        Args:
            store: The store the sentence numbers belong to.
            sentences: Candidate sentence numbers.
            question: The question's unit vector.

        Returns:
            Float64 array, one value per sentence, clipped at 0 (without training questions,
            each sentence's own cosine with the question).
        """
        result = np.zeros(len(sentences), dtype=np.float64)
        if len(sentences) == 0:
            return result
        if len(self) == 0:
            return np.maximum(0.0, (store.sentence_vectors[sentences] @ question).astype(np.float64))
        cosines = self.vectors @ question
        for row, sentence in enumerate(map(int, sentences)):
            doc_id = store.documents[int(store.sentence_doc[sentence])].doc_id
            rows = self._by_doc.get(doc_id)
            if rows is None:
                continue
            start, end = int(store.sentence_start[sentence]), int(store.sentence_end[sentence])
            touching = rows[(self.starts[rows] < end) & (self.ends[rows] > start)]
            if len(touching):
                result[row] = max(0.0, float(cosines[touching].max()))
        return result
