"""Follow-up questions: how a question rests on the conversation's earlier turns.

The server is stateless: the client sends the earlier turns (``history``, oldest first, each the
question and the span its answer quoted). :class:`FollowupResolver` reads a question against
them and says what kind of follow-up it may be:

* ``more`` ("tell me more", "why?", "source?"): more of what the last answer's document says
  around that answer (:func:`neighbourhood` picks the sentences, never the ones already quoted);
* ``sources`` ("what does the other article say?", "do the sources agree?"): the best passage on
  the current topic from each document;
* ``carried`` (ellipsis and pronouns: "what about for athletes?", "how much should I take for
  that?"): a *candidate* reading that names the earlier topic. Whether it replaces the question
  as asked is decided by :class:`FollowupModel`, which compares the calibrated chance of each
  reading's answer being right with a margin fitted on the dev split of ``eval/dialogs.jsonl``
  (``verbatim eval --dialogs ... --calibrate-followup``).

Cue words live in ``qa/followup_cues.toml``; nothing here loads a model.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qa.store import IndexStore
from qa.tunables import TUNABLES
from verbatim.index_format import BlockKind
from verbatim.textutil import fold, function_words, key_terms, words

DEFAULT_CUES_PATH = Path(__file__).with_name("followup_cues.toml")
DEFAULT_FOLLOWUP_CALIBRATION_PATH = Path(__file__).with_name("followup_calibration.toml")

MORE, SOURCES, CARRIED = "more", "sources", "carried"

# Sentences that give a reason or the study behind a claim (what "why?" asks for).
_EXPLAINS = re.compile(
    r"\b(because|since|due to|as a result|which means|meaning|so that|study|studies|trials?|review|"
    r"meta-analysis|research|found|evidence|p\s*[=<]|doi|pmid|participants|mechanism)\b",
    re.IGNORECASE,
)
_WHY = re.compile(r"^(why|how so|how come|source|sources|what study|which study|based on|where|proof|is there evidence|what'?s the evidence|what is the evidence)")
_FOLD_PUNCT = re.compile(r"[^\w\s']+")
# Sentences of a document that frame content but never answer (headings, FAQ questions).
_NOT_ANSWERS = frozenset({BlockKind.TITLE, BlockKind.HEADING, BlockKind.TABLE_HEADER, BlockKind.FAQ_QUESTION})


@dataclass(frozen=True)
class Turn:
    """An earlier turn as the client holds it.

    Attributes:
        question: The question as asked then.
        doc_id: Document of that turn's answer (None when it abstained).
        start: Start of the answer in that document's canonical text.
        end: End of the answer.
    """

    question: str
    doc_id: str | None = None
    start: int | None = None
    end: int | None = None

    @property
    def answered(self) -> bool:
        """Whether the turn quoted an answer."""
        return self.doc_id is not None and self.start is not None and self.end is not None


@dataclass(frozen=True)
class FollowupCues:
    """The cue lists of ``qa/followup_cues.toml`` (folded)."""

    more: tuple[str, ...]
    repeat: tuple[str, ...]
    fillers: tuple[str, ...]
    sources: tuple[str, ...]
    other: tuple[str, ...]
    openers: tuple[str, ...]
    ellipsis: tuple[str, ...]
    pronouns: frozenset[str]
    max_own_words: int
    generic: frozenset[str]
    asking_verbs: frozenset[str] = frozenset()
    clause_separators: tuple[str, ...] = ()
    clause_min_words: int = 4
    not_reasons: tuple[str, ...] = ()
    mechanism: tuple[str, ...] = ()
    continuing: tuple[str, ...] = ()
    prepositions: frozenset[str] = frozenset()
    determiners: frozenset[str] = frozenset()
    word_forms: tuple[tuple[str, ...], ...] = ()
    unnamed_condition: str = ""
    question_words: frozenset[str] = frozenset()

    @classmethod
    def load(cls, path: Path | None = None) -> FollowupCues:
        """Read the cue file.

        Args:
            path: TOML file; defaults to ``qa/followup_cues.toml``.

        Returns:
            The cues, folded and longest first where order matters.
        """
        raw = tomllib.loads(Path(path or DEFAULT_CUES_PATH).read_text(encoding="utf-8"))

        def folded(values: list[str]) -> tuple[str, ...]:
            return tuple(sorted({_folded(value) for value in values}, key=lambda value: (-len(value), value)))

        return cls(
            more=folded(raw["more"]["phrases"]),
            repeat=folded(raw["more"].get("repeat", [])),
            fillers=folded(raw["more"]["fillers"]),
            sources=folded(raw["sources"]["phrases"]),
            other=folded(raw["sources"]["other"]),
            openers=folded(raw["carried"]["openers"]),
            ellipsis=folded(raw["carried"]["ellipsis"]),
            pronouns=frozenset(_folded(value) for value in raw["carried"]["pronouns"]),
            max_own_words=int(raw["carried"]["max_own_words"]),
            clause_separators=tuple(raw.get("clauses", {}).get("separators", [])),
            clause_min_words=int(raw.get("clauses", {}).get("min_words", 4)),
            generic=frozenset(_folded(value) for value in raw["generic"]["words"]),
            asking_verbs=frozenset(_folded(value) for value in raw["carried"].get("asking_verbs", [])),
            not_reasons=folded(raw["more"].get("not_reasons", [])),
            mechanism=folded(raw["more"].get("mechanism", [])),
            continuing=folded(raw["more"].get("continuing", [])),
            prepositions=frozenset(_folded(value) for value in raw["carried"].get("prepositions", [])),
            determiners=frozenset(_folded(value) for value in raw["carried"].get("determiners", [])),
            word_forms=tuple(tuple(_folded(line).split()) for line in raw["carried"].get("word_forms", [])),
            unnamed_condition=str(raw["carried"].get("unnamed_condition", "")),
            question_words=frozenset(_folded(value) for value in raw["carried"].get("question_words", [])),
        )


@dataclass(frozen=True)
class FollowupPlan:
    """How a question rests on the earlier turns.

    Attributes:
        kind: ``more``, ``sources``, ``carried`` (a candidate, decided later) or None.
        question: The question as asked.
        read_as: The self-contained question to answer for this kind (for ``carried``, the
            candidate reading).
        context: The earlier question the follow-up rests on ("" without one).
        anchor: The last turn, when it quoted an answer (``more`` and ``sources`` start there).
        other_document: The question asks for the document the last answer did not come from.
        earlier: The earlier turns that quoted an answer, oldest first (a follow-up that is not
            asked to repeat never quotes exactly what one of them quoted).
        repeat: A ``more`` question that asks for the last answer again ("say that again").
        after_followup: The last turn was itself a follow-up (a later turn of the conversation
            after a "more" or carried question): what a pronoun points to is that turn's answer.
    """

    kind: str | None
    question: str
    read_as: str
    context: str = ""
    anchor: Turn | None = None
    other_document: bool = False
    earlier: tuple[Turn, ...] = ()
    repeat: bool = False
    after_followup: bool = False

    @property
    def combined(self) -> str:
        """The earlier question and this one together (what the safety policy reads)."""
        return f"{self.context} {self.question}".strip()


def _folded(text: str) -> str:
    return " ".join(_FOLD_PUNCT.sub(" ", fold(text)).split())


def _contracted_function_word(word: str) -> bool:
    """Whether a word is a function word with a contraction ("where's", "that's", "it'll")."""
    head, apostrophe, _ = word.partition("'")
    return bool(apostrophe) and head in function_words()


def _has_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(^| ){re.escape(phrase)}( |$)", text) is not None


def _strip_fillers(text: str, fillers: Sequence[str]) -> str:
    """Drop filler words from both ends ("ok so why?" -> "why")."""
    changed = True
    while changed and text:
        changed = False
        for filler in fillers:
            if text == filler:
                return ""
            if text.startswith(filler + " "):
                text, changed = text[len(filler) + 1 :], True
            if text.endswith(" " + filler):
                text, changed = text[: -len(filler) - 1], True
    return text


class FollowupResolver:
    """Reads a question against the earlier turns of its conversation.

    Args:
        cues: Cue lists (defaults to ``qa/followup_cues.toml``).
    """

    def __init__(self, cues: FollowupCues | None = None) -> None:
        self.cues = cues or FollowupCues.load()

    def own_words(self, question: str, subject_words: frozenset[str]) -> list[str]:
        """Content words of a question that name a topic (not the subject, cues or generic words)."""
        cue_words = {word for phrase in (*self.cues.sources, *self.cues.more) for word in phrase.split()}
        return [
            word
            for word in key_terms(question)
            if word not in subject_words and word not in self.cues.generic and word not in cue_words
            and word not in self.cues.pronouns and not _contracted_function_word(word)
        ]

    def focus_words(self, question: str, subject_words: frozenset[str]) -> list[str]:
        """A follow-up's own words with the other forms of an irregular verb among them (the cue
        file's ``carried.word_forms``): the words that say which sentence of an earlier answer it
        asks about ("what did it find?" -> find, finds, found, finding)."""
        own = self.own_words(question, subject_words)
        extra = [form for word in own for group in self.cues.word_forms if word in group for form in group]
        return list(dict.fromkeys([*own, *extra]))

    def topic_words(self, question: str, subject_words: frozenset[str]) -> list[str]:
        """The words naming an earlier question's topic: its own words without the predicate
        right after the subject ("Does glutamine improve intestinal permeability?" ->
        intestinal permeability; "Is glutamine safe with cancer?" -> cancer), unless that is
        all it names."""
        own = self.own_words(question, subject_words)
        tokens = words(question)
        # A word right after the subject is its predicate when the subject is the clause's subject
        # ("Does glutamine improve ...", "Is glutamine safe ..."); after a word of the topic the
        # subject names a kind and the next word is the topic itself ("athletes' glutamine levels",
        # "the clinician's glutamine guide").
        predicates = {
            tokens[position + 1]
            for position, token in enumerate(tokens[:-1])
            if token in subject_words and (position == 0 or tokens[position - 1] in function_words())
        }
        topic = [word for word in own if word not in predicates and word not in self.cues.asking_verbs]
        return topic or own

    def is_more(self, question: str) -> bool:
        """Whether a question asks for more of the last answer and says nothing of its own
        ("and then?" is a phrase of its own before its filler words are dropped)."""
        folded = _folded(question)
        if folded in self.cues.more:
            return True
        text = _strip_fillers(folded, self.cues.fillers)
        return bool(text) and text in self.cues.more

    def asks_reason(self, question: str, subject_words: frozenset[str]) -> bool:
        """Whether a question asks for the reason or the evidence of the last answer in words of
        its own and names nothing else ("why is that a problem?", "where's that from?", "why
        would that be?"): a "more" question that the phrase list does not spell out."""
        text = _strip_fillers(_folded(question), self.cues.fillers)
        return bool(text) and _WHY.match(text) is not None and not self.own_words(question, subject_words)

    def asks_mechanism(self, question: str, subject_words: frozenset[str]) -> bool:
        """Whether a question asks how the last answer's claim comes about and names nothing else
        ("how does it do that?", "how would it cause that?", "what causes that?"): it opens with
        one of the cue file's ``more.mechanism`` phrases and what follows names no word of its own
        but an asking verb ("cause", "happen").

        Args:
            question: The follow-up as asked.
            subject_words: The sources' subject ("glutamine"), never a word of its own.

        Returns:
            Whether it asks for the mechanism or the cause of what was said.
        """
        text = _strip_fillers(_folded(question), self.cues.fillers)
        opener = next((o for o in self.cues.mechanism if text == o or text.startswith(o + " ")), None)
        if opener is None:
            return False
        rest = text[len(opener) :].strip()
        return not [word for word in self.own_words(rest, subject_words) if word not in self.cues.asking_verbs]

    def continues(self, question: str) -> bool:
        """Whether a "more" question asks to go on reading from the last answer ("go on", "keep
        going", "and then?": the cue file's ``more.continuing``), not for more on its topic."""
        folded = _folded(question)
        return folded in self.cues.continuing or _strip_fillers(folded, self.cues.fillers) in self.cues.continuing

    def gives_no_reason(self, text: str) -> bool:
        """Whether a passage opens in a way that gives no reason for what came before it: it draws
        a consequence from it ("This is one reason researchers have examined ...", "That's why
        ...") or turns away from it ("but research has consistently shown ...").

        Args:
            text: The passage (a later part of an earlier answer).

        Returns:
            Whether it opens with one of the cue file's ``more.not_reasons``.
        """
        folded = _folded(text)
        return any(folded == phrase or folded.startswith(phrase + " ") for phrase in self.cues.not_reasons)

    def reason_clause(self, sentence: str) -> tuple[int, int] | None:
        """The later clauses of a sentence when they name a reason or a study (``gives_reason``)
        and do not open as no reason (``gives_no_reason``): "... more contested than popular
        fitness culture often suggests — several well-designed trials have found limited
        additional benefit ..." gives its own reason after its claim.

        Args:
            sentence: One sentence (split as in the cue file's ``[clauses]``).

        Returns:
            Offsets into ``sentence`` from the second clause's start to the last's end, or None.
        """
        pieces = clauses(sentence, self.cues.clause_separators, self.cues.clause_min_words)
        if len(pieces) < 2:
            return None
        later = (pieces[1][0], pieces[-1][1])
        text = sentence[later[0] : later[1]]
        return later if gives_reason(text) and not self.gives_no_reason(text) else None

    def names_only(self, question: str, subject_words: frozenset[str]) -> bool:
        """Whether a follow-up only names something after an ellipsis opener ("and sleep apnea?",
        "what about with gout?"): no pronoun, no predicate, nothing but its own words and function
        words, at most ``max_own_words`` of them. Such a follow-up brings a condition (or a drug,
        or anything else) into the conversation as the asker's concern; whether the name is a
        condition or a drug is for the safety policy to judge.

        Args:
            question: The follow-up as asked.
            subject_words: The sources' subject ("glutamine"), never a name of its own.

        Returns:
            Whether it is such a follow-up.
        """
        text = _folded(question)
        opener = next((o for o in self.cues.ellipsis if text == o or text.startswith(o + " ")), None)
        if opener is None or self._pronoun(question):
            return False
        rest = text[len(opener) :].split()
        own = set(self.own_words(" ".join(rest), subject_words))
        named = [word for word in rest if word not in function_words()]
        return 0 < len(named) <= self.cues.max_own_words and all(word in own for word in named)

    def is_repeat(self, question: str) -> bool:
        """Whether a question asks for the last answer again and says nothing of its own."""
        text = _strip_fillers(_folded(question), self.cues.fillers)
        return bool(text) and text in self.cues.repeat

    def is_sources(self, question: str) -> bool:
        """Whether a question asks what each source says."""
        text = _folded(question)
        return any(_has_phrase(text, phrase) for phrase in self.cues.sources)

    def context_question(self, history: Sequence[Turn], subject_words: frozenset[str]) -> str:
        """The earlier question a follow-up rests on: the last one that names a topic of its own,
        with the topic words of the follow-ups asked after it ("what about athletes?")."""
        chain: list[str] = []
        for turn in reversed(history):
            chain.append(turn.question)
            if self.is_more(turn.question):
                continue
            if self.self_contained(turn.question, subject_words):
                break
        root, *later = reversed(chain)
        extra: list[str] = []
        for question in later:
            extra += [
                word for word in self.own_words(question, subject_words)
                if word not in extra and word not in self.cues.asking_verbs
            ]
        root_words = set(key_terms(root))
        extra = [word for word in extra if word not in root_words]
        return f"{root.strip()} {' '.join(extra)}".strip() if extra else root.strip()

    def sources_topic(self, question: str, context: str, subject_words: frozenset[str]) -> str:
        """What a "what does each source say" question is about: the earlier question, with the
        words the follow-up names of its own ("what do both sources say about the dose?" after
        "How much glutamine should I take?" -> "How much glutamine should I take? dose")."""
        own = [word for word in self.own_words(question, subject_words) if word not in set(key_terms(context))]
        if not context:
            return question.strip()
        return f"{context.strip()} {' '.join(own)}".strip()

    def self_contained(self, question: str, subject_words: frozenset[str]) -> bool:
        """Whether a question names its own topic and leans on nothing said before."""
        own = len(self.own_words(question, subject_words))
        if self._pronoun(question):
            # "can I stop my medication and use it instead?": however much it names, "it" points back.
            return False
        if own > self.cues.max_own_words:
            return True
        return own >= 1 and not self._opens(question)

    def leans(self, question: str, subject_words: frozenset[str]) -> bool:
        """Whether an earlier question was itself a follow-up: a "more" question or one that does
        not name its own topic (what a later turn's pronoun then points to is its answer)."""
        return self.is_more(question) or self.asks_reason(question, subject_words) or not self.self_contained(
            question, subject_words
        )

    def points_back(self, question: str, subject_words: frozenset[str]) -> bool:
        """Whether a follow-up points back at what was said rather than naming a topic of its own:
        it has a pronoun ("how long should I wait between them?") or names nothing ("for how
        long?"); "and what about marathon runners?" names its own."""
        return self._pronoun(question) or not self.own_words(question, subject_words)

    def _opens(self, question: str) -> bool:
        text = _folded(question)
        return any(text == opener or text.startswith(opener + " ") for opener in self.cues.openers)

    def _pronoun(self, question: str) -> bool:
        return any(word in self.cues.pronouns for word in _folded(question).split())

    def carried_reading(self, question: str, context: str, subject_words: frozenset[str]) -> str:
        """The question with the earlier topic named in it.

        A pronoun after a preposition ("for that", "with it") is replaced by the earlier
        question's topic words; otherwise they follow the question in brackets. A follow-up
        without a pronoun that names one of the earlier topic's words itself restates that
        topic's slot ("and with kidney disease?" after "... people with liver disease?"): it
        replaces the earlier topic rather than adding to it, so nothing is carried here (the
        frame reading, :meth:`frame_reading`, asks the earlier question of the new topic).

        Args:
            question: The follow-up as asked.
            context: The earlier question it rests on.
            subject_words: The sources' subject ("glutamine"), never a topic word.

        Returns:
            A self-contained reading.
        """
        asked = set(key_terms(question))
        earlier = self.topic_words(context, subject_words)
        if not self._pronoun(question) and any(word in asked for word in earlier):
            return question.strip()
        topic = [word for word in earlier if word not in asked]
        if not topic:
            topic = [word for word in key_terms(context) if word not in asked]
        if not topic:
            return question.strip()
        phrase = " ".join(topic)
        stem = question.strip().rstrip("?.! ")
        pronouns = "|".join(sorted((re.escape(p) for p in self.cues.pronouns), key=len, reverse=True))
        replaced, count = re.subn(
            rf"\b(for|with|about|of|on|to|from|in|during|after|before)\s+({pronouns})\b(?!\s+\w+ing\b)",
            lambda match: f"{match.group(1)} {phrase}",
            stem,
            count=1,
            flags=re.IGNORECASE,
        )
        replaced = self.subject_named(replaced, question, context, subject_words)
        return f"{replaced}?" if count else f"{replaced} ({phrase})?"

    @staticmethod
    def subject_named(text: str, question: str, context: str, subject_words: frozenset[str]) -> str:
        """``text`` (a reading of ``question``) with its first "it" put as the sources' subject the
        earlier question named, when the follow-up names no subject word of its own: "where is it
        made?" after "Does the body make its own glutamine?" -> "where is glutamine made?".

        Args:
            text: The reading to name the subject in.
            question: The follow-up as asked.
            context: The earlier question it rests on.
            subject_words: The sources' subject words.

        Returns:
            The reading with the subject named, or unchanged.
        """
        subject = next((word for word in words(context) if word in subject_words), None)
        if subject is None or any(word in subject_words for word in words(question)):
            return text
        return re.sub(r"\bit\b(?!')", subject, text, count=1, flags=re.IGNORECASE)

    def frame_reading(self, question: str, context: str, subject_words: frozenset[str]) -> str | None:
        """For an ellipsis ("what about for athletes?"), the earlier question asked of the new
        topic: its own topic words replaced by the follow-up's ("How much glutamine should I take
        for gut health?" -> "How much glutamine should I take for athletes?")."""
        new = self.own_words(question, subject_words)
        old = self.topic_words(context, subject_words)
        text = _folded(question)
        opener = next((o for o in self.cues.ellipsis if text.startswith(o + " ")), None)
        if not new or not old or opener is None:
            return None
        if self._pronoun(question):
            # "and what dose did they take?" asks a question of its own about the earlier topic.
            return None
        rest = text[len(opener) :].split()
        if rest and rest[0] in self.cues.question_words:
            # "and which form is best to buy?" asks a question of its own too, not the earlier one
            # of a new topic (the ellipsis is a topic alone: "and for athletes?").
            return None
        spans = [match.span() for word in old for match in [re.search(rf"\b{re.escape(word)}\b", fold(context))] if match]
        if not spans:
            return None
        low, high = min(span[0] for span in spans), max(span[1] for span in spans)
        if not self._fills_slot(text, context, low, high):
            # "and in marathon runners?" after "Does glutamine support the immune system?": the
            # new topic comes with a preposition the earlier topic's slot does not have.
            return None
        replaced = words(context[low:high])
        if len(replaced) > len(old) + 1 or any(word in subject_words for word in replaced):
            # The topic's words are spread over the question ("Is the glutamine in supplements the
            # same as in food?"): replacing what lies between them would garble it.
            return None
        return f"{context[:low]}{' '.join(new)}{context[high:]}".strip()

    def _fills_slot(self, text: str, context: str, low: int, high: int) -> bool:
        """Whether a follow-up's topic fits the earlier topic's slot (``context[low:high]``): when
        it comes with a preposition (the last word of its ellipsis opener, "and for", or the word
        after it, "and in"), that preposition is the word before the earlier topic or one of its
        words ("for gut health", "for people with liver disease")."""
        opener = next((o for o in self.cues.ellipsis if text.startswith(o + " ")), "")
        rest = text[len(opener) :].split()
        candidates = rest[:1] + ([opener.split()[-1]] if opener else [])
        preposition = next((word for word in candidates if word in self.cues.prepositions), None)
        if preposition is None:
            return True
        before = words(fold(context[:low]))
        # "for the immune system", "after a workout": the word before the topic's determiner.
        while before and before[-1] in self.cues.determiners:
            before.pop()
        slot = set(words(fold(context[low:high]))) | set(before[-1:])
        return preposition in slot

    def condition_reading(
        self, question: str, names: Sequence[str], context: str = "", subject_words: frozenset[str] = frozenset()
    ) -> str | None:
        """The follow-up with the conditions the sources never name put as the kind of thing they
        are (the cue file's ``carried.unnamed_condition``, "a chronic health condition"): "what if
        I have lupus?" -> "what if I have a chronic health condition?". The sources say nothing of
        lupus; what they say of a condition they do not list is what they say of conditions in
        general, whatever the earlier topic was (a reading that also named it, "... (gut
        repair)?", found that topic's passage again: train r140, quality-history stop 38).

        Args:
            question: The follow-up as asked.
            names: Names in the follow-up that the safety policy judges conditions and that the
                sources never use (:meth:`qa.pipeline.Answerer.unnamed_conditions`).
            context: The earlier question: an "it" standing for the subject it named is put as
                that subject, as in the carried reading ("is it safe for someone with diabetes?"
                after "How does glutamine help athletes?" -> "is glutamine safe for someone with a
                chronic health condition?").
            subject_words: The sources' subject words.

        Returns:
            The reading, or None without a cue phrase or when no name is found in the question.
        """
        phrase = self.cues.unnamed_condition
        replaced, count = question.strip(), 0
        for name in names:
            replaced, found = re.subn(rf"\b{re.escape(name)}\b", phrase, replaced, count=1, flags=re.IGNORECASE)
            count += found
        if not (phrase and count):
            return None
        return self.subject_named(replaced, question, context, subject_words) if context else replaced

    def carried_readings(self, plan: FollowupPlan, subject_words: frozenset[str]) -> list[str]:
        """The readings of a carried follow-up worth answering, the plan's own first: the topic
        named in it, and (after an ellipsis opener) the earlier question asked of the new topic.
        Both questions run together are not a reading: their answer is mostly the earlier one."""
        readings = [plan.read_as]
        frame = self.frame_reading(plan.question, plan.context, subject_words)
        if frame and frame not in readings and frame != plan.question:
            readings.append(frame)
        return readings

    def names_what_was_said(self, question: str, said: str, subject_words: frozenset[str]) -> bool:
        """Whether a short question that names a topic of its own names it from the last answer
        ("how many participants?" after "A 2021 study ... in 124 participants over 12 weeks.", "is
        the mechanism known?" after "... The mechanism isn't fully understood ..."): it asks about
        what was just said, so it leans on it. Not when it names the sources' subject itself ("Is
        glutamine found in dairy?" asks anew) or more than ``max_own_words`` words.

        Args:
            question: The follow-up as asked.
            said: The text the last answer quoted ("" when it abstained).
            subject_words: The sources' subject.

        Returns:
            Whether one of its own words, in some form, is in the last answer.
        """
        own = self.own_words(question, subject_words)
        if not said or not own or len(own) > self.cues.max_own_words:
            return False
        if any(word in subject_words for word in words(question)):
            return False
        return mentions(said, own)

    def run(
        self, question: str, history: Sequence[Turn], subject_words: frozenset[str] = frozenset(), said: str = ""
    ) -> FollowupPlan:
        """Plan how to answer a question of a conversation.

        Args:
            question: The question (trimmed).
            history: Earlier turns, oldest first (at most ``TUNABLES.followup.max_history_turns`` are read).
            subject_words: The sources' subject words (from the index).
            said: The text the last turn's answer quoted ("" when unknown or abstained).

        Returns:
            The plan; ``kind`` is None without history.
        """
        question = question.strip()
        history = list(history)[-TUNABLES.followup.max_history_turns :]
        if not history:
            return FollowupPlan(None, question, question)
        last = history[-1]
        anchor = last if last.answered else None
        earlier = tuple(turn for turn in history if turn.answered)
        context = self.context_question(history, subject_words)
        if self.is_repeat(question):
            return FollowupPlan(
                MORE, question, f"{question.rstrip('?.! ')} (again: {context})", context, anchor, earlier=earlier, repeat=True
            )
        if (
            self.is_more(question) or self.asks_reason(question, subject_words)
            # "how does it do that?" after an abstention has no answer to explain: a carried candidate.
            or (anchor is not None and self.asks_mechanism(question, subject_words))
        ):
            return FollowupPlan(MORE, question, f"{question.rstrip('?.! ')} (more on: {context})", context, anchor, earlier=earlier)
        if self.is_sources(question):
            text = _folded(question)
            other = any(_has_phrase(text, phrase) for phrase in self.cues.other)
            topic = self.sources_topic(question, context, subject_words)
            read_as = f"What does each source say: {topic.rstrip('?.! ')}?"
            return FollowupPlan(SOURCES, question, read_as, topic, anchor, other_document=other, earlier=earlier)
        if self.self_contained(question, subject_words) and not self.names_what_was_said(question, said, subject_words):
            # A question that names its own topic and leans on nothing is a new question: carrying
            # the earlier topic into it could only make it worse (the safety policy reads it alone).
            return FollowupPlan(None, question, question, context, anchor, earlier=earlier)
        return FollowupPlan(
            CARRIED, question, self.carried_reading(question, context, subject_words), context, anchor,
            earlier=earlier, after_followup=len(history) > 1 and self.leans(last.question, subject_words),
        )


def likely_right(abstained: bool, confidence: float) -> float:
    """The calibrated chance that an answer does what was asked: an answer's confidence, or for
    an abstention the chance that nothing answers (one less its answerable probability).

    Args:
        abstained: Whether the answer abstained.
        confidence: Its reported confidence (for an abstention, the answerable probability).

    Returns:
        A probability.
    """
    return 1.0 - confidence if abstained else confidence


@dataclass(frozen=True)
class FollowupModel:
    """The fitted decision whether a follow-up's carried reading replaces the question as asked.

    Both readings are answered; the carried one is used when its calibrated chance of being
    right (:func:`likely_right`) exceeds the question-as-asked's by at least ``margin``. The
    margin is the one number fitted on the dev conversations (``verbatim eval --dialogs
    eval/dialogs.jsonl --calibrate-followup``): dev gives too few follow-ups where the readings
    differ in outcome to fit weights of several signals.

    Attributes:
        margin: Lead in chance of being right the carried reading needs (0: at least as likely).
        provenance: How the number was produced.
    """

    margin: float = 0.0
    provenance: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> FollowupModel:
        """Read ``qa/followup_calibration.toml`` (written by ``verbatim eval --calibrate-followup``)."""
        raw = tomllib.loads(Path(path or DEFAULT_FOLLOWUP_CALIBRATION_PATH).read_text(encoding="utf-8"))
        return cls(
            margin=float(raw["carried"]["margin"]),
            provenance={k: str(v) for k, v in raw.get("provenance", {}).items()},
        )

    def to_toml(self) -> str:
        """Serialise in the format :meth:`load` reads."""
        return "\n".join(
            [
                "# Fitted by `verbatim eval --dialogs eval/dialogs.jsonl --calibrate-followup` on the dev split.",
                "# Do not edit by hand. Read by qa/followup.py (FollowupModel): whether a follow-up's carried",
                "# reading (the earlier topic named in it) is answered instead of the question as asked: when",
                "# its calibrated chance of being right leads the question-as-asked's by at least `margin`.",
                "",
                "[provenance]",
                *(f'{key} = "{value}"' for key, value in self.provenance.items()),
                "",
                "[carried]",
                f"margin = {self.margin:.6f}",
                "",
            ]
        )

    def lead(self, fresh: tuple[bool, float], carried: tuple[bool, float]) -> float:
        """The carried reading's lead in chance of being right (each reading: abstained, confidence)."""
        return likely_right(*carried) - likely_right(*fresh)

    @staticmethod
    def decided(fresh: tuple[bool, float], carried: tuple[bool, float]) -> bool | None:
        """The cases the margin does not decide: when the question as asked abstains and the
        carried reading answers, the carried reading is answered. The abstention only says that
        the words of the follow-up alone ("by how much?") name nothing the sources answer, which
        is no evidence against the conversation's question; the carried reading passed its own
        abstention check. None when the margin decides."""
        if fresh[0] and not carried[0]:
            return True
        return None

    def carry(self, fresh: tuple[bool, float], carried: tuple[bool, float]) -> bool:
        """Whether to answer the carried reading.

        Args:
            fresh: The question as asked: whether it abstained, and its confidence.
            carried: The same for the carried reading.

        Returns:
            True when the question as asked abstains and the carried reading answers
            (:meth:`decided`), else when the carried reading's lead reaches the margin.
        """
        rule = self.decided(fresh, carried)
        if rule is not None:
            return rule
        return self.lead(fresh, carried) >= self.margin


def fit_margin(examples: Sequence[tuple[float, int, int]]) -> float:
    """The margin that gets the most dev follow-ups right.

    Args:
        examples: Per dev follow-up: the carried reading's lead, and how well the question as
            asked and the carried reading did (right answer or abstention, plus right disclaimer).

    Returns:
        The margin between two observed leads (or 0) that scores best; of equals, the closest to 0.
    """
    leads = sorted({lead for lead, _, _ in examples})
    candidates = {0.0, *((a + b) / 2 for a, b in zip(leads, leads[1:], strict=False))}
    if leads:
        candidates |= {leads[0] - 1e-3, leads[-1] + 1e-3}

    def score(margin: float) -> int:
        return sum(carried if lead >= margin else fresh for lead, fresh, carried in examples)

    return max(sorted(candidates, key=abs), key=score)


def neighbourhood(
    store: IndexStore, anchor: Turn, why: bool, question_vector: np.ndarray, follow: bool = False
) -> tuple[int, int] | None:
    """The sentences to quote for "tell me more" about an earlier answer.

    Every answerable sentence of the anchor's document that the anchor did not quote competes:
    its similarity to the conversation's question (the earlier question and "tell me more"
    together) and to the quoted answer, less a cost per sentence of distance from it, with a
    small lead for what follows the answer (not for "why?": a reason comes before as often as
    after) and, for "why?", for a sentence that gives a reason or a study; but when the answer's
    own paragraph or list item goes on, what follows in it comes first. The next sentences of the winner's paragraph join it up to
    ``TUNABLES.followup.more_max_chars``.

    Args:
        store: The loaded index.
        anchor: The earlier turn (answered).
        why: The question asks for the reason or the evidence.
        question_vector: Embedding of the combined question.
        follow: The question asks to go on reading ("go on"): the first sentence after the answer
            that can answer is the winner, in its paragraph or the next.

    Returns:
        First and last sentence numbers, or None when the document holds nothing more.
    """
    doc = store.doc_index.get(anchor.doc_id or "")
    if doc is None or anchor.start is None or anchor.end is None:
        return None
    in_doc = np.flatnonzero(store.sentence_doc == doc)
    if not len(in_doc):
        return None
    starts, ends = store.sentence_start[in_doc], store.sentence_end[in_doc]
    quoted = in_doc[(starts < anchor.end) & (ends > anchor.start)]
    if len(quoted):
        first, last = int(quoted[0]), int(quoted[-1])
        anchor_vector = store.sentence_vectors[quoted].mean(axis=0)
    else:
        first = last = int(in_doc[np.searchsorted(starts, anchor.start).clip(0, len(in_doc) - 1)])
        anchor_vector = store.sentence_vectors[first]

    anchor_blocks = {int(store.sentence_block[first]), int(store.sentence_block[last])}

    def usable(sentence: int) -> bool:
        return (
            int(store.sentence_doc[sentence]) == doc
            and BlockKind(int(store.sentence_kind[sentence])) not in _NOT_ANSWERS
            and not store.sentence_text(sentence).rstrip().endswith("?")
            and (int(store.sentence_end[sentence]) <= anchor.start or int(store.sentence_start[sentence]) >= anchor.end)
        )

    best, best_score = None, -np.inf
    # The rest of the answer's own paragraph or list item comes first, as a reader goes on.
    rest = [s for s in range(last + 1, int(in_doc[-1]) + 1) if int(store.sentence_block[s]) == int(store.sentence_block[last])]
    # "Why?" asks for a reason, which comes before the answer as often as after it: there the rest
    # of the paragraph only competes (with its lead), it is not taken first.
    rest = [s for s in rest if usable(s)] if not why else []
    if follow and not rest:
        # Asked to go on reading: what follows the answer, past its paragraph's end.
        rest = [s for s in range(last + 1, int(in_doc[-1]) + 1) if usable(s)][:1]
    for sentence in () if rest else (int(s) for s in in_doc):
        if not usable(sentence):
            continue
        after = sentence > last
        distance = sentence - last if after else first - sentence
        score = (
            float(store.sentence_vectors[sentence] @ question_vector)
            + TUNABLES.followup.more_anchor_weight * float(store.sentence_vectors[sentence] @ anchor_vector)
            - TUNABLES.followup.more_distance_cost * min(distance, TUNABLES.followup.more_max_distance)
            # A reason comes before the answer as often as after it ("Kidney issues: Similar
            # problem—impaired ammonia clearance." rests on the liver entry just before it).
            + (TUNABLES.followup.more_following_lead if after and not why else 0.0)
            + (TUNABLES.followup.more_same_block_lead if int(store.sentence_block[sentence]) in anchor_blocks else 0.0)
            + (TUNABLES.followup.more_reason_lead if why and gives_reason(store.sentence_text(sentence)) else 0.0)
        )
        if score > best_score:
            best, best_score = sentence, score
    if rest:
        best = rest[0]
    if best is None:
        return None
    start = end = best
    # A sentence from the middle of a list item or a short paragraph brings the item's start
    # ("Glutamine can interfere with their mechanisms." needs the medicines named before it).
    block = int(store.sentence_block[best])
    while (
        start - 1 >= 0
        and int(store.sentence_block[start - 1]) == block
        and usable(start - 1)
        and int(store.sentence_end[best]) - int(store.sentence_start[start - 1]) <= TUNABLES.followup.more_max_chars
    ):
        start -= 1
    # The next sentence of the same paragraph joins while the answer stays short.
    while (
        end + 1 < len(store.sentence_doc)
        and usable(end + 1)
        and int(store.sentence_block[end + 1]) == int(store.sentence_block[best])
        and int(store.sentence_end[end + 1]) - int(store.sentence_start[start]) <= TUNABLES.followup.more_max_chars
    ):
        end += 1
    return start, end


def opens_before(store: IndexStore, anchor: Turn, fact: int) -> bool:
    """Whether an earlier answer opens before its fact: it quotes more than one sentence, and the
    sentence it was chosen for (``fact``) is one of them but not the first (a run-in label,
    "Glucose regulation support.", or a lead-in sentence, "Some studies add another 5 grams before
    bed on training days.", comes before the claim).

    Args:
        store: The loaded index.
        anchor: The earlier turn (answered).
        fact: Number of the sentence the earlier answer was chosen for.

    Returns:
        Whether the answer's later sentences hold its fact.
    """
    doc = store.doc_index.get(anchor.doc_id or "")
    if doc is None or anchor.start is None or anchor.end is None:
        return False
    quoted = store.sentences_in(doc, anchor.start, anchor.end)
    return len(quoted) > 1 and fact in quoted[1:]


def in_paragraph(store: IndexStore, anchor: Turn, doc_id: str | None, start: int | None) -> bool:
    """Whether a span starting at ``start`` of ``doc_id`` starts in a paragraph (or list item) an
    earlier answer quoted from: it goes on in that answer's own block.

    Args:
        store: The loaded index.
        anchor: The earlier turn (answered).
        doc_id: The span's document.
        start: The span's start (document offset).

    Returns:
        Whether the span's first sentence is in one of the blocks of the anchor's sentences.
    """
    doc = store.doc_index.get(anchor.doc_id or "")
    if doc is None or doc_id != anchor.doc_id or start is None or anchor.start is None or anchor.end is None:
        return False
    blocks = {int(store.sentence_block[s]) for s in store.sentences_in(doc, anchor.start, anchor.end)}
    return any(int(store.sentence_block[s]) in blocks for s in store.sentences_in(doc, start, start))


def clauses(text: str, separators: Sequence[str], min_words: int) -> list[tuple[int, int]]:
    """The clauses of a sentence, as offsets into it (separators and surrounding spaces left out).

    Args:
        text: One sentence.
        separators: Strings that end a clause ("; ", "—", ", but ").
        min_words: A piece with fewer words joins the clause before it (or after it, at the start).

    Returns:
        ``(start, end)`` of each clause, in order; one span for the whole sentence when it does not
        split into at least two clauses of ``min_words`` words.
    """
    cuts: list[tuple[int, int]] = []
    for separator in separators:
        start = text.find(separator)
        while start >= 0:
            cuts.append((start, start + len(separator)))
            start = text.find(separator, start + len(separator))
    pieces: list[tuple[int, int]] = []
    position = 0
    for cut_start, cut_end in sorted(set(cuts)):
        if cut_start < position:
            continue
        pieces.append((position, cut_start))
        position = cut_end
    pieces.append((position, len(text)))
    merged: list[tuple[int, int]] = []
    for start, end in pieces:
        short = len(text[start:end].split()) < min_words
        if merged and (short or len(text[merged[-1][0] : merged[-1][1]].split()) < min_words):
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))

    def trimmed(span: tuple[int, int]) -> tuple[int, int]:
        start, end = span
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        return start, end

    spans = [trimmed(span) for span in merged]
    return spans if len(spans) > 1 else [trimmed((0, len(text)))]


def gives_reason(text: str) -> bool:
    """Whether a passage names a reason or a study ("because", "mechanism", "study", "found",
    ...): what "why?" asks for."""
    return _EXPLAINS.search(text) is not None


def asks_why(question: str) -> bool:
    """Whether a "more" question asks for the reason or the evidence rather than what follows."""
    return _WHY.match(_folded(question)) is not None


def _stem(word: str) -> str:
    """A word without its common English endings ("dosing", "doses" -> "dos"; "cancers", "cancer" -> "canc")."""
    changed = True
    while changed:
        changed = False
        for ending in ("ing", "est", "ed", "es", "er", "s", "e"):
            if word.endswith(ending) and len(word) - len(ending) >= 3:
                word, changed = word[: -len(ending)], True
                break
    return word


def mentions(text: str, topic_words: Sequence[str]) -> bool:
    """Whether a passage names one of a topic's words, in any of its common forms ("dose" /
    "dosing", "cancer" / "cancers"); True without topic words.

    Args:
        text: The passage.
        topic_words: Folded content words of the topic.

    Returns:
        Whether one of them is in the passage.
    """
    if not topic_words:
        return True
    present = {_stem(word) for word in words(text)}
    return any(_stem(word) in present for word in topic_words)


def conversation_vector(question_vector: np.ndarray, said_vector: np.ndarray) -> np.ndarray:
    """The topic of a conversation as one query vector: the earlier question's and the earlier
    answer's meaning, each weighted ``TUNABLES.followup.sources_answer_weight`` relative to the other.

    A "what does the other article say?" follow-up asks about what was asked *and* what the
    answer said about it; the answer's own words are the sources' words for the topic.

    Args:
        question_vector: Embedding of the topic's question (unit length).
        said_vector: Meaning of the earlier answer (e.g. the mean of its sentences' vectors).

    Returns:
        A unit vector of the question's dtype (the question's own when ``said_vector`` is zero).
    """
    said_norm = float(np.linalg.norm(said_vector))
    if said_norm == 0.0:
        return question_vector
    blend = question_vector / max(float(np.linalg.norm(question_vector)), 1e-12) + (
        TUNABLES.followup.sources_answer_weight * said_vector / said_norm
    )
    return (blend / max(float(np.linalg.norm(blend)), 1e-12)).astype(question_vector.dtype)
