"""The answer path's hand-set numbers, in one place (issue 23).

Every threshold, window, top-k, margin and weight of ``qa/`` that is chosen by hand (by reading
the dev split or the dev conversations) rather than fitted lives here, one frozen dataclass per
stage, gathered in :class:`QATunables`; :data:`TUNABLES` is the default instance the stages read.
Not here: operator settings (``verbatim/settings.py``, from the environment), fitted weights
(``qa/calibration.toml``, ``qa/followup_calibration.toml``) and lexical tables (the ``*.toml``
and ``*.tsv`` data files). ``tests/qa/test_tunables.py`` fails when a ``qa/`` module defines a
numeric constant of its own. Changing a value here changes answers: regenerate the answer
snapshot (``tests/qa/test_answer_snapshot.py``) in the same commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Fusion(StrEnum):
    """How dense and BM25 rankings are combined in hybrid mode."""

    MINMAX = "minmax"  # weighted sum of scores normalised over the candidates
    RRF = "rrf"  # reciprocal rank fusion


@dataclass(frozen=True)
class RetrieverConfig:
    """Retrieval parameters (chosen on the dev split; see eval/README.md, "Retrieval modes").

    Attributes:
        candidates: Chunks taken from each retriever before fusion.
        fusion: Fusion method for hybrid mode.
        dense_weight: Weight of the dense score in min-max fusion (BM25 gets the rest).
        rrf_k: Rank offset of reciprocal rank fusion.
        depth: Chunks retrieved per question; the answer and its passages are drawn from these.
    """

    candidates: int = 50  # well over the 20 chunks kept (depth), so fusion sees both retrievers' views
    fusion: Fusion = Fusion.MINMAX  # beats RRF on dev (README, "Quality")
    dense_weight: float = 0.7  # chosen on the dev split
    rrf_k: int = 60  # the usual constant of reciprocal rank fusion
    depth: int = 20  # above the extractor's 8 chunks and the API's largest top_k (10)


@dataclass(frozen=True)
class ExtractorConfig:
    """Answer extraction parameters.

    Attributes:
        chunks_considered: Top retrieved chunks whose sentences compete.
        short_sentence_chars: Sentences shorter than this bring their predecessor along.
        max_unit_chars: Longest FAQ answer, list item or label line quoted whole.
        max_list_chars: Longest list (lead-in and items) quoted whole.
        list_margin: A list is quoted whole when a sibling item scores within this margin.
        neighbour_rank: The next sentence joins the answer when it ranks this high too.
        runner_up_gap: The runner-up joins the answer (with any sentence between) when it sits
            at most this many sentences from the winner in the same paragraph.
        topic_margin: A question naming a safety topic the sources discuss ("I'm on chemo")
            is answered from a sentence tagged with that topic when one scores within this
            margin of the winner (an anecdote about cirrhosis must not answer it).
        anecdote_margin: A question about effectiveness or dose answered by an anecdote is
            answered instead from the best study or recommendation sentence scoring within
            this margin of the winner (issue 26; ``qa/evidence_policy.toml``).
        strong_pointer: Similarity above which a FAQ question or lead-in is a near restatement
            of the user's question (a ranker feature, and the condition for quoting its answer whole).
        verdict_terms_share: Share of the FAQ question's content words a restatement must use
            before a FAQ answer opening on a verdict ("No.") is quoted whole.
    """

    chunks_considered: int = 8  # other numbers scored within a point by --cross-validate (quality history)
    short_sentence_chars: int = 45  # "Yes, it is." says nothing without the sentence before it
    max_unit_chars: int = 600  # a FAQ answer or list item a reader takes in at a glance
    max_list_chars: int = 1500  # a list longer than this is quoted from its best item only
    list_margin: float = 0.5  # a sibling this close is as much the answer as the winner
    neighbour_rank: int = 3  # other numbers of neighbours scored within a point by --cross-validate
    runner_up_gap: int = 2  # two good sentences this close in one paragraph read as one answer
    topic_margin: float = 1.5  # a tagged sentence this close to the winner speaks to the named topic
    anecdote_margin: float = 1.5  # same margin as the topic's: a study this close beats a story
    strong_pointer: float = 0.75  # this similar, a FAQ question restates the user's, not just its topic
    verdict_terms_share: float = 0.5  # half the FAQ's words: it asks what the user asks


@dataclass(frozen=True)
class AbstentionTunables:
    """How the abstention decision looks for what the question asks for.

    Attributes:
        answer_type_candidates: Best-ranked sentences searched for the shape the question requires
            (a year, a price, a country...).
        pair_word_candidates: Best-ranked sentences whose training questions' words count as
            covered (0: the training questions' words never count).
        pair_word_min_specificity: Lowest general-English specificity (6 - Zipf) of such a word:
            everyday words ("better", "think") stay uncovered.
        pair_words_cover_all: The training questions' words count only when they cover every
            specific word of the question the sources lack (one unknown subject left, such as
            "horses", keeps them all out).
    """

    answer_type_candidates: int = 3  # the answer is among the best three when the sources give it
    pair_word_candidates: int = 1  # the winner only (V2 and V3 of quality-history, 2026-12-07 evening)
    pair_word_min_specificity: float = 1.5  # the floor of variant A' (quality-history, 2026-12-07)
    pair_words_cover_all: bool = True  # V3: "glutamine for horses dosage" keeps its "horses"


@dataclass(frozen=True)
class ConfidenceTunables:
    """The confidence features and the bands the chat page words.

    Attributes:
        lone_margin: The lead of a lone candidate (as if the runner-up were far behind).
        strong_match: Lowest confidence worded "Strong match".
        good_match: Lowest confidence worded "Good match" (below it, "Possible match").
    """

    lone_margin: float = 5.0  # a large lead in log-odds: no runner-up is no competition
    strong_match: float = 0.8  # about nine in ten such answers hold the fact (README, "Answer confidence")
    good_match: float = 0.6  # about two in three do


@dataclass(frozen=True)
class PassageTunables:
    """Which passages accompany the answer.

    Attributes:
        support_probability: Least ranker probability for another document's passage to be shown.
    """

    support_probability: float = 0.25  # one chance in four of holding the answer is worth a second source


@dataclass(frozen=True)
class FollowupTunables:
    """How follow-ups are read and answered (set by reading the dev conversations; docs/conversation.md).

    Attributes:
        max_history_turns: Earlier turns read (and accepted by the API).
        explanation_min_confidence: A "why?" is answered from elsewhere in the earlier answer's
            document only with at least this confidence; a weaker find gives way to the later
            part of the earlier answer itself (the sentences or clauses after its first), which
            often already gives the reason ("Don't take glutamine with protein shakes right
            after workouts. They compete for absorption."), then to what surrounds it.
        more_anchor_weight: "Tell me more": weight of a sentence's similarity to the quoted
            answer, next to its similarity to the question.
        more_distance_cost: Cost per sentence away from the answer ...
        more_max_distance: ... counted up to this many sentences.
        more_following_lead: Lead of what follows the answer over what precedes it (not for "why?").
        more_reason_lead: Lead, for "why?", of a sentence that gives a reason or a study.
        more_same_block_lead: Lead of the rest of the answer's own paragraph or list item.
        more_max_chars: A "more" answer takes in the next sentences of its paragraph up to this length.
        sources_min_confidence: "What does each source say?": a document's passage found with
            less confidence counts only when it names the topic's words.
        sources_answer_weight: "What does each source say?" looks for the passage nearest the
            conversation's topic: the earlier question's vector plus this weight times the
            earlier answer's (both unit length).
    """

    max_history_turns: int = 5  # the API's limit (README); follow-ups refer to the last turn or two
    explanation_min_confidence: float = 0.8  # the "Strong match" band (ConfidenceTunables.strong_match)
    more_anchor_weight: float = 0.5  # the question still matters, the earlier answer half as much
    more_distance_cost: float = 0.015  # nearer sentences go on with the same thought
    more_max_distance: int = 10  # beyond ten sentences distance no longer says anything
    more_following_lead: float = 0.05  # text reads forwards: what follows goes on with the answer
    more_reason_lead: float = 0.05  # "why?" asks for the reason or the study
    more_same_block_lead: float = 0.15  # the answer's own paragraph is the likeliest "more"
    more_max_chars: int = 260  # about two sentences: a "more" answer stays short
    sources_min_confidence: float = 0.6  # the "Good match" band: below it a passage must name the topic
    sources_answer_weight: float = 1.0  # the earlier answer counts as much as the question (no lead either way)


@dataclass(frozen=True)
class SafetyTunables:
    """Bounds of the safety check's second model call (words naming a drug or condition).

    Attributes:
        max_names_per_question: Unknown words judged per question.
        name_cache_size: Words judged once and remembered.
    """

    max_names_per_question: int = 8  # a real question names a drug or two; made-up words must not cost a batch
    name_cache_size: int = 20_000  # bounded: a hostile client can send endless new words


@dataclass(frozen=True)
class ShardedTunables:
    """Bounds of an answerer over a sharded index (``qa/sharded.py``).

    Attributes:
        cached_documents: Documents kept after fetching them from their shards.
    """

    cached_documents: int = 256  # a conversation's few documents and the document view's, many times over


@dataclass(frozen=True)
class VocabularyTunables:
    """How the question's words are judged against English and the corpus.

    Attributes:
        everyday_zipf: Zipf frequency from which a word is everyday English (typos are matched
            against these).
        max_typo_word: Longest word checked for a typo.
        foreign_min_zipf: Zipf frequency from which a word is common in another language ...
        foreign_margin: ... and this much more common there than in English.
        subject_share: A corpus subject word occurs at least this many times per sentence ...
        subject_min_specificity: ... and is at least this specific (not an everyday word).
    """

    everyday_zipf: float = 3.0  # once per million words: a near miss is likelier a slip than a rare term
    max_typo_word: int = 24  # longer strings are not slips; bounds the work of a hostile question
    foreign_min_zipf: float = 4.0  # ten per million words: a common word of that language
    foreign_margin: float = 1.5  # about thirty times rarer in English
    subject_share: float = 0.2  # once every five sentences: what the corpus is about, not a word it uses
    subject_min_specificity: float = 1.5  # everyday words are never the subject


@dataclass(frozen=True)
class TrainingTunables:
    """Hand-set choices of fitting the models that ship in ``qa/calibration.toml`` (``qa/training/``).

    Attributes:
        max_false_abstention: Highest share of answerable dev questions the fitted abstention
            threshold may turn away.
        unanswerable_weight: Weight of one out-of-scope training question in the abstention fit
            (a dev question weighs 1). Chosen on dev alone (docs/adaptation.md): dev abstention
            recall at the fitted threshold was 91.7% with weight 0, 93.1% with 0.03 and 0.1,
            88.9% with 0.3, 83.3% with 1; the largest of the best is kept.
        dropout_groups: Fact groups the pair ranker's fit withholds training questions by
            (``qa/training/fact_dropout.py``; as many as ``verbatim eval --fact-held-out`` deals).
    """

    max_false_abstention: float = 0.015  # the bar the shipped abstention threshold was fitted to
    unanswerable_weight: float = 0.1  # the largest of the best weights on dev (see above)
    dropout_groups: int = 5  # the fact-held-out run's groups: a view as sparse as its index


@dataclass(frozen=True)
class QATunables:
    """Every hand-set number of the answer path, by stage.

    Attributes:
        retrieval: Retrieval and fusion.
        extraction: Choosing and expanding the answer sentence.
        abstention: The abstention decision's search for the required answer type.
        confidence: Confidence features and bands.
        passages: The passages shown with the answer.
        followup: Follow-up questions.
        safety: The safety check's bounds.
        sharded: An answerer over a sharded index.
        vocabulary: Judging the question's words.
        training: Fitting the shipped models.
    """

    retrieval: RetrieverConfig = field(default_factory=RetrieverConfig)
    extraction: ExtractorConfig = field(default_factory=ExtractorConfig)
    abstention: AbstentionTunables = field(default_factory=AbstentionTunables)
    confidence: ConfidenceTunables = field(default_factory=ConfidenceTunables)
    passages: PassageTunables = field(default_factory=PassageTunables)
    followup: FollowupTunables = field(default_factory=FollowupTunables)
    safety: SafetyTunables = field(default_factory=SafetyTunables)
    sharded: ShardedTunables = field(default_factory=ShardedTunables)
    vocabulary: VocabularyTunables = field(default_factory=VocabularyTunables)
    training: TrainingTunables = field(default_factory=TrainingTunables)


# The values the answer path uses (constants only: nothing is read or computed at import).
TUNABLES = QATunables()
