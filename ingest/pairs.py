"""Training pairs: (question, answer span) files that ship with a corpus and adapt its embedder.

A pairs file is JSONL named ``*.pairs.jsonl`` (the loader never reads it as a document). One
object per line::

    {"id": "tp-0001", "question": str, "doc_id": str, "start": int, "end": int, "quote": str,
     "style": "plain"|"casual"|"typo"|"lay", "source": "written"|"feedback"}

``start``/``end`` index the document's canonical text and ``quote`` must equal
``canonical[start:end]``. A line may instead hold a question the corpus does **not** answer,
(an out-of-scope question; no span). ``fit`` says what learns from it, and each is kept apart
from the other: ``embedder`` questions are pushed away from every sentence while the embedder is
adapted; ``abstention`` questions are never shown to the embedder and join the dev questions as
unanswerable examples when ``verbatim eval --calibrate`` fits the abstention model::

    {"id": "oos-0001", "question": str, "out_of_scope": true, "fit": "embedder"|"abstention",
     "style": ..., "source": ...}
 Every pair is checked at load; a pair that fails is left out with a
reason (as an unreadable document is), so one bad line never stops an ingest. A pair whose
question is the same as, or a near-duplicate of, an eval question is left out too: the eval
questions judge the adapted model and must never be trained on.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

STYLES = frozenset({"plain", "casual", "typo", "lay"})
SOURCES = frozenset({"written", "feedback"})
OUT_OF_SCOPE_FITS = frozenset({"embedder", "abstention"})
# The eval question files, read as data (never imported): a pair must not be one of them.
EVAL_QUESTION_DIR = Path(__file__).resolve().parents[1] / "eval"
# Near-duplicate: 70% of the words or 80% of the character trigrams in common (Jaccard).
# "how much glutamine per day" vs "how much glutamine per day?" or one typo apart is caught;
# "how much glutamine for my gut" vs "how much glutamine for sleep" is not.
NEAR_DUPLICATE_WORDS = 0.7
NEAR_DUPLICATE_TRIGRAMS = 0.8

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class TrainingPair:
    """One question and the span of canonical text that answers it.

    Attributes:
        id: Unique id within the pairs read for one ingest.
        question: The question as a person would ask it.
        doc_id: Document holding the answer.
        start: First character of the answer span in the canonical text.
        end: One past its last character.
        quote: ``canonical[start:end]``.
        style: plain, casual, typo or lay.
        source: written (shipped with the corpus) or feedback (from users, with consent).
        origin: ``file:line`` it was read from.
    """

    id: str
    question: str
    doc_id: str
    start: int
    end: int
    quote: str
    style: str
    source: str
    origin: str = ""


@dataclass(frozen=True)
class OutOfScopeQuestion:
    """A question the corpus does not answer, trained to stay far from every sentence.

    Attributes:
        id: Unique id within the pairs read for one ingest (shared with the pairs).
        question: The question as a person would ask it.
        fit: ``embedder`` (pushed away from the sentences in training) or ``abstention`` (an
            unanswerable example for the abstention model's fit, never shown to the embedder).
        style: plain, casual, typo or lay.
        source: written or feedback.
        origin: ``file:line`` it was read from.
    """

    id: str
    question: str
    fit: str
    style: str
    source: str
    origin: str = ""


@dataclass
class RejectedPair:
    """A line of a pairs file that was left out, and why."""

    origin: str
    reason: str


@dataclass
class PairSet:
    """The valid pairs of an ingest and the lines left out.

    Attributes:
        pairs: Valid pairs, in file order.
        rejected: Lines left out with their reasons.
        files: Files read.
        out_of_scope: Valid out-of-scope questions, in file order.
    """

    pairs: list[TrainingPair] = field(default_factory=list)
    rejected: list[RejectedPair] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    out_of_scope: list[OutOfScopeQuestion] = field(default_factory=list)

    def out_of_scope_for(self, fit: str) -> list[str]:
        """The out-of-scope questions meant for one learner (``embedder`` or ``abstention``)."""
        return [item.question for item in self.out_of_scope if item.fit == fit]

    def content_hash(self) -> str:
        """SHA-256 of the valid pairs and out-of-scope questions (what a model trained on them
        depends on; without out-of-scope questions, the same hash as before they existed)."""
        rows: list[dict] = [
            {key: value for key, value in asdict(pair).items() if key != "origin"} for pair in self.pairs
        ]
        rows += [
            {key: value for key, value in asdict(item).items() if key != "origin"} | {"out_of_scope": True}
            for item in self.out_of_scope
        ]
        return hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def normalise_question(text: str) -> str:
    """Lower-case words of a question, punctuation and spacing dropped (for duplicate checks)."""
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def _trigrams(text: str) -> frozenset[str]:
    padded = f"  {text} "
    return frozenset(padded[index : index + 3] for index in range(len(padded) - 2))


class _SetMatrix:
    """Sets of features (words or trigrams) as a 0/1 matrix, for Jaccard similarity in bulk."""

    def __init__(self, rows: Sequence[frozenset[str]]) -> None:
        self.columns: dict[str, int] = {}
        for row in rows:
            for feature in row:
                self.columns.setdefault(feature, len(self.columns))
        self.matrix = self.encode(rows)
        self.sizes = np.array([len(row) for row in rows], dtype=np.float32)

    def encode(self, rows: Sequence[frozenset[str]]) -> np.ndarray:
        matrix = np.zeros((len(rows), len(self.columns)), dtype=np.float32)
        for number, row in enumerate(rows):
            matrix[number, [self.columns[feature] for feature in row if feature in self.columns]] = 1.0
        return matrix

    def jaccard(self, rows: Sequence[frozenset[str]]) -> np.ndarray:
        """Jaccard similarity of each given set (rows) with each stored set (columns)."""
        common = self.encode(rows) @ self.matrix.T
        sizes = np.array([len(row) for row in rows], dtype=np.float32)
        union = sizes[:, None] + self.sizes[None, :] - common
        return np.divide(common, union, out=np.ones_like(common), where=union > 0)


class EvalQuestionGuard:
    """Tells whether a question is, or nearly is, one of the eval questions.

    Args:
        questions: The eval questions' texts.
    """

    def __init__(self, questions: Iterable[str]) -> None:
        self._exact: dict[str, str] = {}
        for question in questions:
            normal = normalise_question(question)
            if normal:
                self._exact.setdefault(normal, question)
        self._texts = list(self._exact.values())
        normals = list(self._exact)
        self._words = _SetMatrix([frozenset(normal.split()) for normal in normals])
        self._trigrams = _SetMatrix([_trigrams(normal) for normal in normals])

    @classmethod
    def from_folder(cls, folder: Path = EVAL_QUESTION_DIR) -> EvalQuestionGuard:
        """Read every eval question file of a folder (``*.jsonl`` other than pairs files).

        Args:
            folder: Folder of eval question files (``eval/`` of this repository by default).

        Returns:
            The guard (empty when the folder does not exist, e.g. in an installed package).
        """
        questions: list[str] = []
        if folder.is_dir():
            for path in sorted(folder.glob("*.jsonl")):
                if path.name.endswith(".pairs.jsonl"):
                    continue
                for line in path.read_text(encoding="utf-8").splitlines():
                    try:
                        row = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(row, dict) and isinstance(row.get("question"), str):
                        questions.append(row["question"])
        return cls(questions)

    def __len__(self) -> int:
        return len(self._texts)

    def match(self, question: str) -> str | None:
        """The eval question this one duplicates or nearly duplicates, or None."""
        return self.match_many([question])[0]

    def match_many(self, questions: Sequence[str]) -> list[str | None]:
        """For each question, the eval question it duplicates or nearly duplicates, or None.

        Args:
            questions: Training questions.

        Returns:
            One eval question text (the most similar) or None per question.
        """
        if not self._texts or not questions:
            return [None] * len(questions)
        normals = [normalise_question(question) for question in questions]
        words = self._words.jaccard([frozenset(normal.split()) for normal in normals])
        trigrams = self._trigrams.jaccard([_trigrams(normal) for normal in normals])
        near = (words >= NEAR_DUPLICATE_WORDS) | (trigrams >= NEAR_DUPLICATE_TRIGRAMS)
        closest = np.maximum(words, trigrams).argmax(axis=1)
        return [
            self._exact.get(normal) or (self._texts[int(best)] if row.any() else None)
            for normal, row, best in zip(normals, near, closest, strict=True)
        ]


def _parse(raw: object, origin: str) -> TrainingPair | OutOfScopeQuestion | str:
    """A pair (or out-of-scope question) from one parsed line, or the reason it is malformed."""
    if not isinstance(raw, dict):
        return "not a JSON object"
    if raw.get("out_of_scope") is True:
        return _parse_out_of_scope(raw, origin)
    for key, kind in (("id", str), ("question", str), ("doc_id", str), ("quote", str), ("style", str), ("source", str)):
        if not isinstance(raw.get(key), kind):
            return f"'{key}' is missing or not a string"
    for key in ("start", "end"):
        if not isinstance(raw.get(key), int) or isinstance(raw.get(key), bool):
            return f"'{key}' is missing or not an integer"
    problem = _labels_problem(raw)
    if problem is not None:
        return problem
    return TrainingPair(
        id=raw["id"], question=raw["question"].strip(), doc_id=raw["doc_id"], start=raw["start"], end=raw["end"],
        quote=raw["quote"], style=raw["style"], source=raw["source"], origin=origin,
    )


def _labels_problem(raw: dict) -> str | None:
    """Why a line's question, style or source is unusable (pairs and out-of-scope lines alike)."""
    if not raw["question"].strip():
        return "empty question"
    if raw["style"] not in STYLES:
        return f"style '{raw['style']}' is not one of {', '.join(sorted(STYLES))}"
    if raw["source"] not in SOURCES:
        return f"source '{raw['source']}' is not one of {', '.join(sorted(SOURCES))}"
    return None


def _parse_out_of_scope(raw: dict, origin: str) -> OutOfScopeQuestion | str:
    """An out-of-scope question from one parsed line, or the reason it is malformed."""
    for key in ("id", "question", "fit", "style", "source"):
        if not isinstance(raw.get(key), str):
            return f"'{key}' is missing or not a string"
    if raw["fit"] not in OUT_OF_SCOPE_FITS:
        return f"fit '{raw['fit']}' is not one of {', '.join(sorted(OUT_OF_SCOPE_FITS))}"
    if any(key in raw for key in ("doc_id", "start", "end", "quote")):
        return "an out-of-scope question has no answer span"
    problem = _labels_problem(raw)
    if problem is not None:
        return problem
    return OutOfScopeQuestion(raw["id"], raw["question"].strip(), raw["fit"], raw["style"], raw["source"], origin)


def load_pairs(
    files: Sequence[Path], canonical: Mapping[str, str], guard: EvalQuestionGuard | None = None
) -> PairSet:
    """Read and check training pairs against the documents being ingested.

    A pair is kept only if it is well formed, its id is new, its document is being ingested,
    its span lies within that document's canonical text and holds exactly its quote (not only
    white space), and its question is not (nearly) an eval question. An out-of-scope question is
    kept when it is well formed, its id is new and it is not (nearly) an eval question.

    Args:
        files: Pairs files (missing files are skipped silently: the feedback file is optional).
        canonical: Canonical text of every document being ingested, by id.
        guard: Eval questions no pair may duplicate; defaults to this repository's ``eval/``.

    Returns:
        The valid pairs and out-of-scope questions, and the lines left out with their reasons.
    """
    guard = guard if guard is not None else EvalQuestionGuard.from_folder()
    result = PairSet()
    seen: set[str] = set()
    candidates: list[TrainingPair | OutOfScopeQuestion] = []
    for path in files:
        path = Path(path)
        if not path.is_file():
            continue
        result.files.append(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            result.rejected.append(RejectedPair(str(path), f"unreadable pairs file: {error}"))
            continue
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            origin = f"{path}:{number}"
            try:
                parsed = _parse(json.loads(line), origin)
            except ValueError:
                parsed = "not valid JSON"
            if isinstance(parsed, str):
                reason: str | None = parsed
            elif isinstance(parsed, OutOfScopeQuestion):
                reason = f"id {parsed.id} is used twice" if parsed.id in seen else None
            else:
                reason = _problem(parsed, canonical, seen)
            if reason is not None:
                result.rejected.append(RejectedPair(origin, f"training pair left out: {reason}"))
                continue
            assert not isinstance(parsed, str)
            seen.add(parsed.id)
            candidates.append(parsed)
    duplicates = guard.match_many([pair.question for pair in candidates])
    for pair, duplicate in zip(candidates, duplicates, strict=True):
        if duplicate is None:
            (result.out_of_scope if isinstance(pair, OutOfScopeQuestion) else result.pairs).append(pair)
        else:
            reason = f"training pair left out: question duplicates the eval question {duplicate!r}"
            result.rejected.append(RejectedPair(pair.origin, reason))
    return result


def _problem(pair: TrainingPair, canonical: Mapping[str, str], seen: set[str]) -> str | None:
    """Why a well-formed pair cannot be used, or None."""
    if pair.id in seen:
        return f"id {pair.id} is used twice"
    text = canonical.get(pair.doc_id)
    if text is None:
        return f"document '{pair.doc_id}' is not among the documents ingested"
    if not 0 <= pair.start < pair.end <= len(text):
        return f"span {pair.start}:{pair.end} is outside '{pair.doc_id}' ({len(text)} characters)"
    if text[pair.start : pair.end] != pair.quote:
        return f"quote is not the canonical text of '{pair.doc_id}' at {pair.start}:{pair.end}"
    if not pair.quote.strip():
        return "the quote is only white space"
    return None
