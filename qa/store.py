"""The loaded index: arrays, search structures and lookups the QA components share.

Loading is the only disk access of the QA side; everything here is read-only afterwards, so
one store serves concurrent requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.food_groups import FoodGroups, load_food_groups
from qa.vocabulary import Vocabulary
from qa.word_specificity import specificity
from verbatim import index_format
from verbatim.embedding import Embedder
from verbatim.index_format import EVIDENCE_DESIGNS, EVIDENCE_KINDS, BlockKind, Document, IndexContents
from verbatim.textutil import bm25_terms

SUBJECT_SHARE = 0.2  # a subject word occurs at least this many times per sentence of the corpus
SUBJECT_MIN_SPECIFICITY = 1.5  # ... and is not an everyday word


@dataclass(frozen=True)
class IndexInfo:
    """Summary of the loaded build (for /healthz and logs)."""

    path: str
    built_at: str
    documents: int
    chunks: int
    sentences: int
    model: str
    vector_index: str


class IndexStore:
    """Read-only view over one verified build.

    Args:
        contents: Loaded build from :func:`verbatim.index_format.load_build`.
        path: Folder it came from.
    """

    def __init__(self, contents: IndexContents, path: Path) -> None:
        self.contents = contents
        self.manifest = contents.manifest
        self.documents: list[Document] = contents.documents
        self.doc_index = {document.doc_id: number for number, document in enumerate(self.documents)}

        blocks = contents.blocks
        self.block_doc = blocks["doc"]
        self.block_start = blocks["start"]
        self.block_end = blocks["end"]
        self.block_kind = blocks["kind"]
        self.block_section = blocks["section"]

        sentences = contents.sentences
        self.sentence_doc = sentences["doc"]
        self.sentence_start = sentences["start"]
        self.sentence_end = sentences["end"]
        self.sentence_block = sentences["block"]
        self.sentence_section = sentences["section"]
        self.sentence_topics = sentences["topics"]
        self.sentence_heading = sentences["heading"]
        self.sentence_pointer = sentences["pointer"]
        self.sentence_kind = self.block_kind[self.sentence_block] if len(self.sentence_block) else np.zeros(0, np.int32)
        self.sentence_vectors = contents.sentence_vectors
        self.sentence_hubness = contents.sentence_hubness

        chunks = contents.chunks
        self.chunk_doc = chunks["doc"]
        self.chunk_start = chunks["start"]
        self.chunk_end = chunks["end"]
        self.chunk_section = chunks["section"]
        self.chunk_first_sentence = chunks["first_sentence"]
        self.chunk_last_sentence = chunks["last_sentence"]
        self.chunk_vectors = contents.chunk_vectors

        self.faiss_index = contents.faiss_index
        faiss_info = self.manifest.get("faiss", {})
        if faiss_info.get("kind") == "hnsw":
            self.faiss_index.hnsw.efSearch = int(faiss_info.get("ef_search", 512))
        self.bm25 = contents.bm25
        self.vocabulary = Vocabulary(contents.vocabulary)
        self.food_groups = FoodGroups(load_food_groups(), self.vocabulary.correction)
        self._idf = self._bm25_idf()
        self.path = Path(path)
        topic_ids = self.manifest.get("safety_policy", {}).get("topics", [])
        present = int(np.bitwise_or.reduce(self.sentence_topics)) if len(self.sentence_topics) else 0
        self.supported_topics = frozenset(topic for bit, topic in enumerate(topic_ids) if present >> bit & 1)
        self.subject_words = self._subject_words()
        self._load_evidence(contents)

    # -- evidence kinds (issue 26) -------------------------------------------------------------

    def _load_evidence(self, contents: IndexContents) -> None:
        evidence = contents.sentence_evidence
        self.sentence_evidence_kind = evidence["kind"]
        self.sentence_evidence_design = evidence["design"]
        # The tie-break order the build was labelled with (first wins over a span).
        priority = self.manifest.get("evidence", {}).get("priority") or ["caution", "study", "recommendation", "anecdote", "background"]
        self.evidence_rank = np.array([priority.index(kind) for kind in EVIDENCE_KINDS], dtype=np.int32)
        # First sentence of each document (sentences are stored document by document, in order).
        self._doc_first_sentence = np.searchsorted(self.sentence_doc, np.arange(len(self.documents) + 1), side="left")

    def sentence_evidence(self, sentence: int) -> tuple[str, str | None]:
        """Evidence kind and stated study design of one sentence."""
        return EVIDENCE_KINDS[int(self.sentence_evidence_kind[sentence])], EVIDENCE_DESIGNS[int(self.sentence_evidence_design[sentence])]

    def sentences_in(self, doc: int, start: int, end: int) -> range:
        """Numbers of the sentences of a document that overlap ``[start, end)`` (the sentence at
        ``start`` when the span is empty)."""
        first, last = int(self._doc_first_sentence[doc]), int(self._doc_first_sentence[doc + 1])
        starts, ends = self.sentence_start[first:last], self.sentence_end[first:last]
        low = first + int(np.searchsorted(ends, start, side="right"))
        high = first + int(np.searchsorted(starts, max(end, start + 1), side="left"))
        return range(low, max(low, high))

    def span_evidence(self, doc: int, start: int, end: int) -> tuple[str, str | None]:
        """Evidence of a span: the first kind in the build's priority order among its sentences,
        with the highest design stated by a sentence of that kind (``("background", None)`` when
        the span holds no sentence)."""
        sentences = self.sentences_in(doc, start, end)
        if not sentences:
            return "background", None
        codes = self.sentence_evidence_kind[sentences.start : sentences.stop]
        best = int(codes[np.argmin(self.evidence_rank[codes])])
        designs = self.sentence_evidence_design[sentences.start : sentences.stop][codes == best]
        stated = designs[designs > 0]
        return EVIDENCE_KINDS[best], EVIDENCE_DESIGNS[int(stated.min())] if len(stated) else None

    @classmethod
    def load(cls, index_dir: Path, embedder: Embedder) -> IndexStore:
        """Load and verify the live build of an index folder.

        Args:
            index_dir: Index folder.
            embedder: Warm embedder; the build must have been made with the same weights.

        Returns:
            The store.

        Raises:
            verbatim.index_format.IndexError_: Missing or invalid index (message says what to run).
        """
        contents = index_format.load_build(index_dir, embedder.name, embedder.weights_hash)
        return cls(contents, index_format.current_build(index_dir))

    def info(self) -> IndexInfo:
        """Summary of the build."""
        return IndexInfo(
            path=str(self.path),
            built_at=str(self.manifest.get("built_at", "")),
            documents=len(self.documents),
            chunks=len(self.chunk_doc),
            sentences=len(self.sentence_doc),
            model=str(self.manifest.get("model", {}).get("name", "")),
            vector_index=str(self.manifest.get("faiss", {}).get("kind", "")),
        )

    # -- text access --------------------------------------------------------------------------

    def sentence_text(self, sentence: int) -> str:
        """Canonical text of a sentence."""
        document = self.documents[self.sentence_doc[sentence]]
        return document.text[self.sentence_start[sentence] : self.sentence_end[sentence]]

    def block_text(self, block: int) -> str:
        """Canonical text of a block (line)."""
        document = self.documents[self.block_doc[block]]
        return document.text[self.block_start[block] : self.block_end[block]]

    def section_title(self, doc: int, section: int) -> str:
        """Title of a section of a document."""
        return self.documents[doc].sections[section].title

    def block_sentences(self, block: int) -> range:
        """Sentence numbers of a block (sentences are stored in document order)."""
        first = int(np.searchsorted(self.sentence_block, block, side="left"))
        last = int(np.searchsorted(self.sentence_block, block, side="right"))
        return range(first, last)

    def block_kind_of(self, block: int) -> BlockKind:
        """Kind of a block (out-of-range blocks count as paragraphs)."""
        return BlockKind(int(self.block_kind[block])) if 0 <= block < len(self.block_kind) else BlockKind.PARAGRAPH

    def same_doc(self, block_a: int, block_b: int) -> bool:
        """Whether two block numbers are valid and in the same document."""
        size = len(self.block_doc)
        return 0 <= block_a < size and 0 <= block_b < size and self.block_doc[block_a] == self.block_doc[block_b]

    def _subject_words(self) -> frozenset[str]:
        """What the corpus is about: specific words that occur about once per
        ``1 / SUBJECT_SHARE`` sentences or more (for the seed corpus, "glutamine"). A question that
        never names them may well be about something else."""
        total = len(self.sentence_doc)
        return frozenset(
            word
            for word, occurrences in self.vocabulary.frequencies.items()
            if total and occurrences >= SUBJECT_SHARE * total and specificity(word) >= SUBJECT_MIN_SPECIFICITY
        )

    # -- lexical statistics -------------------------------------------------------------------

    def _bm25_idf(self) -> dict[str, float]:
        scores = self.bm25.scores
        indptr = np.asarray(scores["indptr"])
        frequencies = np.diff(indptr)
        total = max(1, int(scores["num_docs"]))
        return {
            term: math.log(1 + (total - frequencies[token] + 0.5) / (frequencies[token] + 0.5))
            for term, token in self.bm25.vocab_dict.items()
            if term and token < len(frequencies)
        }

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term over chunks (unknown terms: the maximum)."""
        return self._idf.get(term, self._max_idf)

    @property
    def _max_idf(self) -> float:
        total = max(1, int(self.bm25.scores["num_docs"]))
        return math.log(1 + (total + 0.5) / 0.5)

    @lru_cache(maxsize=500_000)  # noqa: B019 - the store lives as long as the process
    def sentence_terms(self, sentence: int) -> frozenset[str]:
        """Stemmed terms of a sentence (computed on first use)."""
        return frozenset(bm25_terms(self.sentence_text(sentence)))
