"""The safety policy file and its term matching (shared by ingest tagging and query time).

The disclaimer and every topic live in ``safety_policy.toml``; this module only reads it and
matches text against it.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

from verbatim.index_format import BlockKind
from verbatim.textutil import (
    edit_distance_at_most,
    fold,
    function_words,
    is_common_word,
    light_stem,
    typo_budget,
    word_runs,
    words,
    zipf,
)

DEFAULT_POLICY_PATH = Path(__file__).with_name("safety_policy.toml")
# Words this common in English frame a question ("stop", "cause", "my"); rarer ones ("cancer",
# "liver", "ammonia", "chemo") can name what it is about.
SUBJECT_WORD_MAX_ZIPF = 5.0
_ACRONYM = re.compile(r"\b[A-Z]{3,6}\b")


@dataclass(frozen=True)
class Topic:
    """A contraindication topic of the policy.

    ``patterns`` are regular expressions (matched case-insensitively on folded text) for what a
    list of terms cannot spell out, such as any age under 18.
    """

    id: str
    label: str
    terms: tuple[tuple[str, ...], ...]
    context_terms: tuple[tuple[str, ...], ...]
    exclude: tuple[tuple[str, ...], ...]
    examples: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class TermMatch:
    """A topic term found in a text, with the word positions it covers."""

    topic: str
    term: str
    first_word: int
    last_word: int


@dataclass(frozen=True)
class UnlistedNames:
    """How a personal health question naming a drug or condition the policy does not list is caught.

    Attributes:
        cues: Phrases that make a question about the asker's own health ("i take", "i have").
        not_after: Words after which a cue asks rather than tells ("should" in "should I take").
        examples: Topic id -> descriptions of what that topic's names are ("a blood thinner").
        everyday: Descriptions of what other words are ("a food", "a sport").
        rare_zipf: Words rarer than this in English are names (brands, rare diseases).
        max_zipf: Words at least this frequent in English are never names of drugs or conditions.
        margin: How much closer a word must be to a topic example than to every everyday one.
    """

    cues: tuple[tuple[str, ...], ...]
    not_after: frozenset[str]
    examples: dict[str, tuple[str, ...]]
    everyday: tuple[str, ...]
    rare_zipf: float
    max_zipf: float
    margin: float


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(words(text))


def _compile_pattern(path: Path, topic: str, text: str) -> re.Pattern[str]:
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as error:
        raise ValueError(f"{path}: topic '{topic}': bad pattern {text!r}: {error}") from error


@dataclass(eq=False)  # identity hashing: match_terms caches per policy object
class SafetyPolicy:
    """Disclaimer text, topics, cues and evidence markers, as loaded from the policy file.

    Attributes:
        disclaimer: The fixed disclaimer (the only copy in the code base lives in the file).
        topics: Topics in file order (their order defines the evidence bit of each topic).
        cues: Phrases that turn a context term into a safety question.
        markers: Patterns that mark contraindication content in documents.
        semantic_threshold: Similarity to a topic example that fires the topic.
        semantic_threshold_adapted: The same for an index whose embedder was adapted to its
            corpus (its question-to-question similarities run lower); None: ``semantic_threshold``.
        base_recheck_from: For such an index, the lowest best similarity (through the adapted
            model) at which a question that did not reach ``semantic_threshold_adapted`` is
            embedded again by the base model and compared with the examples at
            ``semantic_threshold``; None: never.
        unlisted: The rule for drugs and conditions the topics do not list (None: no such rule).
        content_hash: SHA-256 of the file (recorded in index manifests).
    """

    disclaimer: str
    topics: list[Topic]
    cues: tuple[tuple[str, ...], ...]
    markers: list[re.Pattern[str]]
    semantic_threshold: float
    content_hash: str
    evidence_topic: str
    unlisted: UnlistedNames | None = None
    semantic_threshold_adapted: float | None = None
    base_recheck_from: float | None = None
    source: str = ""
    _by_id: dict[str, Topic] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, path: Path | None = None) -> SafetyPolicy:
        """Read and validate a policy file.

        Args:
            path: Policy TOML; defaults to ``verbatim/safety_policy.toml``.

        Returns:
            The policy.

        Raises:
            ValueError: When a required field is missing or a topic id repeats.
        """
        path = Path(path or DEFAULT_POLICY_PATH)
        data = path.read_bytes()
        raw = tomllib.loads(data.decode("utf-8"))
        disclaimer = str(raw.get("disclaimer", "")).strip()
        if not disclaimer:
            raise ValueError(f"{path}: 'disclaimer' is required")
        topics = []
        for entry in raw.get("topics", []):
            topics.append(
                Topic(
                    id=entry["id"],
                    label=entry.get("label", entry["id"]),
                    terms=tuple(_phrase(term) for term in entry.get("terms", []) if _phrase(term)),
                    context_terms=tuple(_phrase(term) for term in entry.get("context_terms", []) if _phrase(term)),
                    exclude=tuple(_phrase(term) for term in entry.get("exclude", []) if _phrase(term)),
                    examples=tuple(entry.get("examples", [])),
                    patterns=tuple(_compile_pattern(path, entry["id"], text) for text in entry.get("patterns", [])),
                )
            )
        ids = [topic.id for topic in topics]
        if len(set(ids)) != len(ids) or not ids:
            raise ValueError(f"{path}: topic ids must be present and unique")
        evidence_topic = raw.get("evidence", {}).get("topic")
        if evidence_topic is not None and evidence_topic not in ids:
            raise ValueError(f"{path}: [evidence] topic '{evidence_topic}' is not a topic id")
        if len(ids) > 31:
            raise ValueError(f"{path}: at most 31 topics (they are stored as bits)")
        unlisted = None
        if "unlisted" in raw:
            entry = raw["unlisted"]
            examples = {topic: tuple(texts) for topic, texts in entry.get("examples", {}).items()}
            unknown = sorted(set(examples) - set(ids))
            if unknown or not examples or not entry.get("everyday") or not entry.get("cues"):
                raise ValueError(f"{path}: [unlisted] needs cues, everyday and examples of known topics (unknown: {unknown})")
            unlisted = UnlistedNames(
                cues=tuple(_phrase(cue) for cue in entry["cues"] if _phrase(cue)),
                not_after=frozenset(words(" ".join(entry.get("not_after", [])))),
                examples=examples,
                everyday=tuple(entry["everyday"]),
                rare_zipf=float(entry.get("rare_zipf", 2.0)),
                max_zipf=float(entry.get("max_zipf", 4.5)),
                margin=float(entry.get("margin", 0.0)),
            )
        policy = cls(
            disclaimer=disclaimer,
            topics=topics,
            cues=tuple(_phrase(cue) for cue in raw.get("cues", {}).get("phrases", []) if _phrase(cue)),
            markers=[re.compile(pattern, re.IGNORECASE) for pattern in raw.get("evidence", {}).get("markers", [])],
            semantic_threshold=float(raw.get("semantic_threshold", 1.01)),
            semantic_threshold_adapted=(
                float(raw["semantic_threshold_adapted"]) if "semantic_threshold_adapted" in raw else None
            ),
            base_recheck_from=float(raw["base_recheck_from"]) if "base_recheck_from" in raw else None,
            content_hash=hashlib.sha256(data).hexdigest(),
            evidence_topic=str(raw.get("evidence", {}).get("topic", ids[0])),
            source=str(path),
            unlisted=unlisted,
        )
        policy._by_id = {topic.id: topic for topic in topics}
        return policy

    # -- topics as bits (the index stores a bitmask per sentence) ---------------------------

    @property
    def topic_ids(self) -> list[str]:
        """Topic ids in bit order."""
        return [topic.id for topic in self.topics]

    def label(self, topic_id: str) -> str:
        """Human-readable label of a topic."""
        topic = self._by_id.get(topic_id)
        return topic.label if topic else topic_id

    def to_bits(self, topic_ids: set[str] | frozenset[str]) -> int:
        """Encode topic ids as a bitmask."""
        return sum(1 << position for position, topic in enumerate(self.topics) if topic.id in topic_ids)

    def from_bits(self, bits: int) -> list[str]:
        """Decode a bitmask into topic ids, in policy order."""
        return [topic.id for position, topic in enumerate(self.topics) if bits >> position & 1]

    # -- term matching ------------------------------------------------------------------------

    @cached_property
    def _phrase_roles(self) -> dict[tuple[str, ...], list[tuple[str, str]]]:
        """Every phrase of the policy -> the (topic, role) pairs it plays; role is term/context/exclude/cue."""
        roles: dict[tuple[str, ...], list[tuple[str, str]]] = {}
        for topic in self.topics:
            for role, phrases in (("term", topic.terms), ("context", topic.context_terms), ("exclude", topic.exclude)):
                for phrase in phrases:
                    roles.setdefault(phrase, []).append((topic.id, role))
        for cue in self.cues:
            roles.setdefault(cue, []).append(("", "cue"))
        for cue in self.unlisted.cues if self.unlisted else ():
            roles.setdefault(cue, []).append(("", "personal"))
        return roles

    @cached_property
    def _by_first_stem(self) -> dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]]:
        """First-word stem -> (phrase, phrase stems), so a scan looks only at plausible phrases."""
        index: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        for phrase in self._phrase_roles:
            stems = tuple(light_stem(word) for word in phrase)
            index.setdefault(stems[0], []).append((phrase, stems))
        return index

    @cached_property
    def _fuzzy_first_words(self) -> list[tuple[str, str]]:
        """(first word, its stem) of phrases long enough to be matched despite a typo."""
        seen = {(phrase[0], stems[0]) for entries in self._by_first_stem.values() for phrase, stems in entries}
        return sorted(pair for pair in seen if len(pair[0]) >= 5)

    @staticmethod
    def _word_matches(word: str, word_stem: str, term_word: str, term_stem: str, fuzzy: bool) -> bool:
        if word == term_word or word_stem == term_stem:
            return True
        if not fuzzy or len(term_word) < 5 or len(word) < 5 or word[0] != term_word[0]:
            return False
        # A real word ("relation", "topic") is not a typo of a term ("reaction", "toxic").
        if is_common_word(word):
            return False
        return edit_distance_at_most(word, term_word, typo_budget(term_word))

    def _scan(self, text: str, fuzzy: bool) -> list[tuple[tuple[str, ...], int, int]]:
        """All policy phrases occurring in ``text`` as (phrase, first word, last word)."""
        tokens = words(text)
        stems = [light_stem(token) for token in tokens]
        found = []
        for first, (token, token_stem) in enumerate(zip(tokens, stems, strict=True)):
            candidates = list(self._by_first_stem.get(token_stem, ()))
            if fuzzy and len(token) >= 5 and not is_common_word(token):
                for word, word_stem in self._fuzzy_first_words:
                    if word_stem != token_stem and self._word_matches(token, token_stem, word, word_stem, True):
                        candidates.extend(self._by_first_stem[word_stem])
            for phrase, phrase_stems in candidates:
                last = first + len(phrase) - 1
                if last >= len(tokens):
                    continue
                if all(
                    self._word_matches(tokens[first + k], stems[first + k], phrase[k], phrase_stems[k], fuzzy)
                    for k in range(1, len(phrase))
                ):
                    found.append((phrase, first, last))
        return found

    @lru_cache(maxsize=4096)  # noqa: B019 - a policy lives as long as the process; questions repeat
    def match_terms(self, text: str, with_context: bool = False, fuzzy: bool = True) -> tuple[TermMatch, ...]:
        """Find topic terms in a text.

        Args:
            text: A question or a passage.
            with_context: Count context terms without a cue (used inside contraindication
                content, where the safety sense is given).
            fuzzy: Tolerate small typos (for user questions; off for documents).

        Returns:
            Every term occurrence not covered by one of its topic's exclusions.
        """
        found = self._scan(text, fuzzy)
        roles = self._phrase_roles
        has_cue = with_context or any(role == "cue" for phrase, _, _ in found for _, role in roles[phrase])
        excluded: dict[str, list[tuple[int, int]]] = {}
        for phrase, first, last in found:
            for topic, role in roles[phrase]:
                if role == "exclude":
                    excluded.setdefault(topic, []).append((first, last))
        found_terms = [
            (topic, " ".join(phrase), first, last)
            for phrase, first, last in found
            for topic, role in roles[phrase]
            if role == "term" or (role == "context" and has_cue)
        ]
        matches = [
            TermMatch(topic, term, first, last)
            for topic, term, first, last in found_terms + self._pattern_matches(text)
            if not any(low <= first and last <= high for low, high in excluded.get(topic, ()))
        ]
        return tuple(matches)

    def _pattern_matches(self, text: str) -> list[tuple[str, str, int, int]]:
        """Topic patterns found in ``text`` as (topic, matched words, first word, last word)."""
        folded = fold(text)
        found = []
        for topic in self.topics:
            for pattern in topic.patterns:
                for match in pattern.finditer(folded):
                    matched = words(match.group())
                    if matched:
                        first = len(words(folded[: match.start()]))
                        found.append((topic.id, " ".join(matched), first, first + len(matched) - 1))
        return found

    def unlisted_candidates(self, question: str, told: bool = False) -> list[tuple[str, ...]]:
        """Phrases that may name a drug or condition the policy does not list.

        Args:
            question: The question (normalised: typos fixed).
            told: The question brings up a condition without a cue of its own (a follow-up that
                only names one, "and sleep apnea?"): read as if it had one.

        Returns:
            When the question speaks of the asker's health (an ``[unlisted]`` cue, or ``told``), its runs of
            adjacent content words ("pernicious anemia", "sweet tooth") that no policy phrase
            covers and that hold at least one word that is not everyday English, in order;
            otherwise nothing. Whether the sources use the words is for the caller to check.
        """
        if self.unlisted is None:
            return []
        found = self._scan(question, fuzzy=False)
        roles = self._phrase_roles
        tokens = words(question)
        # Cues match word for word: "takes" in "my dad takes" is not "take" in "does it take".
        telling = told or any(
            role == "personal"
            and tuple(tokens[first : last + 1]) == phrase
            and (first == 0 or tokens[first - 1] not in self.unlisted.not_after)
            for phrase, first, last in found
            for _, role in roles[phrase]
        )
        if not telling:
            return []
        # Cue words ("disease", "problem") may belong to a name ("Graves disease"); policy terms not.
        covered = {
            position
            for phrase, first, last in found
            if any(role != "cue" for _, role in roles[phrase])
            for position in range(first, last + 1)
        }
        runs: list[list[str]] = []
        previous = (-2, -1)  # (position, stretch) of the last word taken
        for position, (word, stretch) in enumerate(zip(tokens, word_runs(question), strict=True)):
            letters = word.replace("'", "")
            if position in covered or word in function_words() or len(letters) < 3 or not letters.isalpha():
                continue
            if previous == (position - 1, stretch):
                runs[-1].append(word)
            else:
                runs.append([word])
            previous = (position, stretch)
        unusual = [run for run in runs if any(zipf(word) < self.unlisted.max_zipf for word in run)]
        return list(dict.fromkeys(tuple(run) for run in unusual))

    @staticmethod
    def acronyms(question: str) -> frozenset[str]:
        """Words written in capitals ("POTS", "COPD"), folded; none when the whole question shouts.

        In a personal health question an acronym the sources never use nearly always names a
        condition or a drug, and its lower-case form ("pots") can read as an everyday word.

        Args:
            question: The question as typed (case kept).

        Returns:
            The folded acronyms of 3 to 6 letters.
        """
        capitals = _ACRONYM.findall(question)
        longer_words = re.findall(r"\b[^\W\d_]{3,}\b", question)
        if len(capitals) >= 3 and len(capitals) > len(longer_words) / 2:
            return frozenset()
        return frozenset(word.lower() for word in capitals)

    def question_topics(self, question: str) -> set[str]:
        """Topics whose terms a question uses (typo-tolerant)."""
        return {match.topic for match in self.match_terms(question)}

    def discussed_topics(self, question: str, supported: frozenset[str]) -> set[str]:
        """Topics the question is about that the sources discuss, other than the catch-all.

        Args:
            question: The question as asked.
            supported: Topics the sources hold evidence for.

        Returns:
            Topics with a term in the question holding a word rarer in English than
            ``SUBJECT_WORD_MAX_ZIPF`` ("chemo", "ammonia", "mesalamine"); not those only framed
            ("should I stop my", "can glutamine cause"), and never the evidence topic.
        """
        return {
            match.topic
            for match in self.match_terms(question)
            if match.topic in supported
            and match.topic != self.evidence_topic
            and any(zipf(word) < SUBJECT_WORD_MAX_ZIPF for word in words(match.term))
        }

    # -- evidence tagging (ingest time) -------------------------------------------------------

    def is_contraindication_marker(self, text: str) -> bool:
        """Whether a heading, lead-in, label or sentence marks contraindication content."""
        return any(pattern.search(text) for pattern in self.markers)

    def evidence_topics(
        self,
        sentence: str,
        block_text: str,
        block_kind: BlockKind,
        section_title: str,
        lead_in: str | None,
    ) -> set[str]:
        """Topics a document sentence is evidence for.

        Args:
            sentence: The sentence.
            block_text: The whole block (list item, paragraph) containing it.
            block_kind: Its block's kind.
            section_title: Title of its section.
            lead_in: The lead-in line of the list it belongs to, if any.

        Returns:
            Topic ids (empty for ordinary content).
        """
        # A list item or "Label: value" line is one unit; a paragraph is judged sentence by sentence.
        own_text = block_text if block_kind in (BlockKind.LABEL_VALUE, BlockKind.LIST_ITEM) else sentence
        in_region = any(
            self.is_contraindication_marker(text) for text in (section_title, lead_in or "", own_text) if text
        )
        topics: set[str] = set()
        if in_region:
            topics.add(self.evidence_topic)
            topics |= {match.topic for match in self.match_terms(block_text, with_context=True, fuzzy=False)}
        return topics & set(self.topic_ids)
