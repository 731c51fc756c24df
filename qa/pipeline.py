"""The answer path: question in, verbatim cited answer (or an honest abstention) out.

``Answerer`` is the one object the web app, the CLI and the eval runner use. ``warm_up()``
loads the model and the index once; ``run()`` then costs one question embedding plus
in-memory arithmetic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.abstention import AbstentionDecision, AbstentionPolicy
from qa.calibration import Calibration
from qa.confidence import AnswerConfidence
from qa.extractor import AnswerExtractor, Extraction, ExtractorConfig
from qa.normalizer import FOOD_WITH_GROUP, QuestionNormaliser
from qa.passages import build_passages
from qa.retriever import HybridRetriever, RetrievalMode, RetrieverConfig
from qa.safety import SafetyChecker, SafetyResult
from qa.safety_policy import SafetyPolicy
from qa.store import IndexStore
from qa.types import Answer, Query, RetrievedChunk
from qa.word_specificity import load_language_tables
from verbatim.embedding import Embedder
from verbatim.settings import Settings
from verbatim.textutil import bm25_terms, key_terms

RETRIEVAL_DEPTH = 20  # chunks retrieved per question; passages are drawn from these


@dataclass
class _Components:
    """Everything bound to one loaded index (swapped as a whole on reload)."""

    store: IndexStore
    normaliser: QuestionNormaliser
    retriever: HybridRetriever
    extractor: AnswerExtractor
    abstention: AbstentionPolicy
    confidence: AnswerConfidence


@dataclass
class Trace:
    """Intermediate results of one question (for the eval runner and debugging)."""

    query: Query
    retrieved: list[RetrievedChunk]
    extraction: Extraction | None
    decision: AbstentionDecision
    safety: SafetyResult


class Answerer:
    """Answers questions from one index.

    Args:
        settings: Index location and other settings.
        embedder: A shared, possibly already warm, embedder.
        policy: Safety policy (defaults to ``qa/safety_policy.toml``).
        calibration: Abstention model (defaults to ``qa/calibration.toml``).
        retriever_config: Retrieval parameters.
        extractor_config: Answer extraction parameters.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        policy: SafetyPolicy | None = None,
        calibration: Calibration | None = None,
        retriever_config: RetrieverConfig | None = None,
        extractor_config: ExtractorConfig | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.embedder = embedder or Embedder()
        self.policy = policy or SafetyPolicy.load()
        self.calibration = calibration or Calibration.load()
        self.retriever_config = retriever_config or RetrieverConfig()
        self.extractor_config = extractor_config or ExtractorConfig()
        self.safety = SafetyChecker(self.policy)
        self._components: _Components | None = None
        self._reload_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    def warm_up(self) -> None:
        """Load the model, the safety examples and the index (once per process)."""
        self.embedder.warm_up_queries()
        self.safety.warm_up(self.embedder)
        load_language_tables()
        if self._components is None:
            self._components = self._load(Path(self.settings.index_dir))

    def _load(self, index_dir: Path) -> _Components:
        store = IndexStore.load(index_dir, self.embedder)
        return _Components(
            store=store,
            normaliser=QuestionNormaliser(store.vocabulary, store.food_groups),
            retriever=HybridRetriever(store, self.retriever_config),
            extractor=AnswerExtractor(store, self.calibration.ranker, self.extractor_config),
            abstention=AbstentionPolicy(store, self.policy, self.calibration),
            confidence=AnswerConfidence(self.calibration),
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
    def store(self) -> IndexStore:
        """The index currently in service."""
        return self._require().store

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
        normaliser = self._require().normaliser
        texts = [question.strip() for question in questions]
        normalised = [normaliser.run(text) for text in texts]
        vectors = self.embedder.encode_queries(normalised)
        return [
            Query(
                text=text,
                normalised=clean,
                vector=vector,
                terms=tuple(bm25_terms(clean)),
                # "cheese (dairy)" is one thing the question names, in the sources' word.
                key_terms=tuple(key_terms(FOOD_WITH_GROUP.sub(r"\1", clean))),
            )
            for text, clean, vector in zip(texts, normalised, vectors, strict=True)
        ]

    def run(self, question: str, top_k: int = 3, mode: RetrievalMode = RetrievalMode.HYBRID) -> Answer:
        """Answer one question.

        Args:
            question: The question (1-1000 characters after trimming; validated by callers).
            top_k: Passages to return (1-10).
            mode: Retrieval mode (hybrid in production; others for evaluation).

        Returns:
            The answer with its passages, confidence and safety outcome.
        """
        started = time.perf_counter()
        query = self.prepare(question)
        answer = self.answer_query(query, top_k, mode, question=question)
        answer.timings_ms["embed"] = round((time.perf_counter() - started) * 1000 - sum(answer.timings_ms.values()), 3)
        answer.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 3)
        return answer

    def answer_query(
        self, query: Query, top_k: int = 3, mode: RetrievalMode = RetrievalMode.HYBRID, question: str | None = None
    ) -> Answer:
        """Answer a prepared question (see :meth:`run`)."""
        return self.trace(query, top_k, mode, question=question)[0]

    def trace(
        self, query: Query, top_k: int = 3, mode: RetrievalMode = RetrievalMode.HYBRID, question: str | None = None
    ) -> tuple[Answer, Trace]:
        """Answer a prepared question and return the intermediate results too."""
        components = self._require()
        timings: dict[str, float] = {}
        clock = time.perf_counter()

        retrieved = components.retriever.run(query, top_k=max(RETRIEVAL_DEPTH, top_k), mode=mode)
        timings["retrieve"] = _lap(clock)
        clock = time.perf_counter()

        question_topics = self.safety.question_triggers(query, components.store)
        discussed = self.policy.discussed_topics(query.text, components.store.supported_topics)
        extraction = components.extractor.run(
            query, retrieved, safety_question=bool(question_topics), topic_bits=self.policy.to_bits(discussed)
        )
        timings["extract"] = _lap(clock)
        clock = time.perf_counter()

        decision = components.abstention.run(query, retrieved, extraction, question_topics, discussed)
        answered = extraction is not None and not decision.abstain
        evidence = 0
        if answered:
            store = components.store
            for sentence in range(extraction.first_sentence, extraction.last_sentence + 1):
                evidence |= int(store.sentence_topics[sentence])
        safety = self.safety.run(question_topics, evidence)
        confidence = components.confidence.run(decision, extraction)
        timings["decide"] = _lap(clock)

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
                passages=build_passages(store, retrieved, extraction, top_k),
                disclaimer=safety.disclaimer,
                safety_topics=safety.topics,
                answer_doc_id=document.doc_id,
                answer_start=extraction.start,
                answer_end=extraction.end,
                timings_ms=timings,
            )
        return answer, Trace(query, retrieved, extraction, decision, safety)


def _lap(clock: float) -> float:
    return round((time.perf_counter() - clock) * 1000, 3)
