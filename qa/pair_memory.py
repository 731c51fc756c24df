"""The corpus's training questions as evidence for choosing the sentence to quote.

A corpus that ships training pairs (``*.pairs.jsonl``: a question and the span of a document
that answers it) has its embedder adapted on them, and ingest stores their questions, embedded
by that model, in the build (``pair_questions.npz``). A question asked now that lies close to a
training question is likely asking for the span that training question is answered by, however
differently both are worded from the sentence itself.

For each candidate sentence :meth:`PairMemory.evidence` gives two columns of the pair ranker
(``qa/pair_ranker.py``):

* ``pair_sim``: the highest cosine between the question and a training question whose answer
  span touches the sentence; when none does, the sentence's own cosine with the question stands
  in for it (a fact the pairs never covered must not score 0 and lose to every fact they did:
  that memorised which sentences the pairs answer, ``docs/quality-history.md``, 2026-12-07);
* ``pair_missing``: 1 for such a stand-in, so the ranker learns how far to trust one.

The question vector is the one the answer path already has: no extra embedding. Spans are kept
by document id and character offsets, so any store of the documents (a whole build, a shard, a
view) can look its sentences up, and :meth:`PairMemory.without` can withhold the questions of
some sentences (the fact dropout the pair ranker is fitted under, ``qa/training/fact_dropout.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.store import IndexStore
from verbatim import index_format

# A sentence span: (document id, start, end) in that document's canonical text.
Span = tuple[str, int, int]


@dataclass(frozen=True)
class PairEvidence:
    """The pair ranker's two columns for a list of candidate sentences.

    Attributes:
        similarity: ``pair_sim`` of each sentence (float64, clipped at 0).
        missing: ``pair_missing`` of each sentence (1.0 where no training question covers it
            and its own cosine stands in).
    """

    similarity: np.ndarray
    missing: np.ndarray


@dataclass(frozen=True)
class PairMemory:
    """Embedded training questions and the spans that answer them.

    Attributes:
        vectors: One L2-normalised row per training question (float32).
        doc_ids: Document id of each question's answer span.
        starts: Its first character in that document's canonical text.
        ends: One past its last character.
        words: Each question's key words (light stems), or None (a build written before they
            were stored).
    """

    vectors: np.ndarray
    doc_ids: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    words: tuple[frozenset[str], ...] | None = None
    _codes: dict[str, int] = field(default_factory=dict, compare=False, repr=False)  # doc id -> code
    _doc_codes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), compare=False, repr=False)

    def __post_init__(self) -> None:
        for doc_id in self.doc_ids.tolist():
            self._codes.setdefault(str(doc_id), len(self._codes))
        codes = np.array([self._codes[str(doc_id)] for doc_id in self.doc_ids.tolist()], dtype=np.int64)
        object.__setattr__(self, "_doc_codes", codes)  # frozen: set once, here

    @classmethod
    def empty(cls, dimensions: int = 0) -> PairMemory:
        """No training questions (every sentence then stands in for them, :meth:`evidence`)."""
        return cls(np.zeros((0, dimensions), np.float32), np.zeros(0, str), np.zeros(0, np.int64), np.zeros(0, np.int64))

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
        words = columns.get("words")
        return cls(
            np.asarray(columns["vectors"], np.float32),
            np.asarray(columns["doc_ids"]).astype(str),
            np.asarray(columns["start"], np.int64),
            np.asarray(columns["end"], np.int64),
            None if words is None else tuple(frozenset(str(row).split()) for row in words.tolist()),
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

    def without(self, spans: Iterable[Span]) -> PairMemory:
        """The memory with every training question whose answer span touches one of ``spans``
        withheld (as ``verbatim eval --fact-held-out`` drops a fact group's pairs).

        Args:
            spans: Sentence spans ``(doc_id, start, end)``.

        Returns:
            A new memory (this one when nothing is withheld).
        """
        keep = np.ones(len(self), dtype=bool)
        for doc_id, start, end in spans:
            code = self._codes.get(doc_id)
            if code is not None:
                keep &= ~((self._doc_codes == code) & (self.starts < end) & (self.ends > start))
        if keep.all():
            return self
        words = None if self.words is None else tuple(w for w, kept in zip(self.words, keep.tolist(), strict=True) if kept)
        return PairMemory(self.vectors[keep], self.doc_ids[keep], self.starts[keep], self.ends[keep], words)

    def touching(self, store: IndexStore, sentences: np.ndarray) -> np.ndarray:
        """Which training questions' answer spans touch each sentence.

        Args:
            store: The store the sentence numbers belong to.
            sentences: Sentence numbers.

        Returns:
            A boolean ``(questions, sentences)`` matrix: same document, overlapping offsets.
        """
        sentences = np.asarray(sentences, dtype=np.int64)
        codes = np.array(
            [self._codes.get(store.documents[int(doc)].doc_id, -1) for doc in store.sentence_doc[sentences]], dtype=np.int64
        )
        return (
            (self._doc_codes[:, None] == codes[None, :])
            & (self.starts[:, None] < store.sentence_end[sentences][None, :])
            & (self.ends[:, None] > store.sentence_start[sentences][None, :])
        )

    def words_for(self, store: IndexStore, sentences: np.ndarray) -> frozenset[str]:
        """The key words of the training questions answered by any of ``sentences``: the words
        people use for the facts those sentences hold.

        Args:
            store: The store the sentence numbers belong to.
            sentences: Sentence numbers (the best-ranked candidates of a question).

        Returns:
            Light stems (empty without training questions or without stored words).
        """
        if self.words is None or len(self) == 0 or len(sentences) == 0:
            return frozenset()
        asked = np.flatnonzero(self.touching(store, sentences).any(axis=1))
        return frozenset().union(*(self.words[int(row)] for row in asked))

    def evidence(self, store: IndexStore, sentences: np.ndarray, question: np.ndarray) -> PairEvidence:
        """``pair_sim`` and ``pair_missing`` of candidate sentences.

        Args:
            store: The store the sentence numbers belong to.
            sentences: Candidate sentence numbers.
            question: The question's unit vector.

        Returns:
            Each sentence's highest cosine with a training question whose span overlaps it, or,
            where none does, its own cosine with the question (marked missing); clipped at 0.
        """
        sentences = np.asarray(sentences, dtype=np.int64)
        own = np.maximum(0.0, (store.sentence_vectors[sentences] @ question).astype(np.float64))
        if len(sentences) == 0 or len(self) == 0:
            return PairEvidence(own, np.ones(len(sentences), dtype=np.float64))
        cosines = (self.vectors @ question).astype(np.float64)
        touching = self.touching(store, sentences)
        covered = touching.any(axis=0)
        best = np.where(touching, cosines[:, None], -np.inf).max(axis=0)
        similarity = np.where(covered, np.maximum(0.0, best), own)
        return PairEvidence(similarity, (~covered).astype(np.float64))
