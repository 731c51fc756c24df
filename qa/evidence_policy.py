"""Evidence-aware answer selection: which questions an anecdote must not answer (issue 26).

The question patterns and the preferred kinds are data (``qa/evidence_policy.toml``); the
extractor applies the rule (``AnswerExtractor._instead_of_anecdote``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from verbatim.index_format import EVIDENCE_KINDS

DEFAULT_PATH = Path(__file__).with_name("evidence_policy.toml")


@dataclass(frozen=True)
class EvidencePolicy:
    """Questions about effectiveness or dose, and the kinds that answer them before an anecdote.

    Attributes:
        preferred: Evidence kinds preferred over an anecdote of similar score.
        effectiveness: Patterns of a question about whether something works.
        dose: Patterns of a question about a dose, timing or duration.
    """

    preferred: frozenset[str]
    effectiveness: tuple[re.Pattern[str], ...]
    dose: tuple[re.Pattern[str], ...]

    @classmethod
    def load(cls, path: Path | None = None) -> EvidencePolicy:
        """Read the policy file.

        Raises:
            ValueError: A preferred kind the index does not know.
        """
        raw = tomllib.loads(Path(path or DEFAULT_PATH).read_text(encoding="utf-8"))
        preferred = frozenset(raw["preferred"])
        if not preferred <= set(EVIDENCE_KINDS) or "anecdote" in preferred:
            raise ValueError(f"preferred kinds must be among {EVIDENCE_KINDS} and not 'anecdote', got {sorted(preferred)}")
        questions = raw["questions"]
        return cls(
            preferred=preferred,
            effectiveness=tuple(re.compile(p, re.IGNORECASE) for p in questions["effectiveness"]),
            dose=tuple(re.compile(p, re.IGNORECASE) for p in questions["dose"]),
        )

    def asks_effect_or_dose(self, question: str) -> bool:
        """Whether a question asks whether something works or how much, how often or how long to take."""
        return any(pattern.search(question) for pattern in (*self.effectiveness, *self.dose))
