"""Abstention: decide whether the sources answer the question at all, and how confidently.

Signals (none needs a model call beyond the question embedding):
  * dense_top: cosine similarity of the best chunk;
  * sentence_top: cosine similarity of the winning answer sentence;
  * ranker_top: the answer ranker's probability for that sentence;
  * lexical: share of the question's term weight found in that sentence;
  * coverage: share of the question's key words that occur in the corpus (typos allowed;
    words of a safety topic the corpus discusses count as covered; so does a word the corpus's
    training questions use for a fact one of the best-ranked sentences holds, "shredded" when a
    training question asks with it about that sentence's fact, ``qa/pair_memory.py``);
  * covered_specific: summed general-English specificity of the key words the corpus uses
    ("enterocytes" weighs much more than "better");
  * subject_mentioned: the question names what the corpus is about (e.g. "glutamine");
  * unsupported_safety: the question names a safety topic the corpus never discusses
    (pregnancy, for the seed corpus) and no specific topic it does discuss;
  * foreign_entity / foreign_entity_with_subject: the question names another supplement or
    nutrient (``other_supplements.txt``) that the corpus never mentions, without / besides
    naming the corpus's own subject;
  * answer_type_missing: the question asks for a kind of fact with a recognisable shape (a
    year, a price, a country, a season, a dose per body weight) and none of the best candidate
    sentences has that shape.
A logistic model over these gives the confidence; the question is answered when the confidence
reaches the threshold. Coefficients and threshold live in ``qa/calibration.toml``, fitted on the
dev split by ``verbatim eval --calibrate``.
"""

from __future__ import annotations

import copy
import re
import tomllib
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from qa.calibration import Calibration, sigmoid
from qa.extractor import Extraction
from qa.pair_memory import PairMemory
from qa.store import IndexStore
from qa.table_patterns import table_pattern
from qa.tunables import TUNABLES
from qa.types import Query, ReasonCode, RetrievedChunk
from qa.word_specificity import other_language, typo_tolerant_specificity
from verbatim.safety_policy import SafetyPolicy
from verbatim.textutil import light_stem, words, zipf

FEATURES = (
    "dense_top",
    "sentence_top",
    "ranker_top",
    "lexical",
    "coverage",
    "covered_specific",
    "subject_mentioned",
    "unsupported_safety",
    "foreign_entity",
    "foreign_entity_with_subject",
    "answer_type_missing",
)
# Words that end the name of a condition ("Parkinson's disease", "sickle cell disease").
CONDITION_HEADS = frozenset({"disease", "diseases", "syndrome", "disorder", "disorders", "deficiency", "infection"})
OTHER_SUPPLEMENTS_PATH = Path(__file__).with_name("other_supplements.txt")
# Questions whose answer must contain a fact of a recognisable shape (a data file with its own header).
REQUIRED_ANSWER_TYPES_PATH = Path(__file__).with_name("required_answer_types.toml")


@lru_cache(maxsize=4)
def load_required_answer_types(path: Path = REQUIRED_ANSWER_TYPES_PATH) -> tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...]:
    """Read ``qa/required_answer_types.toml``.

    Args:
        path: The file.

    Returns:
        ``(what is missing, how a question asks for it, the shape an answering sentence has)``,
        in file order.
    """
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return tuple((str(row["name"]), table_pattern(row, "asks"), table_pattern(row, "shape")) for row in raw["required"])


def load_other_supplements(path: Path | None = None) -> tuple[tuple[str, ...], ...]:
    """Names of other supplements, as tuples of lightly stemmed words.

    Args:
        path: One name per line (``#`` comments allowed); defaults to ``other_supplements.txt``.

    Returns:
        The names, longest first.
    """
    lines = Path(path or OTHER_SUPPLEMENTS_PATH).read_text(encoding="utf-8").splitlines()
    names = {tuple(light_stem(word) for word in words(line)) for line in lines if line.strip() and not line.startswith("#")}
    return tuple(sorted((name for name in names if name), key=len, reverse=True))


@dataclass
class AbstentionFeatures:
    """The signals of one question (also reported by the eval runner)."""

    dense_top: float = 0.0
    sentence_top: float = 0.0
    ranker_top: float = 0.0
    lexical: float = 0.0
    coverage: float = 0.0
    covered_specific: float = 0.0
    subject_mentioned: float = 0.0
    unsupported_safety: float = 0.0
    foreign_entity: float = 0.0
    foreign_entity_with_subject: float = 0.0
    answer_type_missing: float = 0.0
    uncovered: list[str] = field(default_factory=list)
    missing_answer_type: str | None = None
    pair_covered: list[str] = field(default_factory=list)  # covered by the training questions' words

    def values(self) -> dict[str, float]:
        """Feature values by name."""
        return {name: float(value) for name, value in asdict(self).items() if name in FEATURES}


@dataclass
class AbstentionDecision:
    """Outcome of the abstention check.

    Attributes:
        abstain: Whether to abstain.
        confidence: Calibrated probability that the sources answer the question.
        features: The signals the decision was made from.
        reason: Why, in words (it may quote the question's own words: never log it).
        reason_code: Why, as one of the fixed :class:`ReasonCode` values (safe for logs and
            metric labels).
    """

    abstain: bool
    confidence: float
    features: AbstentionFeatures
    reason: str | None
    reason_code: ReasonCode | None = None


class AbstentionPolicy:
    """Computes the signals and applies the calibrated decision.

    Args:
        store: The loaded index (vocabulary, subject words, topics with evidence).
        policy: Safety policy (its terms count as known when the corpus discusses the topic).
        calibration: Model and threshold.
        pairs: The build's training questions (their words count as covered for the facts the
            best sentences hold); None or empty: none.
    """

    def __init__(
        self, store: IndexStore, policy: SafetyPolicy, calibration: Calibration, pairs: PairMemory | None = None
    ) -> None:
        self.store = store
        self.policy = policy
        self.calibration = calibration
        self.pairs = pairs if pairs is not None else PairMemory.empty()
        calibration.abstention.require(FEATURES, "abstention")
        self.required_answer_types = load_required_answer_types()
        # Only names the corpus itself never uses count as "something else".
        corpus_stems = {light_stem(word) for word in store.vocabulary.frequencies}
        self.other_supplements = tuple(
            name for name in load_other_supplements() if not all(part in corpus_stems for part in name)
        )

    def bound_to(self, store: IndexStore) -> AbstentionPolicy:
        """The same policy over another store of the same corpus (the documents a sharded index
        retrieved for one question); the corpus-wide lists are not computed again."""
        bound = copy.copy(self)
        bound.store = store
        return bound

    def _names_other_supplement(self, text: str) -> bool:
        stems = [light_stem(word) for word in words(text)]
        for name in self.other_supplements:
            size = len(name)
            if any(tuple(stems[i : i + size]) == name for i in range(len(stems) - size + 1)):
                return True
        return False

    def _term_features(
        self, query: Query, question_topics: dict[str, list[str]], discussed: set[str]
    ) -> dict[str, object]:
        vocabulary = self.store.vocabulary
        term_matches = self.policy.match_terms(query.text)
        # A word of a topic the sources discuss counts as theirs ("renal" for kidney issues); not
        # the catch-all topic's, which lists conditions they never name ("asthma", "gout").
        supported_safety_words = {
            word
            for match in term_matches
            if match.topic in self.store.supported_topics - {self.policy.evidence_topic}
            for word in words(match.term)
        }
        # A condition named in several words ("sickle cell") is one thing: when the sources never
        # use one of its words, its other words ("cell") are not theirs either.
        unknown_name_words = {
            word
            for match in term_matches
            if match.topic == self.policy.evidence_topic
            and len(match_words := words(match.term)) > 1
            and any(vocabulary.correction(w) is None for w in match_words)
            for word in match_words
        }
        # "disease" after a name the sources never use is part of that name: "Does glutamine help
        # with Parkinson's disease?" is not covered by their "Liver disease".
        tokens = words(query.normalised)
        for previous, word in zip(tokens, tokens[1:], strict=False):
            if word not in CONDITION_HEADS:
                continue
            name = previous.removesuffix("'s")
            if name in unknown_name_words or (name.isalpha() and vocabulary.correction(name) is None):
                unknown_name_words.add(word)
        subject_mentioned = False
        covered_specific = 0.0
        uncovered: list[str] = []
        for term in query.key_terms:
            known = None if term in unknown_name_words else vocabulary.correction(term)
            if known is not None and (known in self.store.subject_words or term in self.store.subject_words):
                subject_mentioned = True
            elif known is not None or term in supported_safety_words:
                covered_specific += typo_tolerant_specificity(term)
            else:
                uncovered.append(term)
        total = len(query.key_terms)
        # Only topics the question names outright: a mere resemblance to "what are the side
        # effects?" must not turn "what are the main risks?" into an abstention.
        named = {topic for topic, triggers in question_topics.items() if any(t.startswith("term:") for t in triggers)}
        # "Can glutamine cause ammonia buildup?" names side effects, which the sources never list,
        # and ammonia, which they discuss: a topic they discuss (other than the catch-all), named
        # by a word that can be a subject ("ammonia", not the "stop my" of "should I stop my
        # glutamine?"), answers it.
        unsupported = any(topic not in self.store.supported_topics for topic in named) and not discussed
        other = self._names_other_supplement(query.normalised)
        return {
            "foreign_entity": float(other and not subject_mentioned),
            "foreign_entity_with_subject": float(other and subject_mentioned),
            "coverage": (total - len(uncovered)) / total if total else 0.0,
            "covered_specific": covered_specific,
            "subject_mentioned": float(subject_mentioned),
            "unsupported_safety": float(unsupported),
            "uncovered": uncovered,
            "key_term_count": total,
            "name_words": frozenset(unknown_name_words),
        }

    def _count_pair_words(
        self, features: AbstentionFeatures, extraction: Extraction, name_words: frozenset[str], total: int
    ) -> None:
        """Count as covered the uncovered words that the training questions of the best-ranked
        sentences use ("shredded" when a training question asks with it about one of those
        sentences' facts): a user's word for a fact the sources hold, not a word of any fact.

        A condition's name the corpus never uses stays uncovered, as do everyday words
        (specificity under ``pair_word_min_specificity``).
        """
        tunables = TUNABLES.abstention
        if not features.uncovered or tunables.pair_word_candidates <= 0 or self.pairs.words is None:
            return
        ranked = np.array([c.sentence for c in extraction.ranked[: tunables.pair_word_candidates]], dtype=np.int64)
        known = self.pairs.words_for(self.store, ranked)
        if not known:
            return
        specificities = [typo_tolerant_specificity(term) for term in features.uncovered]
        covered = [
            term not in name_words and light_stem(term) in known and specific >= tunables.pair_word_min_specificity
            for term, specific in zip(features.uncovered, specificities, strict=True)
        ]
        # Only when they account for every specific word the sources lack: "glutamine for horses
        # dosage" keeps "horses", a subject the sources never name, so its "dosage" is no user's
        # word for their dose here (everyday words such as "better" are no subject and do not count).
        left = [
            not is_covered and specific >= tunables.pair_word_min_specificity
            for specific, is_covered in zip(specificities, covered, strict=True)
        ]
        if any(left) and tunables.pair_words_cover_all:
            return
        still: list[str] = []
        for term, specific, is_covered in zip(features.uncovered, specificities, covered, strict=True):
            if is_covered:
                features.pair_covered.append(term)
                features.covered_specific += specific
            else:
                still.append(term)
        features.uncovered = still
        features.coverage = (total - len(still)) / total if total else 0.0

    def features(
        self,
        query: Query,
        retrieved: list[RetrievedChunk],
        extraction: Extraction | None,
        question_topics: dict[str, list[str]],
        discussed: set[str],
    ) -> AbstentionFeatures:
        """Signals for one question.

        Args:
            query: The prepared question.
            retrieved: Hybrid retrieval results.
            extraction: The chosen answer, if any.
            question_topics: Safety topics the question itself raises.
            discussed: Topics the question is about that the sources discuss
                (``SafetyPolicy.discussed_topics``, computed once per question by the pipeline).

        Returns:
            The features.
        """
        terms = self._term_features(query, question_topics, discussed)
        name_words = terms.pop("name_words")
        total = terms.pop("key_term_count")
        features = AbstentionFeatures(**terms)
        if retrieved:
            features.dense_top = max(item.dense for item in retrieved)
        if extraction is not None:
            self._count_pair_words(features, extraction, name_words, total)
            features.sentence_top = extraction.best.dense
            features.ranker_top = sigmoid(extraction.best.score)
            features.lexical = extraction.best.lexical
        features.missing_answer_type = self._missing_answer_type(query, extraction)
        features.answer_type_missing = float(features.missing_answer_type is not None)
        return features

    def _missing_answer_type(self, query: Query, extraction: Extraction | None) -> str | None:
        """The kind of fact the question asks for when no top candidate sentence has its shape."""
        wanted = [(name, shape) for name, asks, shape in self.required_answer_types if asks.search(query.normalised)]
        if not wanted:
            return None
        ranked = extraction.ranked[: TUNABLES.abstention.answer_type_candidates] if extraction is not None else []
        texts = [self.store.sentence_text(candidate.sentence) for candidate in ranked]
        for name, shape in wanted:
            if not any(shape.search(text) for text in texts):
                return name
        return None

    def run(
        self,
        query: Query,
        retrieved: list[RetrievedChunk],
        extraction: Extraction | None,
        question_topics: dict[str, list[str]],
        discussed: set[str],
    ) -> AbstentionDecision:
        """Decide whether to answer.

        Args:
            query, retrieved, extraction, question_topics, discussed: As for :meth:`features`.

        Returns:
            The decision with its confidence and a reason when abstaining.
        """
        features = self.features(query, retrieved, extraction, question_topics, discussed)
        if extraction is None:
            return AbstentionDecision(
                True, 0.0, features, "no passage in the sources matches the question", ReasonCode.NO_MATCH
            )
        confidence = self.calibration.abstention.probability(features.values())
        if confidence >= self.calibration.threshold:
            return AbstentionDecision(False, confidence, features, None)
        if features.unsupported_safety:
            code, reason = ReasonCode.UNSUPPORTED_SAFETY_TOPIC, "the sources do not discuss this safety topic"
        elif features.missing_answer_type:
            code = ReasonCode.MISSING_ANSWER_TYPE
            reason = f"the sources give no {features.missing_answer_type} for this"
        elif features.uncovered and (language := other_language(words(query.text))):
            code, reason = ReasonCode.OTHER_LANGUAGE, f"the sources are in English and the question looks like {language}"
        elif features.uncovered:
            # What the question is about ("probiotics") first, the everyday words around it
            # ("better") after.
            named = sorted(features.uncovered, key=zipf)
            code, reason = ReasonCode.UNKNOWN_TERMS, "the sources never mention: " + ", ".join(named[:5])
        elif not query.key_terms:
            # "hello", "thanks!", "what can you tell me about?": nothing to search the sources for.
            code, reason = ReasonCode.NOTHING_TO_LOOK_UP, "the message names nothing to look up in the sources"
        else:
            code, reason = ReasonCode.NOT_CLOSE_ENOUGH, "no passage in the sources answers the question closely enough"
        return AbstentionDecision(True, confidence, features, reason, code)
