"""Safety check at question time: which contraindication topics a question touches.

A topic fires from the question's words (terms of the policy, typo-tolerant), from its meaning
(similarity to the topic's example questions, using the question embedding already computed),
from a drug or condition the policy does not list named in a personal health question ("I take
Eliquis": the word is embedded once and compared with descriptions such as "a blood thinner" and
"a food"), or from the evidence quoted in the answer (sentences tagged at ingest time). When any
fires, the answer carries the policy's fixed disclaimer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa.store import IndexStore
from qa.tunables import TUNABLES
from qa.types import Query
from qa.word_specificity import nearest_everyday_word
from verbatim.embedding import Embedder
from verbatim.safety_policy import SafetyPolicy
from verbatim.textutil import zipf

_UNJUDGED = object()


@dataclass
class SafetyResult:
    """Outcome of the safety check.

    Attributes:
        disclaimer: The fixed disclaimer text, or None when no topic fired.
        topics: Topic ids that fired, in policy order.
        triggers: For each topic, what fired it (``term:<term>``, ``similar:<score>``, ``evidence``).
    """

    disclaimer: str | None
    topics: list[str]
    triggers: dict[str, list[str]] = field(default_factory=dict)


class SafetyChecker:
    """Applies the safety policy to a question and its evidence.

    Args:
        policy: The loaded policy.
        adapted: Whether questions are embedded by a model adapted to the corpus (the policy may
            give such a model its own semantic threshold, and have the questions that come near
            it compared again through the base model: ``base_recheck_from``).
    """

    def __init__(self, policy: SafetyPolicy, adapted: bool = False) -> None:
        self.policy = policy
        own = policy.semantic_threshold_adapted if adapted else None
        self.semantic_threshold = own if own is not None else policy.semantic_threshold
        self._example_vectors: np.ndarray | None = None
        self._example_topics: list[str] = []
        self._embedder: Embedder | None = None
        self._name_vectors = np.zeros((0, 0), np.float32)
        self._name_topics: list[str] = []
        self._everyday_vectors = np.zeros((0, 0), np.float32)
        self._name_topic_cache: dict[tuple[str, bool], object] = {}
        self.recheck_from = policy.base_recheck_from if adapted and own is not None else None
        self._base: Embedder | None = None
        self._base_example_vectors = np.zeros((0, 0), np.float32)

    def warm_up(self, embedder: Embedder, base: Embedder | None = None) -> None:
        """Embed the topics' example questions once.

        Args:
            embedder: Warm embedder.
            base: The base model, warm, for the second look at questions near the adapted
                threshold (only used by a check made with ``adapted`` and a policy that sets
                ``base_recheck_from``).
        """
        examples = [(topic.id, example) for topic in self.policy.topics for example in topic.examples]
        self._example_topics = [topic for topic, _ in examples]
        texts = [text for _, text in examples]
        self._example_vectors = (
            embedder.encode_queries(texts) if examples else np.zeros((0, embedder.dimensions), np.float32)
        )
        if self.recheck_from is not None and base is not None and examples:
            base.warm_up_queries()
            self._base = base
            self._base_example_vectors = base.encode_queries(texts)
        unlisted = self.policy.unlisted
        if unlisted is not None:
            self._embedder = embedder
            names = [(topic, text) for topic, texts in unlisted.examples.items() for text in texts]
            self._name_topics = [topic for topic, _ in names]
            self._name_vectors = embedder.encode_queries([text for _, text in names])
            self._everyday_vectors = embedder.encode_queries(list(unlisted.everyday))

    def similarities(self, query: Query) -> dict[str, float]:
        """Highest similarity of the question to each topic's examples."""
        if self._example_vectors is None:
            raise RuntimeError("SafetyChecker.warm_up() must be called first")
        return self._best_by_topic(self._example_vectors @ query.vector)

    def _best_by_topic(self, scores: np.ndarray) -> dict[str, float]:
        """Each topic's highest score among its examples' (``scores`` in example order)."""
        best: dict[str, float] = {}
        for topic, score in zip(self._example_topics, scores, strict=True):
            best[topic] = max(best.get(topic, -1.0), float(score))
        return best

    def unlisted_topics(self, query: Query, store: IndexStore) -> dict[str, str]:
        """Drugs and conditions the policy does not list, named in a personal health question (or
        in a follow-up that brings one up by naming it alone: ``query.told``).

        Args:
            query: The prepared question.
            store: The index in service: a name the sources use is not a new name, and the
                sources' subject ("glutamine") is never part of one.

        Returns:
            Name -> the topic it belongs to (one embedding call for names not judged before).
        """
        unlisted = self.policy.unlisted
        if unlisted is None:
            return {}
        vocabulary = store.vocabulary
        acronyms = self.policy.acronyms(query.text)
        names: list[str] = []
        for phrase in self.policy.unlisted_candidates(query.normalised, told=query.told):
            words = [word for word in phrase if word not in store.subject_words]
            if any(vocabulary.correction(word) is None for word in words):
                names.append(" ".join(words))
            if len(names) == TUNABLES.safety.max_names_per_question:
                break
        # "POTS" and "pots" are judged apart: only the first is an acronym.
        keys = {name: (name, any(word in acronyms for word in name.split())) for name in names}
        # Read from a local copy of the verdicts: another request may clear the shared cache.
        verdicts: dict[str, str | None] = {}
        for name in names:
            if (verdict := self._name_topic_cache.get(keys[name], _UNJUDGED)) is not _UNJUDGED:
                verdicts[name] = verdict
        unseen = [name for name in names if name not in verdicts]
        if unseen:
            if self._embedder is None:
                raise RuntimeError("SafetyChecker.warm_up() must be called first")
            vectors = self._embedder.encode_queries(unseen)
            if len(self._name_topic_cache) + len(unseen) > TUNABLES.safety.name_cache_size:
                self._name_topic_cache.clear()
            for name, vector in zip(unseen, vectors, strict=True):
                verdicts[name] = self._judge(name, vector, acronym=keys[name][1])
                self._name_topic_cache[keys[name]] = verdicts[name]
        return {name: topic for name in names if (topic := verdicts[name]) is not None}

    def _judge(self, name: str, vector: np.ndarray, acronym: bool) -> str | None:
        """The topic a candidate name belongs to, or None when it is not a drug or condition."""
        unlisted = self.policy.unlisted
        assert unlisted is not None
        similarities = self._name_vectors @ vector
        best = int(similarities.argmax())
        if float(similarities[best]) - float((self._everyday_vectors @ vector).max()) >= unlisted.margin:
            return self._name_topics[best]
        # A word English barely knows, in "I take X", is a brand or a rare disease, unless it is a
        # slip on an everyday word ("stomache") or too short to tell ("wrk").
        if any(
            len(word) >= 5 and zipf(word) < unlisted.rare_zipf and nearest_everyday_word(word) is None
            for word in name.split()
        ):
            return self._name_topics[best]
        # An acronym ("I have POTS") nearly always names a condition; what kind its embedding
        # cannot tell ("pots" reads as cookware), so it goes under the general topic.
        return self.policy.evidence_topic if acronym else None

    def question_triggers(self, query: Query, store: IndexStore) -> dict[str, list[str]]:
        """Topics the question itself touches, each with what fired it.

        Args:
            query: The prepared question.
            store: The index in service (for names the policy does not list).

        Returns:
            Topic id -> triggers (``term:<term>``, ``similar:<score>`` or ``unlisted:<word>``).
        """
        triggers: dict[str, list[str]] = {}
        for match in self.policy.match_terms(query.text):
            triggers.setdefault(match.topic, []).append(f"term:{match.term}")
        similarities = self.similarities(query)
        for topic, score in similarities.items():
            if score >= self.semantic_threshold:
                triggers.setdefault(topic, []).append(f"similar:{score:.2f}")
        for topic, score in self._base_recheck(query, similarities).items():
            triggers.setdefault(topic, []).append(f"similar-base:{score:.2f}")
        for word, topic in self.unlisted_topics(query, store).items():
            triggers.setdefault(topic, []).append(f"unlisted:{word}")
        return triggers

    def _base_recheck(self, query: Query, similarities: dict[str, float]) -> dict[str, float]:
        """Topics whose examples the base model puts at ``semantic_threshold`` from a question the
        adapted model put near (not at) its own threshold; one more embedding, only then."""
        if self._base is None or not similarities:
            return {}
        best = max(similarities.values())
        if not self.recheck_from <= best < self.semantic_threshold:
            return {}
        best_base = self._best_by_topic(self._base_example_vectors @ self._base.encode_query(query.normalised))
        return {topic: score for topic, score in best_base.items() if score >= self.policy.semantic_threshold}

    def run(self, question_triggers: dict[str, list[str]], evidence_bits: int = 0) -> SafetyResult:
        """Combine what the question raised with what the quoted evidence says.

        Args:
            question_triggers: Result of :meth:`question_triggers`.
            evidence_bits: Topic bits of the sentences quoted in the answer (0 when abstaining).

        Returns:
            The disclaimer (or None) and the topics that fired.
        """
        triggers = {topic: list(found) for topic, found in question_triggers.items()}
        for topic in self.policy.from_bits(evidence_bits):
            triggers.setdefault(topic, []).append("evidence")
        topics = [topic for topic in self.policy.topic_ids if topic in triggers]
        return SafetyResult(
            disclaimer=self.policy.disclaimer if topics else None,
            topics=topics,
            triggers={topic: triggers[topic] for topic in topics},
        )
