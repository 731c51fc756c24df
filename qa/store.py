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
from qa.tunables import TUNABLES
from qa.vocabulary import Vocabulary
from qa.word_specificity import specificity
from verbatim import index_format
from verbatim.embedding import Embedder
from verbatim.index_format import EVIDENCE_DESIGNS, EVIDENCE_KINDS, BlockKind, Document, IndexContents
from verbatim.textutil import bm25_terms


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


@dataclass(frozen=True)
class CorpusWide:
    """What the QA components read about the whole corpus, whatever part of it a store holds.

    Attributes:
        vocabulary: Words of the corpus (typo correction, key-term coverage).
        food_groups: Foods the corpus names, by group.
        idf: BM25 inverse document frequency of each stemmed term over all chunks.
        max_idf: The idf of a term no chunk holds.
        subject_words: What the corpus is mainly about (see ``IndexStore._subject_words``).
        supported_topics: Safety topics some sentence of the corpus has evidence for.
    """

    vocabulary: Vocabulary
    food_groups: FoodGroups
    idf: dict[str, float]
    max_idf: float
    subject_words: frozenset[str]
    supported_topics: frozenset[str]

    @classmethod
    def compute(
        cls,
        vocabulary: dict[str, list[int]],
        document_frequencies: dict[str, int],
        chunks: int,
        sentences: int,
        topics_present: int,
        topic_ids: list[str],
    ) -> CorpusWide:
        """Build it from the corpus's counts (a whole build's, or a sharded build's statistics).

        Args:
            vocabulary: Word -> ``[document frequency, occurrences]``.
            document_frequencies: Chunks holding each BM25 term.
            chunks: Chunks in the corpus.
            sentences: Sentences in the corpus.
            topics_present: Bits of the safety topics with evidence.
            topic_ids: The build's safety topics, by bit.

        Returns:
            The corpus-wide view.
        """
        words = Vocabulary(vocabulary)
        total = max(1, chunks)
        idf = {
            term: math.log(1 + (total - frequency + 0.5) / (frequency + 0.5))
            for term, frequency in document_frequencies.items()
        }
        return cls(
            vocabulary=words,
            food_groups=FoodGroups(load_food_groups(), words.correction),
            idf=idf,
            max_idf=math.log(1 + (total + 0.5) / 0.5),
            subject_words=_subject_words(words, sentences),
            supported_topics=frozenset(topic for bit, topic in enumerate(topic_ids) if topics_present >> bit & 1),
        )

    @classmethod
    def of_build(cls, contents: IndexContents) -> CorpusWide:
        """The corpus-wide view of a whole (unsharded) build."""
        scores = contents.bm25.scores
        frequencies = np.diff(np.asarray(scores["indptr"]))
        topics = contents.sentences["topics"]
        return cls.compute(
            contents.vocabulary,
            {term: frequencies[token] for term, token in contents.bm25.vocab_dict.items() if term and token < len(frequencies)},
            int(scores["num_docs"]),
            len(contents.sentences["doc"]),
            int(np.bitwise_or.reduce(topics)) if len(topics) else 0,
            contents.manifest.get("safety_policy", {}).get("topics", []),
        )


def _subject_words(vocabulary: Vocabulary, sentences: int) -> frozenset[str]:
    """What the corpus is about: specific words that occur about once per ``1 / TUNABLES.vocabulary.subject_share``
    sentences or more (for the seed corpus, "glutamine"). A question that never names them may
    well be about something else."""

    return frozenset(
        word
        for word, occurrences in vocabulary.frequencies.items()
        if sentences and occurrences >= TUNABLES.vocabulary.subject_share * sentences
        and specificity(word) >= TUNABLES.vocabulary.subject_min_specificity
    )


class IndexStore:
    """Read-only view over one verified build (or over some documents of a sharded one).

    Args:
        contents: Loaded build from :func:`verbatim.index_format.load_build`.
        path: Folder it came from.
        corpus: The corpus-wide view; computed from ``contents`` when not given (a whole build).
    """

    def __init__(self, contents: IndexContents, path: Path, corpus: CorpusWide | None = None) -> None:
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
        if faiss_info.get("kind") == "hnsw" and self.faiss_index is not None:
            self.faiss_index.hnsw.efSearch = int(faiss_info.get("ef_search", 512))
        self.bm25 = contents.bm25
        self.corpus = corpus or CorpusWide.of_build(contents)
        self.vocabulary = self.corpus.vocabulary
        self.food_groups = self.corpus.food_groups
        self._idf = self.corpus.idf
        self._max_idf = self.corpus.max_idf
        self.path = Path(path)
        self.supported_topics = self.corpus.supported_topics
        self.subject_words = self.corpus.subject_words
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

    def document_sentences(self, doc: int) -> range:
        """Numbers of every sentence of a document."""
        return range(int(self._doc_first_sentence[doc]), int(self._doc_first_sentence[doc + 1]))

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

    def topics_of(self, first: int, last: int) -> int:
        """Safety topic bits of the sentences ``first..last`` together (what a quote of them is about)."""
        return int(np.bitwise_or.reduce(self.sentence_topics[first : last + 1], initial=0))

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

    # -- lexical statistics -------------------------------------------------------------------

    def idf(self, term: str) -> float:
        """Inverse document frequency of a stemmed term over chunks (unknown terms: the maximum)."""
        return self._idf.get(term, self._max_idf)

    @lru_cache(maxsize=500_000)  # noqa: B019 - the store lives as long as the process
    def sentence_terms(self, sentence: int) -> frozenset[str]:
        """Stemmed terms of a sentence (computed on first use)."""
        return frozenset(bm25_terms(self.sentence_text(sentence)))
