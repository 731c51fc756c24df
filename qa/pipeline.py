"""The answer path: question in, verbatim cited answer (or an honest abstention) out.

``Answerer`` is the one object the web app, the CLI and the eval runner use. ``warm_up()``
loads the model and the index once; ``run()`` then costs one question embedding plus
in-memory arithmetic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from qa.abstention import AbstentionDecision, AbstentionPolicy
from qa.calibration import Calibration
from qa.confidence import AnswerConfidence
from qa.evidence_policy import EvidencePolicy
from qa.extractor import AnswerExtractor, Extraction, ExtractorConfig
from qa.followup import (
    CARRIED,
    MORE,
    SOURCES,
    FollowupModel,
    FollowupPlan,
    FollowupResolver,
    Turn,
    asks_why,
    clauses,
    conversation_vector,
    gives_reason,
    in_paragraph,
    mentions,
    neighbourhood,
    opens_before,
)
from qa.normalizer import FOOD_WITH_GROUP, QuestionNormaliser
from qa.pair_memory import PairMemory
from qa.pair_ranker import pair_ranker_for
from qa.passages import build_passages
from qa.retriever import HybridRetriever, RetrievalMode, RetrieverConfig
from qa.safety import SafetyChecker, SafetyResult
from qa.store import IndexStore
from qa.tunables import TUNABLES
from qa.types import Answer, DocumentEntry, Passage, Query, ReasonCode, RetrievedChunk
from qa.word_specificity import load_language_tables
from verbatim import index_format
from verbatim.embedding import Embedder
from verbatim.safety_policy import SafetyPolicy
from verbatim.settings import Settings
from verbatim.textutil import bm25_terms, key_terms


@dataclass
class _Components:
    """Everything bound to one loaded index (swapped as a whole on reload)."""

    store: IndexStore
    embedder: Embedder  # the index's own model: the base one, or the one adapted to its corpus
    safety: SafetyChecker  # its example questions embedded by that model
    normaliser: QuestionNormaliser
    retriever: HybridRetriever | None  # None for a sharded index: its shards retrieve (qa.sharded)
    extractor: AnswerExtractor
    abstention: AbstentionPolicy
    confidence: AnswerConfidence
    pairs: PairMemory  # the build's embedded training questions (empty without pairs)


@dataclass
class Trace:
    """Intermediate results of one question (for the eval runner and debugging)."""

    query: Query
    retrieved: list[RetrievedChunk]
    extraction: Extraction | None
    decision: AbstentionDecision
    safety: SafetyResult
    store: IndexStore  # what the answer was extracted from (sentence numbers are its own)
    # The plain ranker's extraction, which the abstention read (``extraction`` is the one quoted).
    decided: Extraction | None = None


class Answerer:
    """Answers questions from one index.

    Args:
        settings: Index location and other settings.
        embedder: A shared, possibly already warm, embedder.
        policy: Safety policy (defaults to ``verbatim/safety_policy.toml``).
        calibration: Abstention model (defaults to ``qa/calibration.toml``).
        retriever_config: Retrieval parameters.
        extractor_config: Answer extraction parameters.
        followup_model: Whether a follow-up's carried reading is answered (defaults to
            ``qa/followup_calibration.toml``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        policy: SafetyPolicy | None = None,
        calibration: Calibration | None = None,
        retriever_config: RetrieverConfig | None = None,
        extractor_config: ExtractorConfig | None = None,
        followup_model: FollowupModel | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self._given_embedder = embedder or Embedder()
        self.policy = policy or SafetyPolicy.load()
        self.calibration = calibration or Calibration.load()
        self.retriever_config = retriever_config or TUNABLES.retrieval
        self.extractor_config = extractor_config or TUNABLES.extraction
        self.followup = FollowupResolver()
        self.followup_model = followup_model or FollowupModel.load()
        self.evidence_policy = EvidencePolicy.load()
        self._components: _Components | None = None
        self._reload_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the index, its model and the safety examples (once per process)."""
        load_language_tables()
        if self._components is None:
            self._components = self._load(Path(self.settings.index_dir))

    def _load(self, index_dir: Path) -> _Components:
        embedder, safety = self._load_model(index_dir)
        store = IndexStore.load(index_dir, embedder)
        return self._bind(store, embedder, safety, HybridRetriever(store, self.retriever_config), PairMemory.load(index_dir))

    def _load_model(self, index_dir: Path) -> tuple[Embedder, SafetyChecker]:
        """The model an index names (an adapted one lies in its build), warm, and the safety
        check with its example questions embedded by that model (whole and sharded indexes).

        Args:
            index_dir: Index folder.

        Returns:
            The embedder and the safety check.
        """
        model_path = index_format.build_model_path(index_dir)
        embedder = self._given_embedder.for_model(None if model_path is None else str(model_path))
        embedder.warm_up_queries()
        safety = SafetyChecker(self.policy, adapted=model_path is not None)
        # The base model (already loaded when the given embedder is it) for the safety check's
        # second look at questions near the adapted threshold.
        safety.warm_up(embedder, base=self._given_embedder.for_model(None) if model_path is not None else None)
        return embedder, safety

    def _bind(
        self,
        store: IndexStore,
        embedder: Embedder,
        safety: SafetyChecker,
        retriever: HybridRetriever | None,
        pairs: PairMemory | None = None,
    ) -> _Components:
        """The components that answer from ``store``.

        Args:
            store: The index (or a sharded index's corpus-wide view).
            embedder: Its model.
            safety: Its safety check.
            retriever: Its retriever (None for a sharded index: its shards retrieve).
            pairs: The build's embedded training questions (None: none; the plain ranker's
                choice is then quoted).

        Returns:
            The components.
        """
        return _Components(
            store=store,
            embedder=embedder,
            safety=safety,
            normaliser=QuestionNormaliser(store.vocabulary, store.food_groups),
            retriever=retriever,
            extractor=AnswerExtractor(
                store, self.calibration.ranker, self.extractor_config, pair_ranker_for(self.calibration.pair_ranker, pairs)
            ),
            abstention=AbstentionPolicy(store, self.policy, self.calibration, pairs),
            confidence=AnswerConfidence(self.calibration),
            pairs=pairs if pairs is not None else PairMemory.empty(),
        )

    def reload(self) -> IndexStore:
        """Load the index's live build again and switch to it atomically.

        Requests already running finish on the old build; new ones use the new build. If the
        new build cannot be loaded, the old one stays in service and the error is raised.

        Returns:
            The newly loaded store.
        """
        with self._reload_lock:
            components = self._load(Path(self.settings.index_dir))
            self._components = components
            return components.store

    @property
    def embedder(self) -> Embedder:
        """The model questions are embedded with: the index's own once loaded."""
        return self._components.embedder if self._components is not None else self._given_embedder

    @property
    def safety(self) -> SafetyChecker:
        """The safety check of the index in service."""
        return self._require().safety

    @property
    def store(self) -> IndexStore:
        """The index currently in service."""
        return self._require().store

    def document_view(self, doc_id: str) -> tuple[IndexStore, int] | None:
        """A store that holds one document of the index in service, and its number there (what
        the document view and span checks read).

        Args:
            doc_id: The document's id.

        Returns:
            The store and the document's number in it, or None for an unknown id.
        """
        store = self.store
        number = store.doc_index.get(doc_id)
        return None if number is None else (store, number)

    def document_entries(self, limit: int | None = None) -> list[DocumentEntry]:
        """The documents of the index in service (id, title, length), in index order.

        Args:
            limit: The first ``limit`` documents only (None: all).

        Returns:
            The entries.
        """
        return [DocumentEntry(document.doc_id, document.title, len(document.text)) for document in self.store.documents[:limit]]

    def document_count(self) -> int:
        """Documents in the index in service."""
        return len(self.store.documents)

    def _require(self) -> _Components:
        if self._components is None:
            raise RuntimeError("Answerer.warm_up() must be called before answering")
        return self._components

    # -- answering ---------------------------------------------------------------------------

    def prepare(self, question: str) -> Query:
        """Turn a question into a :class:`Query`: normalise it and embed it (one model call)."""
        return self.prepare_many([question])[0]

    def prepare_many(self, questions: Sequence[str]) -> list[Query]:
        """Prepare several questions with one batched embedding (used by request batching)."""
        components = self._require()
        started = time.perf_counter()
        texts = [question.strip() for question in questions]
        normalised = [components.normaliser.run(text) for text in texts]
        vectors = components.embedder.encode_queries(normalised)
        embed_ms = _lap(started)
        return [
            Query(
                text=text,
                normalised=clean,
                vector=vector,
                terms=tuple(bm25_terms(clean)),
                # "cheese (dairy)" is one thing the question names, in the sources' word.
                key_terms=tuple(key_terms(FOOD_WITH_GROUP.sub(r"\1", clean))),
                embed_ms=embed_ms,
            )
            for text, clean, vector in zip(texts, normalised, vectors, strict=True)
        ]

    def run(
        self,
        question: str,
        top_k: int = 3,
        mode: RetrievalMode = RetrievalMode.HYBRID,
        history: Sequence[Turn] = (),
    ) -> Answer:
        """Answer one question.

        Args:
            question: The question (1-1000 characters after trimming; validated by callers).
            top_k: Passages to return (1-10).
            mode: Retrieval mode (hybrid in production; others for evaluation).
            history: Earlier turns of the conversation, oldest first (validated by callers);
                without them the question is answered as it stands.

        Returns:
            The answer with its passages, confidence and safety outcome.
        """
        started = time.perf_counter()
        if history:
            answer = self.converse(question, history, top_k, mode)
            answer.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 3)
            return answer
        return self.trace(self.prepare(question), top_k, mode, question=question)[0]

    def _retrieve(
        self, query: Query, depth: int, mode: RetrievalMode, excluded: frozenset[int]
    ) -> tuple[_Components, list[RetrievedChunk], frozenset[int]]:
        """The chunks a question is answered from, the components that answer it (those of the
        loaded index here; a sharded index's answerer binds them to the documents retrieved), and
        ``excluded`` (sentences of ``self._require().store``) in the numbering of their store."""
        components = self._require()
        return components, components.retriever.run(query, top_k=depth, mode=mode), excluded

    def _preferred_over_anecdote(self, query: Query) -> frozenset[str]:
        """Kinds that answer instead of an anecdote: only for a question about effectiveness or dose."""
        if self.evidence_policy.asks_effect_or_dose(query.normalised):
            return self.evidence_policy.preferred
        return frozenset()

    def trace(
        self,
        query: Query,
        top_k: int = 3,
        mode: RetrievalMode = RetrievalMode.HYBRID,
        question: str | None = None,
        safety_query: Query | None = None,
        excluded: frozenset[int] = frozenset(),
        min_support: float = TUNABLES.passages.support_probability,
        also_safety: Sequence[Query] = (),
        single_sentence: bool = False,
        clause: tuple[int, int] | None = None,
        within_document: str | None = None,
        focus_words: Sequence[str] = (),
        documents: Callable[[str], bool] | None = None,
    ) -> tuple[Answer, Trace]:
        """Answer a prepared question: the one answer method, returning the answer (with the
        milliseconds of each stage, its preparation's included) and the intermediate results.

        ``safety_query`` (a follow-up with the earlier question it rests on) is what the safety
        policy reads instead of ``query``, and ``also_safety`` (a follow-up's readings) what it
        reads besides; ``excluded`` sentences are never quoted; ``single_sentence`` quotes the
        winning sentence alone (a follow-up whose answer lies inside an earlier answer; with
        ``focus_words``, the best-ranked sentence of the answer that names one of them, when the
        winner names none), and ``clause`` (document offsets inside the winning sentence) only
        that part of it;
        ``within_document`` (a document id) quotes only from that document; ``documents`` (a test
        of a document id) keeps only the retrieved chunks of the documents it accepts, so that
        their sentences compete among themselves and the confidence reads their evidence alone
        (what each source says: a document's best passage, not what is left of it among the
        chunks another document won); and ``min_support`` is passed to
        :func:`qa.passages.build_passages`.
        """
        components = self._require()
        timings: dict[str, float] = {}
        started = clock = time.perf_counter()

        depth = max(TUNABLES.retrieval.depth, top_k)
        if documents is None:
            components, retrieved, excluded = self._retrieve(query, depth, mode, excluded)
        else:
            # Deeper first: the chunks kept are the best ``depth`` of the accepted documents.
            components, retrieved, excluded = self._retrieve(
                query, max(depth, TUNABLES.retrieval.candidates), mode, excluded
            )
            store = components.store
            retrieved = [
                item for item in retrieved if documents(store.documents[int(store.chunk_doc[item.chunk])].doc_id)
            ][:depth]
        if within_document is not None:
            store = components.store
            doc = store.doc_index.get(within_document, -1)
            excluded = excluded | frozenset(int(s) for s in np.flatnonzero(store.sentence_doc != doc))
        timings["retrieve"] = _lap(clock)
        clock = time.perf_counter()

        asked = safety_query if safety_query is not None else query
        question_topics = components.safety.question_triggers(asked, components.store)
        discussed = self.policy.discussed_topics(asked.text, components.store.supported_topics)
        for also in also_safety:
            for topic, found in components.safety.question_triggers(also, components.store).items():
                question_topics.setdefault(topic, []).extend(found)
            discussed |= self.policy.discussed_topics(also.text, components.store.supported_topics)
        # The plain ranker's choice decides whether to answer; the pair ranker's (when the build has
        # training questions) is what is quoted.
        choice = components.extractor.choose(
            query,
            retrieved,
            safety_question=bool(question_topics),
            topic_bits=self.policy.to_bits(discussed),
            excluded=excluded,
            preferred_over_anecdote=self._preferred_over_anecdote(query),
        )
        extraction = choice.quoted
        if (single_sentence or clause is not None) and extraction is not None:
            best = extraction.best.sentence
            if single_sentence and focus_words:
                best = _naming_sentence(components.store, extraction, focus_words)
            start, end = int(components.store.sentence_start[best]), int(components.store.sentence_end[best])
            if clause is not None and start <= clause[0] < clause[1] <= end:
                start, end = clause
            extraction = replace(extraction, first_sentence=best, last_sentence=best, start=start, end=end)
        timings["extract"] = _lap(clock)
        clock = time.perf_counter()

        decision = components.abstention.run(query, retrieved, choice.decided, question_topics, discussed)
        answered = extraction is not None and not decision.abstain
        evidence = components.store.topics_of(extraction.first_sentence, extraction.last_sentence) if answered else 0
        safety = components.safety.run(question_topics, evidence)
        confidence = components.confidence.run(decision, extraction)
        timings["decide"] = _lap(clock)
        timings["embed"] = round(query.embed_ms, 3)
        timings["total"] = round(query.embed_ms + _lap(started), 3)

        asked = question if question is not None else query.text
        if not answered:
            answer = Answer(
                question=asked, answer="", abstained=True, confidence=round(confidence, 4), passages=[],
                disclaimer=safety.disclaimer, safety_topics=safety.topics, reason=decision.reason, timings_ms=timings,
                reason_code=decision.reason_code,
            )
        else:
            store = components.store
            document = store.documents[extraction.doc]
            answer = Answer(
                question=asked,
                answer=document.text[extraction.start : extraction.end],
                abstained=False,
                confidence=round(confidence, 4),
                passages=build_passages(store, retrieved, extraction, top_k, min_support),
                disclaimer=safety.disclaimer,
                safety_topics=safety.topics,
                answer_doc_id=document.doc_id,
                answer_start=extraction.start,
                answer_end=extraction.end,
                timings_ms=timings,
            )
        return answer, Trace(query, retrieved, extraction, decision, safety, components.store, choice.decided)


    # -- conversations -----------------------------------------------------------------------

    def plan(self, question: str, history: Sequence[Turn]) -> FollowupPlan:
        """How a question rests on the earlier turns (see :class:`qa.followup.FollowupResolver`)."""
        last = history[-1] if history else None
        said = self._text(last.doc_id, (last.start, last.end)) if last is not None and last.answered and (
            last.doc_id in self._require().store.doc_index) else ""
        return self.followup.run(question, history, self._require().store.subject_words, said)

    def converse(
        self, question: str, history: Sequence[Turn], top_k: int = 3, mode: RetrievalMode = RetrievalMode.HYBRID
    ) -> Answer:
        """Answer a question of a conversation.

        Args:
            question: The question as asked (trimmed).
            history: Earlier turns, oldest first (validated: documents exist, spans inside).
            top_k: Passages to return.
            mode: Retrieval mode.

        Returns:
            The answer, with ``followup`` and ``read_as`` saying how the question was read.
        """
        question = question.strip()
        plan = self.plan(question, history)
        if plan.kind == MORE:
            return self._more(plan, top_k, mode)
        if plan.kind == SOURCES:
            return self._sources(plan, top_k, mode)
        if plan.kind is None:
            # A new question: answered as asked, only never quoting again what an earlier turn did.
            query = self.prepare(question)
            answer, _ = self._avoiding_repeat(query, top_k, mode, question, None, plan.earlier)
            answer.read_as = question
            return answer
        fresh, carried = self.readings(plan, top_k, mode)
        if carried is not None and self.followup_model.carry(
            (fresh.abstained, fresh.confidence), (carried.abstained, carried.confidence)
        ):
            return carried
        return fresh

    def readings(
        self, plan: FollowupPlan, top_k: int = 3, mode: RetrievalMode = RetrievalMode.HYBRID
    ) -> tuple[Answer, Answer | None]:
        """Both readings of a possible ellipsis or pronoun follow-up.

        Both are checked by the safety policy on the earlier question and the follow-up together:
        a follow-up that leans on the conversation ("and sleep apnea?") is about its topic.

        Args:
            plan: A ``carried`` plan.
            top_k: Passages to return.
            mode: Retrieval mode.

        Returns:
            The answer to the question as asked, and the answer to the carried reading (None when
            the reading adds nothing, or when the follow-up names alone a condition the sources
            never name); :class:`qa.followup.FollowupModel` decides between them.
        """
        question = plan.question
        store = self._require().store
        readings = self.followup.carried_readings(plan, store.subject_words)
        names_only = self.followup.names_only(question, store.subject_words)
        fresh_query, combined_query, *reading_queries = self.prepare_many([question, plan.combined, *readings])
        # A condition the sources never name ("what if I have lupus?") is also read as a condition
        # in general: what the sources say of those is all they say of it.
        conditions = self.unnamed_conditions(replace(fresh_query, told=names_only))
        general = self.followup.condition_reading(question, conditions, plan.context, store.subject_words)
        if general is not None and general not in readings:
            readings.append(general)
            reading_queries.append(self.prepare(general))
        # The safety policy reads every reading with the earlier question ("Can people with diabetes
        # take it?" + "and sleep apnea?" is read as "Can people with sleep apnea take it?" too).
        also = [query for reading, query in zip(readings, reading_queries, strict=True) if reading != question]
        unnamed = False
        if names_only:
            # "and sleep apnea?" brings a condition up as the asker's concern, however the earlier
            # question was put: its names are judged as after "I have".
            told = replace(fresh_query, told=True)
            also.append(told)
            unnamed = self.names_unknown_condition(told)
        fresh, _ = self._avoiding_repeat(fresh_query, top_k, mode, question, combined_query, plan.earlier, also)
        fresh.read_as = question
        if readings == [question] or unnamed:
            # A condition or drug the sources never name ("and with diverticulitis?" after a
            # bloating question): the carried reading could only quote the earlier topic's passage,
            # which says nothing of it; the question is answered as asked (as it would be alone).
            return fresh, None
        # The reading the sources answer most confidently stands for the carried question.
        carried, read_as = None, question
        pairs = list(zip(readings, reading_queries, strict=True))
        said = self._leaned_on_answer(plan)
        if said is not None:
            # A later turn pointing back ("how long should I wait between them?" after "why not?")
            # may mean what the last answer said: the topic's reading is also searched for as that
            # reading and that answer together (as "what does the other article say?" is).
            pairs.append((readings[0], replace(reading_queries[0], vector=conversation_vector(reading_queries[0].vector, said))))
        for reading, query in pairs:
            if reading == question:
                continue
            answer, _ = self._avoiding_repeat(query, top_k, mode, question, combined_query, plan.earlier, also)
            if carried is None or (not answer.abstained, answer.confidence) > (not carried.abstained, carried.confidence):
                carried, read_as = answer, reading
        carried.followup, carried.read_as = CARRIED, read_as
        return fresh, carried

    def _leaned_on_answer(self, plan: FollowupPlan) -> np.ndarray | None:
        """What the last answer said (the mean of its sentences' vectors) when a follow-up points
        back at it: the follow-up has a pronoun or names nothing of its own, and the last turn was
        itself a follow-up, so the conversation has moved on from its first question to that
        answer ("how long should I wait between them?" after "why not?" -> "They compete for
        absorption. Space them by 30 minutes."). None otherwise.

        Args:
            plan: A ``carried`` plan.

        Returns:
            The vector, or None.
        """
        anchor = plan.anchor
        if anchor is None or not plan.after_followup:
            return None
        if not self.followup.points_back(plan.question, self._require().store.subject_words):
            return None
        return self._said_vector(anchor)

    def unnamed_conditions(self, query: Query) -> list[str]:
        """The conditions or drugs a question names that the sources never use: the safety
        policy's catch-all terms ("gout", "diabetes") with a word the sources never use, and the
        names its ``[unlisted]`` judge finds ("lupus").

        Args:
            query: The prepared question (``told`` for a follow-up that names it alone).

        Returns:
            The names, as written in the policy or the question.
        """
        components = self._require()
        store, policy = components.store, self.policy
        names = [
            match.term for match in policy.match_terms(query.text)
            if match.topic == policy.evidence_topic
            and any(store.vocabulary.correction(word) is None for word in bm25_terms(match.term))
        ]
        names += [name for name in components.safety.unlisted_topics(query, store) if name not in names]
        return names

    def names_unknown_condition(self, query: Query) -> bool:
        """Whether a question names a drug or condition that the sources never use and that the
        safety policy does not list (its ``[unlisted]`` rule: "diverticulitis", "fibromyalgia"; not
        "vegans", an everyday word, nor "kidney disease", which the sources name).

        Args:
            query: The prepared question (``told`` for a follow-up that names it alone).

        Returns:
            Whether the policy's judge finds such a name in it.
        """
        components = self._require()
        return bool(components.safety.unlisted_topics(query, components.store))

    def _quoted_sentences(self, turn: Turn | None) -> frozenset[int]:
        """Sentences an earlier answer quoted (a follow-up does not quote them again)."""
        if turn is None or not turn.answered:
            return frozenset()
        store = self._require().store
        doc = store.doc_index.get(turn.doc_id or "")
        if doc is None:
            return frozenset()
        return frozenset(
            int(s) for s in range(len(store.sentence_doc))
            if int(store.sentence_doc[s]) == doc
            and int(store.sentence_start[s]) < turn.end
            and int(store.sentence_end[s]) > turn.start
        )

    def _said_vector(self, turn: Turn) -> np.ndarray | None:
        """The meaning of what an earlier answer quoted: the mean of its sentences' vectors."""
        quoted = sorted(self._quoted_sentences(turn))
        if not quoted:
            return None
        return self._require().store.sentence_vectors[quoted].mean(axis=0)

    @staticmethod
    def _repeated(answer: Answer, earlier: Sequence[Turn]) -> Turn | None:
        """The earlier turn whose answer span this answer quotes exactly again, if any."""
        if answer.abstained:
            return None
        return next(
            (
                turn for turn in earlier
                if (turn.doc_id, turn.start, turn.end) == (answer.answer_doc_id, answer.answer_start, answer.answer_end)
            ),
            None,
        )

    def _avoiding_repeat(
        self, query: Query, top_k: int, mode: RetrievalMode, question: str, safety_query: Query | None,
        earlier: Sequence[Turn], also_safety: Sequence[Query] = (),
    ) -> tuple[Answer, Trace]:
        """Answer without quoting exactly what an earlier turn quoted.

        When the answer would be an earlier turn's answer again and that answer held several
        sentences, the winning sentence alone is quoted (the part of it that answers this
        question); otherwise the question is answered again without the earlier answer's
        sentences.
        """
        def answer_without(excluded: frozenset[int]) -> tuple[Answer, Trace]:
            return self.trace(
                query, top_k, mode, question=question, safety_query=safety_query, excluded=excluded, also_safety=also_safety
            )

        answer, trace = answer_without(frozenset())
        excluded: frozenset[int] = frozenset()
        for _ in range(len(earlier)):
            repeated = self._repeated(answer, earlier)
            if repeated is None:
                break
            extraction = trace.extraction
            if extraction is not None and extraction.last_sentence > extraction.first_sentence:
                # The follow-up's own words say which sentence of the earlier answer it asks about
                # ("and her calprotectin?" after the patient's calprotectin and bloating).
                focused, focused_trace = self.trace(
                    query, top_k, mode, question=question, safety_query=safety_query, excluded=excluded,
                    also_safety=also_safety, single_sentence=True,
                    focus_words=self.followup.focus_words(question, self._require().store.subject_words),
                )
                if self._repeated(focused, earlier) is None:
                    return focused, focused_trace
            clause = self._answering_clause(
                query, trace, self.followup.focus_words(question, self._require().store.subject_words)
            )
            if clause is not None:
                narrowed, narrowed_trace = self.trace(
                    query, top_k, mode, question=question, safety_query=safety_query, excluded=excluded,
                    also_safety=also_safety, clause=clause,
                )
                if self._repeated(narrowed, earlier) is None:
                    return narrowed, narrowed_trace
            excluded |= self._quoted_sentences(repeated)
            answer, trace = answer_without(excluded)
        return answer, trace

    def _answering_clause(
        self, query: Query, trace: Trace, focus_words: Sequence[str] = ()
    ) -> tuple[int, int] | None:
        """The clause of the winning sentence that answers the question (document offsets), or
        None when the sentence is one clause (see :func:`qa.followup.clauses`).

        Args:
            query: The question (its vector says which clause is nearest in meaning).
            trace: The answer whose winning sentence is split.
            focus_words: Folded content words the follow-up names of its own.

        Returns:
            The clause nearest the question in meaning among those naming one of ``focus_words``
            (all clauses when none names one: "and does it help strength?" after "They found
            glutamine reduced muscle soreness by about 15% ..., but it didn't significantly improve
            strength recovery ..." asks about the clause naming strength, though the conversation's
            topic, soreness, is nearer the first), or None.
        """
        extraction = trace.extraction
        if extraction is None:
            return None
        components = self._require()
        store, cues = trace.store, self.followup.cues
        sentence = extraction.best.sentence
        text = store.sentence_text(sentence)
        spans = clauses(text, cues.clause_separators, cues.clause_min_words)
        if len(spans) < 2:
            return None
        vectors = components.embedder.encode_passages([text[start:end] for start, end in spans])
        similarity = vectors @ query.vector
        naming = [i for i, (start, end) in enumerate(spans) if focus_words and mentions(text[start:end], focus_words)]
        chosen = max(naming or range(len(spans)), key=lambda i: float(similarity[i]))
        start, end = spans[chosen]
        offset = int(store.sentence_start[sentence])
        return offset + start, offset + end

    def _abstain_followup(self, plan: FollowupPlan, reason: str, code: ReasonCode, confidence: float = 0.0) -> Answer:
        """An honest abstention of a follow-up (the safety policy still reads the combined question)."""
        query = self.prepare(plan.combined)
        components = self._require()
        safety = components.safety.run(components.safety.question_triggers(query, components.store))
        return Answer(
            question=plan.question, answer="", abstained=True, confidence=round(confidence, 4), passages=[],
            disclaimer=safety.disclaimer, safety_topics=safety.topics, reason=reason, reason_code=code, followup=plan.kind,
            read_as=plan.read_as,
        )

    def _more(self, plan: FollowupPlan, top_k: int, mode: RetrievalMode) -> Answer:
        """More of what the last answer's document says around it (never what it quoted)."""
        if plan.anchor is None:
            return self._abstain_followup(plan, "there is no earlier answer to say more about", ReasonCode.NO_EARLIER_ANSWER)
        components = self._require()
        store = components.store
        query = self.prepare(plan.combined)
        if plan.repeat:
            # Asked to repeat ("say that again"): the earlier answer, quoted exactly as before.
            quoted = self._quoted_sentences(plan.anchor)
            if not quoted:
                return self._abstain_followup(plan, "there is no earlier answer to say more about", ReasonCode.NO_EARLIER_ANSWER)
            return self._more_answer(plan, query, top_k, mode, (min(quoted), max(quoted)), (plan.anchor.start, plan.anchor.end))
        mechanism = self.followup.asks_mechanism(plan.question, store.subject_words)
        why = asks_why(plan.question) or mechanism
        if why:
            # "Why?" asks for the reason behind the earlier answer. A one-sentence answer that goes
            # on after its claim gives it in its later clause ("—those are when gut repair happens
            # most actively"). Otherwise its document may give it anywhere (the contraindication
            # list explains the quick-facts line): the earlier question asked again of that
            # document, without what was quoted, when that is a strong match; else the earlier
            # answer's later sentences ("They compete for absorption.").
            rest = self._rest_of_answer(plan.anchor)
            # A later part that draws a consequence or turns away from the claim is no reason.
            if rest is not None and self.followup.gives_no_reason(self._text(plan.anchor.doc_id, rest[1])):
                rest = None
            if rest is not None and len(self._quoted_sentences(plan.anchor)) == 1 and not mechanism:
                # A later clause of the one sentence quoted is that sentence's own reason ("I'd skip
                # the flavored versions—they often contain artificial sweeteners ..."): nearer
                # than anything elsewhere, which may only restate the claim.
                return self._more_answer(plan, query, top_k, mode, *rest)
            explained = self._explanation(plan, query, top_k, mode)
            if explained is not None and rest is not None and (
                not in_paragraph(store, plan.anchor, explained.answer_doc_id, explained.answer_start)
                and self._opens_before_its_fact(plan.anchor, mode)
                # An explanation that names no reason or study only restates the claim ("Critical:
                # Avoid if you have ... bipolar disorder."); the answer's own later part names one
                # ("The mechanism isn't fully understood but may involve glutamate conversion.").
                or (gives_reason(self._text(plan.anchor.doc_id, rest[1])) and not gives_reason(explained.answer))
            ):
                # The earlier answer opened before the sentence it was chosen for (a run-in label,
                # "Glucose regulation support.", or a lead-in sentence): its later sentences are
                # the claim and what it says of it ("Honestly, the evidence isn't strong enough
                # ...—save your money."), nearer than an explanation found in another paragraph
                # (one that goes on in the answer's own paragraph is nearer still).
                return self._more_answer(plan, query, top_k, mode, *rest)
            if explained is not None:
                return explained
            if rest is not None:
                return self._more_answer(plan, query, top_k, mode, *rest)
        unit = neighbourhood(store, plan.anchor, why, query.vector, follow=self.followup.continues(plan.question))
        if unit is None:
            return self._abstain_followup(plan, "the source says nothing more next to the earlier answer", ReasonCode.NO_MATCH)
        return self._more_answer(plan, query, top_k, mode, unit)

    def _opens_before_its_fact(self, anchor: Turn, mode: RetrievalMode) -> bool:
        """Whether an earlier answer's span opens before the sentence it was chosen for.

        The earlier question is asked again; when that gives the earlier answer's span exactly
        (a question answered as asked, not a carried reading), its winning sentence is the fact
        the answer was quoted for (see :func:`qa.followup.opens_before`).
        """
        if anchor.start is None or anchor.end is None:
            return False
        answer, trace = self.trace(self.prepare(anchor.question), mode=mode, question=anchor.question)
        if trace.extraction is None or (answer.answer_doc_id, answer.answer_start, answer.answer_end) != (
            anchor.doc_id, anchor.start, anchor.end
        ):
            return False
        return opens_before(self._require().store, anchor, trace.extraction.best.sentence)

    def _text(self, doc_id: str | None, span: tuple[int, int]) -> str:
        """The text of a span of a document of the loaded index."""
        store = self._require().store
        return store.documents[store.doc_index[doc_id or ""]].text[span[0] : span[1]]

    def _rest_of_answer(self, anchor: Turn) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """The later part of an earlier answer: its sentences after the first, or for a
        one-sentence answer its clauses after the first (see :func:`qa.followup.clauses`).

        Args:
            anchor: The earlier turn (answered).

        Returns:
            The sentences it lies in (first, last) and its span (document offsets), or None when
            the answer is one sentence of one clause.
        """
        store = self._require().store
        quoted = sorted(self._quoted_sentences(anchor))
        if not quoted or anchor.start is None or anchor.end is None:
            return None
        document = store.documents[int(store.sentence_doc[quoted[0]])]
        cues = self.followup.cues
        if len(quoted) > 1:
            # The first sentence's own later clause, when it names a reason or a study, is the
            # reason for its claim ("... more contested than popular fitness culture often
            # suggests — several well-designed trials have found limited additional benefit ...");
            # the sentences after it say something else.
            first_start = max(int(store.sentence_start[quoted[0]]), anchor.start)
            reason = self.followup.reason_clause(document.text[first_start : int(store.sentence_end[quoted[0]])])
            if reason is not None:
                return (quoted[0], quoted[0]), (first_start + reason[0], first_start + reason[1])
            start = max(int(store.sentence_start[quoted[1]]), anchor.start)
            return (quoted[1], quoted[-1]), (start, min(int(store.sentence_end[quoted[-1]]), anchor.end))
        pieces = clauses(document.text[anchor.start : anchor.end], cues.clause_separators, cues.clause_min_words)
        if len(pieces) < 2:
            return None
        return (quoted[0], quoted[0]), (anchor.start + pieces[1][0], anchor.start + pieces[-1][1])

    def _more_answer(
        self, plan: FollowupPlan, query: Query, top_k: int, mode: RetrievalMode, unit: tuple[int, int],
        span: tuple[int, int] | None = None,
    ) -> Answer:
        """A "more" answer quoting sentences ``unit`` (first, last) of a document, or exactly
        ``span`` (document offsets) inside them."""
        components = self._require()
        store = components.store
        first, last = unit
        context_answer, context_trace = self.trace(query, top_k, mode, question=plan.question)
        safety = components.safety.run(components.safety.question_triggers(query, store), store.topics_of(first, last))
        doc = int(store.sentence_doc[first])
        document = store.documents[doc]
        start, end = span if span is not None else (int(store.sentence_start[first]), int(store.sentence_end[last]))
        block_first, block_last = int(store.sentence_block[first]), int(store.sentence_block[last])
        quote_start = min(start, int(store.block_start[block_first]))
        quote_end = max(end, int(store.block_end[block_last]))
        passage = Passage(
            doc_id=document.doc_id,
            title=document.title,
            section=_section_title(document, quote_start),
            quote=document.text[quote_start:quote_end],
            start=quote_start,
            end=quote_end,
            score=round(float(context_trace.decision.confidence), 4),
            highlight_start=start,
            highlight_end=end,
        )
        return Answer(
            question=plan.question,
            answer=document.text[start:end],
            abstained=False,
            confidence=round(float(context_trace.decision.confidence), 4),
            passages=[passage],
            disclaimer=safety.disclaimer,
            safety_topics=safety.topics,
            answer_doc_id=document.doc_id,
            answer_start=start,
            answer_end=end,
            followup=MORE,
            read_as=plan.read_as,
        )

    def _explanation(self, plan: FollowupPlan, query: Query, top_k: int, mode: RetrievalMode) -> Answer | None:
        """The answer to the conversation's question (with "why?") from the earlier answer's
        document, never quoting what that answer quoted; None when that document does not answer
        with at least ``TUNABLES.followup.explanation_min_confidence``."""
        store = self._require().store
        anchor = plan.anchor
        doc = store.doc_index.get(anchor.doc_id or "") if anchor is not None else None
        if doc is None:
            return None
        answer, _ = self.trace(
            query, top_k, mode, question=plan.question, excluded=self._quoted_sentences(anchor), within_document=anchor.doc_id
        )
        if answer.abstained or answer.confidence < TUNABLES.followup.explanation_min_confidence:
            return None
        answer.followup, answer.read_as = MORE, plan.read_as
        return answer

    def _sources(self, plan: FollowupPlan, top_k: int, mode: RetrievalMode) -> Answer:
        """The best passage on the current topic from each document, side by side.

        After an answered turn the topic is searched for with the topic question's vector and
        the earlier answer's together (:func:`qa.followup.conversation_vector`).

        A document's passage counts only when it is found with at least a "Good match"
        (``TUNABLES.followup.sources_min_confidence``) or names the topic (one of the topic's own
        words, :meth:`qa.followup.FollowupResolver.topic_words`): the nearest passage of a
        document that does not discuss the topic is generic or about something else. When the
        other document's passage does not count, the earlier answer's document answers alone
        (never with the span already quoted) if its passage counts (or the other document found
        nothing); otherwise the other document's passage stays. With no earlier answer the
        topic's question is answered with its own abstention.
        """
        store = self._require().store
        topic = plan.context or plan.question
        topic_query, combined_query = self.prepare_many([topic, plan.combined])
        if plan.anchor is not None and plan.anchor.doc_id in store.doc_index:
            # The topic of the conversation is what was asked and what the earlier answer said:
            # the other document's passage on it is the one nearest both, not the nearest
            # generic passage to the question's words ("what does each article say?" after the
            # guide's immune support against the post-marathon cold finds the research
            # article's post-exercise immune suppression, not its sentence on infection and
            # the gut lining).
            said = self._said_vector(plan.anchor)
            if said is not None:
                topic_query = replace(topic_query, vector=conversation_vector(topic_query.vector, said))
        topic_words = self.followup.topic_words(topic, store.subject_words)

        def on_topic(answer: Answer) -> bool:
            # A confident passage is on the topic in other words ("IBS" / "conditions affecting
            # the gut lining"); a weaker one must name it.
            return not answer.abstained and (
                answer.confidence >= TUNABLES.followup.sources_min_confidence or mentions(answer.answer, topic_words)
            )

        def labelled(answer: Answer) -> Answer:
            answer.passages = answer.passages[: max(top_k, 2)]
            answer.followup, answer.read_as = SOURCES, plan.read_as
            return answer

        if plan.anchor is None or plan.anchor.doc_id not in store.doc_index:
            # Nothing answered before: the topic's question decides, with its own abstention.
            answer, _ = self.trace(topic_query, max(top_k, 2), mode, question=plan.question, safety_query=combined_query)
            if answer.abstained or on_topic(answer):
                return labelled(answer)
            return self._abstain_followup(plan, "neither source discusses this", ReasonCode.NO_MATCH)
        # The other document first: the earlier answer's document was quoted already.
        doc = store.doc_index[plan.anchor.doc_id]
        excluded = frozenset(int(s) for s in range(len(store.sentence_doc)) if int(store.sentence_doc[s]) == doc)
        earlier_id = plan.anchor.doc_id
        answer, _ = self.trace(
            topic_query, max(top_k, 2), mode, question=plan.question, safety_query=combined_query, excluded=excluded,
            min_support=0.0, documents=lambda doc_id: doc_id != earlier_id,
        )
        if not on_topic(answer):
            # The other document does not discuss the topic: the earlier one answers alone
            # (never with the span the earlier answer quoted) when its passage does.
            alone, _ = self.trace(topic_query, max(top_k, 2), mode, question=plan.question, safety_query=combined_query,
                                  excluded=self._quoted_sentences(plan.anchor), min_support=0.0,
                                  documents=lambda doc_id: doc_id == earlier_id)
            if on_topic(alone) or answer.abstained:
                return labelled(alone)
        # The earlier answer's document follows the other one's, with its best passage.
        both, _ = self.trace(topic_query, max(top_k, 2), mode, question=plan.question, safety_query=combined_query,
                             min_support=0.0, documents=lambda doc_id: doc_id == earlier_id)
        earlier = next((p for p in both.passages if p.doc_id == plan.anchor.doc_id), None)
        if earlier is not None:
            answer.passages = [answer.passages[0], earlier, *(p for p in answer.passages[1:] if p.doc_id != earlier.doc_id)]
        return labelled(answer)


def _naming_sentence(store: IndexStore, extraction: Extraction, focus_words: Sequence[str]) -> int:
    """The sentence of an answer unit to quote alone: the winner, unless it names none of
    ``focus_words`` and another sentence of the unit does (then the best-ranked such sentence,
    or the first in the unit when none was ranked).

    Args:
        store: The index the extraction comes from.
        extraction: The answer unit.
        focus_words: Folded content words the question names of its own.

    Returns:
        A sentence number inside the unit.
    """
    best = extraction.best.sentence
    unit = range(extraction.first_sentence, extraction.last_sentence + 1)
    named = [sentence for sentence in unit if mentions(store.sentence_text(sentence), focus_words)]
    if not named or best in named:
        return best
    ranked = [candidate.sentence for candidate in extraction.ranked if candidate.sentence in named]
    return ranked[0] if ranked else named[0]


def _section_title(document, offset: int) -> str:
    for section in document.sections:
        if section.start <= offset <= section.end:
            return section.title
    return document.title


def _lap(clock: float) -> float:
    return round((time.perf_counter() - clock) * 1000, 3)
