"""Safety check at question time: which contraindication topics a question touches.

A topic fires from the question's words (terms of the policy, typo-tolerant), from its meaning
(similarity to the topic's example questions, using the question embedding already computed),
or from the evidence quoted in the answer (sentences tagged at ingest time). When any fires,
the answer carries the policy's fixed disclaimer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qa.safety_policy import SafetyPolicy
from qa.types import Query
from verbatim.embedding import Embedder


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
    """

    def __init__(self, policy: SafetyPolicy) -> None:
        self.policy = policy
        self._example_vectors: np.ndarray | None = None
        self._example_topics: list[str] = []

    def warm_up(self, embedder: Embedder) -> None:
        """Embed the topics' example questions once.

        Args:
            embedder: Warm embedder.
        """
        examples = [(topic.id, example) for topic in self.policy.topics for example in topic.examples]
        self._example_topics = [topic for topic, _ in examples]
        self._example_vectors = (
            embedder.encode_queries([text for _, text in examples])
            if examples
            else np.zeros((0, embedder.dimensions), np.float32)
        )

    def similarities(self, query: Query) -> dict[str, float]:
        """Highest similarity of the question to each topic's examples."""
        if self._example_vectors is None:
            raise RuntimeError("SafetyChecker.warm_up() must be called first")
        scores = self._example_vectors @ query.vector
        best: dict[str, float] = {}
        for topic, score in zip(self._example_topics, scores, strict=True):
            best[topic] = max(best.get(topic, -1.0), float(score))
        return best

    def question_triggers(self, query: Query) -> dict[str, list[str]]:
        """Topics the question itself touches, each with what fired it.

        Args:
            query: The prepared question.

        Returns:
            Topic id -> triggers (``term:<term>`` or ``similar:<score>``).
        """
        triggers: dict[str, list[str]] = {}
        for match in self.policy.match_terms(query.text):
            triggers.setdefault(match.topic, []).append(f"term:{match.term}")
        for topic, score in self.similarities(query).items():
            if score >= self.policy.semantic_threshold:
                triggers.setdefault(topic, []).append(f"similar:{score:.2f}")
        return triggers

    def run(self, query: Query, evidence_bits: int = 0, question_triggers: dict[str, list[str]] | None = None) -> SafetyResult:
        """Check one question.

        Args:
            query: The prepared question.
            evidence_bits: Topic bits of the sentences quoted in the answer (0 when abstaining).
            question_triggers: Result of :meth:`question_triggers` if already computed.

        Returns:
            The disclaimer (or None) and the topics that fired.
        """
        triggers = {topic: list(found) for topic, found in (question_triggers or self.question_triggers(query)).items()}
        for topic in self.policy.from_bits(evidence_bits):
            triggers.setdefault(topic, []).append("evidence")
        topics = [topic for topic in self.policy.topic_ids if topic in triggers]
        return SafetyResult(
            disclaimer=self.policy.disclaimer if topics else None,
            topics=topics,
            triggers={topic: triggers[topic] for topic in topics},
        )
