"""Answer extraction: pick the verbatim sentence(s) that answer the question.

Every sentence of the top chunks is a candidate. A linear ranker scores it from features that
need no model call (the sentence vectors were stored at ingest): its similarity to the
question, the similarity of its context (section heading, the FAQ question it answers or the
list lead-in it hangs from, its neighbours), lexical overlap, its chunk's retrieval score, its
structural kind and its hubness (how close it sits to the rest of the corpus: generic
introductions and anecdotes resemble every question; see ``ingest/hubness.py``). The ranker's
weights are fitted on the dev split (``verbatim eval --calibrate``) and stored in
``calibration.toml``.

A sentence that asks ("Okay, so how much should you take?") never wins. Structure then turns
the winning sentence into a readable answer unit: a FAQ answer is quoted
whole when the question restates its FAQ question (the FAQ question itself is never the
answer; for another question, even a close one, the FAQ's opening verdict would mislead, so a
verdict also needs most of the FAQ question's words), a list item or
"Label: value" line whole, a list whole when the question is about the list rather than one
item, and a sentence that leans on the one before it ("This can lead to...") together with that
sentence. When the two best sentences sit within two sentences of each other in one paragraph,
the span holding both is quoted; a paragraph that ends on a colon brings the first sentence of
the block it announces.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from qa.calibration import LinearModel
from qa.store import IndexStore
from qa.table_patterns import table_pattern
from qa.tunables import TUNABLES, ExtractorConfig
from qa.types import Query, RetrievedChunk
from verbatim.index_format import BlockKind
from verbatim.textutil import bm25_terms, key_terms, light_stem


class SentenceChooser(Protocol):
    """What chooses the sentence to quote among the candidates (``qa/pair_ranker.py``; a protocol
    here because the pair ranker builds on this module's columns)."""

    def scores(self, store: IndexStore, sentences: np.ndarray, question: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """One score per candidate from the plain ranker's features and the question's vector."""
        ...

RANKER_FEATURES = (
    "dense",
    "dense_best",
    "lexical",
    "lexical_context",
    "label_lexical",
    "heading_sim",
    "pointer_sim",
    "pointer_strong",
    "previous_sim",
    "next_sim",
    "previous_lexical",
    "echo",
    "is_question",
    "chunk_score",
    "chunk_dense",
    "is_label",
    "is_list_item",
    "is_faq_answer",
    "is_table_row",
    "is_short",
    "log_chars",
    "first_in_block",
    "answer_type",
    "safety_content",
    "safety_content_for_safety_question",
    "hubness",
)

_LABEL_PREFIX = re.compile(r"^([^:.!?\n]{2,45}):\s")
# A sentence that sets up a study ("A 2022 study ... followed 64 marathoners.") is usually
# followed by its result, which the answer then includes.
_STUDY_SETUP = re.compile(r"\b(study|studies|review|meta-analysis|trials?|analysis|analy[sz]ed|pooled|followed)\b", re.I)

# "Brands I trust:" must not match the "I" of "Can I take it at night?".
_PRONOUN_TERMS = frozenset(bm25_terms("i me my you your we us our"))
# Lines that frame content but never answer by themselves.
NOT_ANSWERS = frozenset({BlockKind.TITLE, BlockKind.HEADING, BlockKind.TABLE_HEADER, BlockKind.FAQ_QUESTION, BlockKind.LEAD_IN})


# Sentences that lean back, verdicts, answer types (a data file with its own header).
PATTERNS_PATH = Path(__file__).with_name("extractor_patterns.toml")


@dataclass(frozen=True)
class ExtractorPatterns:
    """The extractor's lexical patterns.

    Attributes:
        leans_back: The opening of a sentence that refers back to the one before it.
        verdict: The opening of a FAQ answer that gives a verdict ("No.", "Yes, ..."): such an
            answer answers only its own question.
        answer_types: ``(how a question asks for a kind of answer, the shape of a sentence that
            gives it)``.
    """

    leans_back: re.Pattern[str]
    verdict: re.Pattern[str]
    answer_types: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...]


@lru_cache(maxsize=4)
def load_patterns(path: Path = PATTERNS_PATH) -> ExtractorPatterns:
    """Read ``qa/extractor_patterns.toml``.

    Args:
        path: The patterns file.

    Returns:
        The patterns.
    """
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return ExtractorPatterns(
        leans_back=table_pattern(raw, "leans_back"),
        verdict=table_pattern(raw, "verdict"),
        answer_types=tuple((table_pattern(row, "asks"), table_pattern(row, "shape")) for row in raw["answer_types"]),
    )


def _asks(text: str) -> bool:
    """Whether a sentence asks rather than states."""
    return text.rstrip().endswith("?")


@dataclass
class ScoredSentence:
    """A candidate answer sentence.

    Attributes:
        sentence: Sentence number in the index.
        score: Ranker score (log-odds that the sentence holds the answer).
        dense: Cosine similarity to the question.
        lexical: Share of the question's term weight the sentence contains.
        context: Retrieval score of its best chunk.
        chunk: That chunk.
    """

    sentence: int
    score: float
    dense: float
    lexical: float
    context: float
    chunk: int


@dataclass
class Extraction:
    """The chosen answer unit.

    Attributes:
        doc: Document number.
        start: Answer start offset in the canonical text.
        end: Answer end offset.
        first_sentence: First sentence of the answer.
        last_sentence: Last sentence of the answer.
        best: The winning sentence.
        chunk: Retrieved chunk the answer is quoted from.
        ranked: All scored candidates, best first (for supporting passages and abstention).
    """

    doc: int
    start: int
    end: int
    first_sentence: int
    last_sentence: int
    best: ScoredSentence
    chunk: int
    ranked: list[ScoredSentence]


@dataclass(frozen=True)
class UnitRanking:
    """What the answer unit reads of a ranking: its winner and the few places it looks at
    besides (two rankings that agree on these get the same unit; :meth:`AnswerExtractor.unit_ranking`).

    Attributes:
        best: The winning sentence.
        runner_up: The second-ranked sentence (None: the winner is the only candidate).
        close: The sentences ranked in the top ``neighbour_rank`` (the sentence after the winner
            joins the answer when it is one of them).
        list_sibling: The best-ranked sentence of another block than the winner's, when it scores
            within ``list_margin`` of the winner (None otherwise): a winning list item brings its
            whole list when this sentence hangs from the same lead-in.
    """

    best: int
    runner_up: int | None
    close: frozenset[int]
    list_sibling: int | None


@dataclass
class _Shared:
    """What the two extractions of one question (the plain ranking's and the pair ranking's)
    share: the same candidates, so which of them ask, and the answer units already built.

    Attributes:
        asking: The candidate sentences that ask rather than state.
        units: Answer unit (first and last sentence) by what it was built from.
    """

    asking: frozenset[int]
    units: dict[UnitRanking, tuple[int, int]]


@dataclass(frozen=True)
class Choice:
    """The plain ranker's extraction and the one quoted.

    Attributes:
        decided: The plain ranker's extraction: what the abstention model and the answer's
            confidence read (None: nothing to quote).
        quoted: The extraction whose span is quoted (the pair ranker's, or ``decided`` itself
            without one).
    """

    decided: Extraction | None
    quoted: Extraction | None


class AnswerExtractor:
    """Chooses the answer sentences from retrieved chunks.

    Args:
        store: The loaded index.
        ranker: Fitted sentence ranker (from ``qa/calibration.toml``).
        config: Answer-unit parameters.
        chooser: The pair ranker that chooses the sentence to quote among the same candidates
            (``qa/pair_ranker.py``; None: the plain ranker's choice is quoted).
    """

    def __init__(
        self, store: IndexStore, ranker: LinearModel, config: ExtractorConfig | None = None, chooser: SentenceChooser | None = None
    ) -> None:
        self.store = store
        self.config = config or TUNABLES.extraction
        self.chooser = chooser
        self.ranker = ranker.require(RANKER_FEATURES, "ranker")
        self.patterns = load_patterns()
        self._weights = np.array([ranker.weights[name] for name in RANKER_FEATURES], dtype=np.float64)

    # -- candidates and features ------------------------------------------------------------

    def candidates(self, retrieved: list[RetrievedChunk]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Answerable sentences of the top chunks with their best chunk.

        Returns:
            Sentence numbers, their chunk, that chunk's fused score and its dense score.
        """
        store = self.store
        best: dict[int, RetrievedChunk] = {}
        for item in retrieved[: self.config.chunks_considered]:
            first, last = int(store.chunk_first_sentence[item.chunk]), int(store.chunk_last_sentence[item.chunk])
            for sentence in range(first, last + 1):
                if sentence not in best or item.score > best[sentence].score:
                    best[sentence] = item
        sentences = np.array(
            [s for s in best if BlockKind(int(store.sentence_kind[s])) not in NOT_ANSWERS], dtype=np.int64
        )
        chunks = np.array([best[s].chunk for s in sentences], dtype=np.int64)
        scores = np.array([best[s].score for s in sentences], dtype=np.float64)
        dense = np.array([best[s].dense for s in sentences], dtype=np.float64)
        return sentences, chunks, scores, dense

    def features(
        self,
        query: Query,
        sentences: np.ndarray,
        chunk_scores: np.ndarray,
        chunk_dense: np.ndarray,
        safety_question: bool = False,
    ) -> np.ndarray:
        """Feature matrix (one row per sentence, columns in :data:`RANKER_FEATURES` order).

        Args:
            query: The prepared question.
            sentences: Candidate sentence numbers.
            chunk_scores: Fused retrieval score of each candidate's chunk.
            chunk_dense: Dense score of that chunk.
            safety_question: Whether the question itself raises a safety topic (contraindication
                content answers safety questions, and rarely anything else).

        Returns:
            Float64 matrix ``(len(sentences), len(RANKER_FEATURES))``.
        """
        store = self.store
        count = len(sentences)
        features = np.zeros((count, len(RANKER_FEATURES)), dtype=np.float64)
        if count == 0:
            return features
        vector = query.vector
        column = {name: position for position, name in enumerate(RANKER_FEATURES)}

        dense = store.sentence_vectors[sentences] @ vector
        features[:, column["dense"]] = dense
        features[:, column["dense_best"]] = (dense >= dense.max()).astype(np.float64)
        for name, related in (("heading_sim", store.sentence_heading), ("pointer_sim", store.sentence_pointer)):
            others = related[sentences]
            present = others >= 0
            if present.any():
                features[present, column[name]] = store.sentence_vectors[others[present]] @ vector
        # A FAQ question that nearly restates the user's question points at its answer strongly.
        features[:, column["pointer_strong"]] = np.maximum(0.0, features[:, column["pointer_sim"]] - self.config.strong_pointer)
        blocks = store.sentence_block[sentences]
        total = len(store.sentence_block)
        neighbours: dict[int, np.ndarray] = {}
        for step, name in ((-1, "previous_sim"), (1, "next_sim")):
            others = sentences + step
            valid = (others >= 0) & (others < total)
            valid[valid] &= store.sentence_block[others[valid]] == blocks[valid]
            neighbours[step] = np.where(valid, others, -1)
            if valid.any():
                features[valid, column[name]] = store.sentence_vectors[others[valid]] @ vector
        safety_content = (store.sentence_topics[sentences] != 0).astype(np.float64)
        features[:, column["safety_content"]] = safety_content
        features[:, column["safety_content_for_safety_question"]] = safety_content * float(safety_question)
        features[:, column["chunk_score"]] = chunk_scores
        features[:, column["chunk_dense"]] = chunk_dense
        # A generic sentence near everything in the corpus resembles many questions and answers few.
        features[:, column["hubness"]] = store.sentence_hubness[sentences]

        wanted_shapes = [shape for asks, shape in self.patterns.answer_types if asks.search(query.text)]
        weights = {term: store.idf(term) for term in set(query.terms)}
        total_weight = sum(weights.values()) or 1.0
        kinds = store.sentence_kind[sentences]
        question_terms = set(query.terms)
        for row, sentence in enumerate(map(int, sentences)):
            terms = store.sentence_terms(sentence)
            context_terms = set(terms)
            for related in (int(store.sentence_heading[sentence]), int(store.sentence_pointer[sentence])):
                if related >= 0:
                    context_terms |= store.sentence_terms(related)
            features[row, column["lexical"]] = sum(w for t, w in weights.items() if t in terms) / total_weight
            features[row, column["lexical_context"]] = sum(w for t, w in weights.items() if t in context_terms) / total_weight
            previous = int(neighbours[-1][row])
            if previous >= 0:
                previous_terms = store.sentence_terms(previous)
                features[row, column["previous_lexical"]] = sum(w for t, w in weights.items() if t in previous_terms) / total_weight
            # A sentence made of the question's own words restates it rather than answering it.
            features[row, column["echo"]] = len(terms & question_terms) / len(terms) if terms else 0.0
            text = store.sentence_text(sentence)
            features[row, column["is_question"]] = float(_asks(text))
            label = _LABEL_PREFIX.match(text)
            if label:
                label_terms = set(bm25_terms(label.group(1))) - _PRONOUN_TERMS
                features[row, column["label_lexical"]] = sum(w for t, w in weights.items() if t in label_terms) / total_weight
                features[row, column["is_label"]] = 1.0
            block = int(blocks[row])
            kind = BlockKind(int(kinds[row]))
            features[row, column["is_list_item"]] = float(kind == BlockKind.LIST_ITEM)
            features[row, column["is_table_row"]] = float(kind == BlockKind.TABLE_ROW)
            features[row, column["is_faq_answer"]] = float(self.is_faq_answer(block))
            features[row, column["is_short"]] = float(len(text) < self.config.short_sentence_chars)
            features[row, column["log_chars"]] = math.log(1 + len(text))
            features[row, column["first_in_block"]] = float(sentence == 0 or int(store.sentence_block[sentence - 1]) != block)
            if wanted_shapes:
                features[row, column["answer_type"]] = float(any(shape.search(text) for shape in wanted_shapes))
        return features

    def score_sentences(
        self, query: Query, retrieved: list[RetrievedChunk], safety_question: bool = False
    ) -> list[ScoredSentence]:
        """Score every candidate sentence of the top chunks with the plain ranker.

        Args:
            query: The prepared question.
            retrieved: Chunks from the retriever, best first.
            safety_question: Whether the question raises a safety topic.

        Returns:
            Candidates, best first.
        """
        return self._score_both(query, retrieved, safety_question)[0]

    def _score_both(
        self, query: Query, retrieved: list[RetrievedChunk], safety_question: bool
    ) -> tuple[list[ScoredSentence], list[ScoredSentence] | None]:
        """The candidates ranked by the plain ranker and by the pair ranker (None without one),
        from one feature matrix."""
        sentences, chunks, chunk_scores, chunk_dense = self.candidates(retrieved)
        if len(sentences) == 0:
            return [], None if self.chooser is None else []
        matrix = self.features(query, sentences, chunk_scores, chunk_dense, safety_question)
        dense = matrix[:, RANKER_FEATURES.index("dense")]
        lexical = matrix[:, RANKER_FEATURES.index("lexical")]

        def ranked(scores: np.ndarray) -> list[ScoredSentence]:
            order = np.argsort(-scores, kind="stable")
            return [
                ScoredSentence(
                    sentence=int(sentences[i]), score=float(scores[i]), dense=float(dense[i]),
                    lexical=float(lexical[i]), context=float(chunk_scores[i]), chunk=int(chunks[i]),
                )
                for i in order
            ]

        plain = ranked(matrix @ self._weights + self.ranker.intercept)
        if self.chooser is None:
            return plain, None
        return plain, ranked(self.chooser.scores(self.store, sentences, query.vector, matrix))

    def choose(
        self,
        query: Query,
        retrieved: list[RetrievedChunk],
        safety_question: bool = False,
        topic_bits: int = 0,
        excluded: frozenset[int] = frozenset(),
        preferred_over_anecdote: frozenset[str] = frozenset(),
    ) -> Choice:
        """Pick the answer unit, by the plain ranker and (with a pair ranker) by the pair ranker.

        Args:
            query: The prepared question.
            retrieved: Chunks from the retriever, best first.
            safety_question: Whether the question raises a safety topic.
            topic_bits: Safety topics the question names and the sources discuss (policy bits);
                evidence tagged with one of them is preferred.
            excluded: Sentences that must not be quoted (a follow-up never quotes again what the
                turn before it quoted, nor, asked for "the other article", the same document).
            preferred_over_anecdote: Evidence kinds that answer instead of an anecdote of
                similar score (given for questions about effectiveness or dose; empty: no rule).

        Returns:
            The plain ranker's extraction (what decides whether to answer) and the one quoted;
            the same object without a pair ranker.
        """
        plain, paired = self._score_both(query, retrieved, safety_question)
        rules = (excluded, topic_bits, preferred_over_anecdote)
        # Both rankings order the same candidates: which of them ask is found once, and a unit
        # the pair ranking would build from the same winner and neighbours is the plain one's.
        shared = _Shared(frozenset(c.sentence for c in plain if _asks(self.store.sentence_text(c.sentence))), {})
        decided = self._extract(query, retrieved, plain, *rules, shared)
        if paired is None or decided is None:
            return Choice(decided, decided)
        return Choice(decided, self._extract(query, retrieved, paired, *rules, shared))

    def _extract(
        self,
        query: Query,
        retrieved: list[RetrievedChunk],
        ranked: list[ScoredSentence],
        excluded: frozenset[int],
        topic_bits: int,
        preferred_over_anecdote: frozenset[str],
        shared: _Shared,
    ) -> Extraction | None:
        """The answer unit of one ranking of the candidates (the rules of :meth:`choose`;
        ``shared``: what it shares with the other ranking's)."""
        if excluded:
            ranked = [candidate for candidate in ranked if candidate.sentence not in excluded]
        store = self.store
        # A sentence that asks ("Okay, so how much should you take?") never answers by itself: it
        # goes behind every sentence that states something.
        asks = [candidate.sentence in shared.asking for candidate in ranked]
        stating = [c for c, asking in zip(ranked, asks, strict=True) if not asking]
        if not stating:
            return None
        if topic_bits:
            stating = self._on_topic_first(stating, topic_bits)
        ranked = stating + [c for c, asking in zip(ranked, asks, strict=True) if asking]
        best = ranked[0]
        first, last = self._unit_of_best(query, ranked, shared.units)
        if preferred_over_anecdote and store.span_evidence(
            int(store.sentence_doc[first]), int(store.sentence_start[first]), int(store.sentence_end[last])
        )[0] == "anecdote":
            instead = self._instead_of_anecdote(stating, preferred_over_anecdote)
            if instead is not None:
                ranked = instead + [c for c, asking in zip(ranked, asks, strict=True) if asking and c not in instead]
                best = ranked[0]
                first, last = self._unit_of_best(query, ranked, shared.units)
        return Extraction(
            doc=int(store.sentence_doc[first]),
            start=int(store.sentence_start[first]),
            end=int(store.sentence_end[last]),
            first_sentence=first,
            last_sentence=last,
            best=best,
            chunk=self._chunk_for(retrieved, first, best.chunk),
            ranked=ranked,
        )

    def _on_topic_first(self, stating: list[ScoredSentence], topic_bits: int) -> list[ScoredSentence]:
        """Move the best stating sentence tagged with one of the question's topics to the front,
        when the winner is not tagged with one and it scores within ``topic_margin`` of it."""
        topics = self.store.sentence_topics
        if int(topics[stating[0].sentence]) & topic_bits:
            return stating
        for position, candidate in enumerate(stating):
            if candidate.score < stating[0].score - self.config.topic_margin:
                break
            if int(topics[candidate.sentence]) & topic_bits:
                return [candidate, *stating[:position], *stating[position + 1 :]]
        return stating

    def _instead_of_anecdote(self, stating: list[ScoredSentence], preferred: frozenset[str]) -> list[ScoredSentence] | None:
        """The stating candidates with the best sentence of a preferred kind first, when one scores
        within ``anecdote_margin`` of the winner (None when none does)."""
        for position, candidate in enumerate(stating):
            if candidate.score < stating[0].score - self.config.anecdote_margin:
                break
            if self.store.sentence_evidence(candidate.sentence)[0] in preferred:
                return [candidate, *stating[:position], *stating[position + 1 :]]
        return None

    # -- answer units ------------------------------------------------------------------------

    def _chunk_for(self, retrieved: list[RetrievedChunk], first: int, fallback: int) -> int:
        """The best-ranked retrieved chunk holding the answer's first sentence."""
        store = self.store
        for item in retrieved:
            if store.chunk_first_sentence[item.chunk] <= first <= store.chunk_last_sentence[item.chunk]:
                return item.chunk
        return fallback

    def _chars(self, first: int, last: int) -> int:
        return int(self.store.sentence_end[last] - self.store.sentence_start[first])

    def is_faq_answer(self, block: int) -> bool:
        """Whether a block is the answer paragraph directly under a FAQ question."""
        store = self.store
        return (
            store.same_doc(block - 1, block)
            and store.block_kind_of(block - 1) == BlockKind.FAQ_QUESTION
            and store.block_kind_of(block) == BlockKind.PARAGRAPH
        )

    def _restates(self, query: Query, pointer: int, block: int) -> bool:
        """Whether the question nearly restates the FAQ question or lead-in a block hangs from.

        Close meaning is enough, unless the block opens with a bare verdict ("No. Absolutely
        not."): then the question must also use most of that FAQ question's own words, because
        the verdict quoted for a neighbouring question ("Can glutamine help with IBS?" for "Can
        glutamine replace my medications for IBD or IBS?") says the opposite of the sources.

        Args:
            query: The prepared question.
            pointer: The FAQ question or lead-in sentence.
            block: The block answering it.

        Returns:
            True when the block may be quoted as the answer to this question.
        """
        store = self.store
        if float(store.sentence_vectors[pointer] @ query.vector) < self.config.strong_pointer:
            return False
        opening = store.sentence_text(store.block_sentences(block).start)
        if not self.patterns.verdict.match(opening):
            return True
        asked = {light_stem(word) for word in key_terms(query.normalised)}
        pointed = {light_stem(word) for word in key_terms(store.sentence_text(pointer))} - {
            light_stem(word) for word in store.subject_words
        }
        return not pointed or len(pointed & asked) / len(pointed) >= self.config.verdict_terms_share

    def _whole_block(self, block: int, sentence: int) -> tuple[int, int]:
        """The whole block when short enough, else its start up to the winning sentence."""
        members = self.store.block_sentences(block)
        first, last = members.start, members.stop - 1
        if self._chars(first, last) <= self.config.max_unit_chars:
            return first, last
        return first, sentence

    def _list_unit(self, lead_in: int) -> tuple[int, int]:
        """The lead-in sentence and as many of its list items as fit ``max_list_chars``."""
        store = self.store
        lead_block = int(store.sentence_block[lead_in])
        first = last = lead_in
        block = lead_block + 1
        while store.same_doc(lead_block, block) and store.block_kind_of(block) == BlockKind.LIST_ITEM:
            item_last = store.block_sentences(block).stop - 1
            if block > lead_block + 1 and self._chars(first, item_last) > self.config.max_list_chars:
                break
            last = item_last
            block += 1
        return first, last

    def unit_ranking(self, ranked: list[ScoredSentence]) -> UnitRanking:
        """What :meth:`_unit` reads of a ranking.

        Args:
            ranked: Candidates, best first (at least one).

        Returns:
            The winner, the runner-up, the top ``neighbour_rank`` and the close sentence of
            another block.
        """
        store, config = self.store, self.config
        best = ranked[0]
        block = int(store.sentence_block[best.sentence])
        other = next((c for c in ranked[1:] if int(store.sentence_block[c.sentence]) != block), None)
        return UnitRanking(
            best=best.sentence,
            runner_up=ranked[1].sentence if len(ranked) > 1 else None,
            close=frozenset(candidate.sentence for candidate in ranked[: config.neighbour_rank]),
            list_sibling=other.sentence if other is not None and best.score - other.score <= config.list_margin else None,
        )

    def _unit_of_best(
        self, query: Query, ranked: list[ScoredSentence], built: dict[UnitRanking, tuple[int, int]]
    ) -> tuple[int, int]:
        """:meth:`_unit` of the first of ``ranked``, with whether it restates the question its
        pointer points at (the same steps for the ranking as given, for one whose anecdote gave
        way, and for the other ranker's); taken from ``built`` when a ranking of this question
        that agrees on what the unit reads built it already (then added to it)."""
        ranking = self.unit_ranking(ranked)
        unit = built.get(ranking)
        if unit is None:
            best = ranking.best
            pointer = int(self.store.sentence_pointer[best])
            restates_pointer = pointer >= 0 and self._restates(query, pointer, int(self.store.sentence_block[best]))
            unit = built[ranking] = self._unit(ranking, restates_pointer)
        return unit

    def _unit(self, ranking: UnitRanking, restates_pointer: bool) -> tuple[int, int]:
        """Expand the winning sentence into the span to quote.

        Args:
            ranking: The winner and what else the unit reads of the ranking (:meth:`unit_ranking`).
            restates_pointer: Whether the question nearly restates the sentence the winner hangs
                from; a FAQ answer is quoted whole only when it restates its FAQ question.

        Returns:
            First and last sentence of the answer.
        """
        store, config = self.store, self.config
        sentence = ranking.best
        block = int(store.sentence_block[sentence])
        kind = store.block_kind_of(block)
        if kind == BlockKind.LIST_ITEM:
            lead_in = int(store.sentence_pointer[sentence])
            sibling = ranking.list_sibling
            if lead_in >= 0 and sibling is not None and int(store.sentence_pointer[sibling]) == lead_in:
                return self._list_unit(lead_in)
            return self._whole_block(block, sentence)
        if kind in (BlockKind.LABEL_VALUE, BlockKind.TABLE_ROW):
            return self._whole_block(block, sentence)
        # A FAQ answer opens with its verdict on its own question ("No. Absolutely not."); quoted
        # for a different question, that verdict would answer something the user never asked.
        if self.is_faq_answer(block) and restates_pointer:
            return self._whole_block(block, sentence)
        first = last = sentence
        members = store.block_sentences(block)
        text = store.sentence_text(sentence)
        if first > members.start and (len(text) < config.short_sentence_chars or self.patterns.leans_back.match(text)):
            first -= 1
        # A run-in heading ("Gut lining integrity.") stays with the sentence it introduces.
        if first == members.start + 1 and len(store.sentence_text(members.start)) < config.short_sentence_chars:
            first = members.start
        if last + 1 < members.stop:
            following = last + 1
            if store.sentence_text(last).endswith(":") or following in ranking.close or _STUDY_SETUP.search(text):
                last = following
        # The two best sentences close together in one paragraph usually answer together.
        runner_up = ranking.runner_up
        if (
            runner_up is not None
            and members.start <= runner_up < members.stop
            and abs(runner_up - sentence) <= config.runner_up_gap
        ):
            first, last = min(first, runner_up), max(last, runner_up)
        # A paragraph that ends on a colon ("Several factors drive this variability:") promises
        # what the next block says: quote its first sentence too.
        following = last + 1
        if (
            last == members.stop - 1
            and store.sentence_text(last).rstrip().endswith(":")
            and following < len(store.sentence_block)
            and store.same_doc(block, int(store.sentence_block[following]))
            and store.block_kind_of(int(store.sentence_block[following])) not in NOT_ANSWERS
        ):
            last = following
        return first, last
