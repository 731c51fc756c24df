"""Evidence labels (issue 26): the hand-labelled sets and the MedQuAD sentence sample.

The hand labels live in ``eval/evidence_labels.jsonl`` (every sentence of the two articles) and
``eval/evidence_medquad_sample.jsonl`` (200 MedQuAD sentences), made with the guideline in
``eval/EVIDENCE.md``. The MedQuAD sample is drawn by :func:`sample_medquad_sentences` with a
fixed seed, so the same 200 sentences come back from the same benchmark file.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, replace
from pathlib import Path

from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from ingest.loader import SourceText, discover, read_sources
from ingest.parse import ParsedDocument, parse_source
from ingest.pipeline import build_tables
from qa.training.dataset import contains_gold
from verbatim.index_format import EVIDENCE_DESIGNS, EVIDENCE_KINDS
from verbatim.safety_policy import SafetyPolicy
from verbatim.settings import Settings

MEDQUAD_SAMPLE_SEED = 26
MEDQUAD_SAMPLE_SIZE = 200


@dataclass(frozen=True)
class SampledSentence:
    """One sentence drawn from a MedQuAD document (offsets into its canonical text)."""

    doc_id: str
    start: int
    end: int
    text: str


def parse_record(record: dict, max_sentence_chars: int) -> ParsedDocument:
    """Parse one MedQuAD corpus record the way ``verbatim ingest`` parses a JSONL record."""
    line = json.dumps(record, ensure_ascii=False)
    source = SourceText(
        doc_id=str(record["id"]),
        source=str(record["id"]),
        kind="record",
        text=record["text"],
        content_hash=hashlib.sha256(line.encode("utf-8")).hexdigest(),
        encoding="utf-8",
        title=str(record["title"]) if record.get("title") else None,
    )
    return parse_source(source, max_sentence_chars)


def sample_medquad_sentences(
    benchmark_dir: Path, size: int = MEDQUAD_SAMPLE_SIZE, seed: int = MEDQUAD_SAMPLE_SEED
) -> list[SampledSentence]:
    """Draw ``size`` sentences from distinct MedQuAD documents, reproducibly.

    ``random.Random(seed)`` picks ``size`` distinct line numbers of ``corpus.jsonl`` (sorted),
    then, with the same generator and in that order, one sentence of each parsed document.

    Args:
        benchmark_dir: The MedQuAD benchmark folder (holds ``corpus.jsonl``).
        size: Sentences to draw.
        seed: Seed of the generator.

    Returns:
        The sentences in corpus order.
    """
    lines = (Path(benchmark_dir) / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(len(lines)), size))
    max_chars = Settings().chunking.max_sentence_chars
    sample = []
    for number in chosen:
        parsed = parse_record(json.loads(lines[number]), max_chars)
        sentence = rng.choice(parsed.sentences)
        text = parsed.document.text[sentence.start : sentence.end]
        sample.append(SampledSentence(parsed.document.doc_id, sentence.start, sentence.end, text))
    return sample


# -- scoring the labeller against the hand labels ------------------------------------------------

ARTICLE_LABELS = Path(__file__).with_name("evidence_labels.jsonl")
MEDQUAD_LABELS = Path(__file__).with_name("evidence_medquad_sample.jsonl")
# Issue 26's bars on the two articles.
TARGET_PRECISION = {"study": 0.9, "anecdote": 0.9, "caution": 0.9}
TARGET_ACCURACY = 0.85


@dataclass(frozen=True)
class HandLabel:
    """One hand-labelled sentence (a row of an ``evidence_*.jsonl`` file)."""

    doc_id: str
    start: int
    end: int
    text: str
    kind: str
    design: str | None


@dataclass
class EvidenceScore:
    """Predicted against hand labels for one set of sentences.

    Attributes:
        name: What was scored.
        gold: Hand labels, in file order.
        predicted: The labeller's kind for each.
        predicted_designs: Its design for each.
    """

    name: str
    gold: list[HandLabel]
    predicted: list[str]
    predicted_designs: list[str | None]

    @property
    def accuracy(self) -> float:
        return sum(g.kind == p for g, p in zip(self.gold, self.predicted, strict=True)) / max(1, len(self.gold))

    def per_kind(self) -> dict[str, tuple[float, float, int, int]]:
        """``kind -> (precision, recall, predicted count, gold count)`` (sklearn's definitions)."""
        gold = [label.kind for label in self.gold]
        precision, recall, _, support = precision_recall_fscore_support(
            gold, self.predicted, labels=list(EVIDENCE_KINDS), zero_division=0
        )
        predicted_counts = [self.predicted.count(kind) for kind in EVIDENCE_KINDS]
        return {
            kind: (float(p), float(r), int(n), int(s))
            for kind, p, r, n, s in zip(EVIDENCE_KINDS, precision, recall, predicted_counts, support, strict=True)
        }

    def confusion(self) -> list[list[int]]:
        """Rows: hand label; columns: predicted label; both in ``EVIDENCE_KINDS`` order."""
        return confusion_matrix([g.kind for g in self.gold], self.predicted, labels=list(EVIDENCE_KINDS)).tolist()

    def design_agreement(self) -> tuple[int, int]:
        """Designs equal to the hand label, over sentences both call a study or a caution."""
        pairs = [
            (g.design, d)
            for g, p, d in zip(self.gold, self.predicted, self.predicted_designs, strict=True)
            if g.kind == p and p in ("study", "caution")
        ]
        return sum(a == b for a, b in pairs), len(pairs)

    def errors(self) -> list[tuple[HandLabel, str]]:
        """Every sentence whose predicted kind differs from its hand label."""
        return [(g, p) for g, p in zip(self.gold, self.predicted, strict=True) if g.kind != p]


def load_hand_labels(path: Path) -> list[HandLabel]:
    """Read a hand-label file (one JSON object per line)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            rows.append(HandLabel(raw["doc_id"], raw["start"], raw["end"], raw["text"], raw["kind"], raw["design"]))
    return rows


def label_parsed(parsed: list[ParsedDocument], embedder, settings: Settings) -> dict[tuple[str, int, int], tuple[str, str | None]]:
    """Label documents exactly as ``verbatim ingest`` does (its table builder, its safety tags).

    Returns:
        ``(doc_id, start, end) -> (kind, design)`` for every sentence.
    """
    tables = build_tables(parsed, embedder, settings, SafetyPolicy.load())
    labels = {}
    for row, (doc, start, end) in enumerate(zip(tables.sentences["doc"], tables.sentences["start"], tables.sentences["end"], strict=True)):
        kind = EVIDENCE_KINDS[tables.evidence["kind"][row]]
        design = EVIDENCE_DESIGNS[tables.evidence["design"][row]]
        labels[(parsed[doc].document.doc_id, int(start), int(end))] = (kind, design)
    return labels


def _score(name: str, gold: list[HandLabel], labels: dict[tuple[str, int, int], tuple[str, str | None]]) -> EvidenceScore:
    missing = [g for g in gold if (g.doc_id, g.start, g.end) not in labels]
    if missing:
        raise ValueError(f"{len(missing)} hand-labelled sentences of {name} are not sentences of the parsed text, e.g. {missing[0]}")
    predicted = [labels[(g.doc_id, g.start, g.end)] for g in gold]
    return EvidenceScore(name, gold, [kind for kind, _ in predicted], [design for _, design in predicted])


def score_articles(corpus_dir: Path, embedder, settings: Settings, labels_path: Path = ARTICLE_LABELS) -> EvidenceScore:
    """Label the corpus articles as ingest does and score them against their hand labels."""
    files, _ = discover([Path(corpus_dir)])
    sources = [item for item in read_sources(files, settings.max_file_bytes) if isinstance(item, SourceText)]
    parsed = [parse_source(source, settings.chunking.max_sentence_chars) for source in sources]
    return _score("articles", load_hand_labels(labels_path), label_parsed(parsed, embedder, settings))


def score_medquad(benchmark_dir: Path, embedder, settings: Settings, labels_path: Path = MEDQUAD_LABELS) -> EvidenceScore:
    """Label the sampled MedQuAD documents as ingest does and score the sampled sentences."""
    gold = load_hand_labels(labels_path)
    wanted = {g.doc_id for g in gold}
    parsed = []
    with (Path(benchmark_dir) / "corpus.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if record["id"] in wanted:
                parsed.append(parse_record(record, settings.chunking.max_sentence_chars))
    for g in gold:
        document = next(item.document for item in parsed if item.document.doc_id == g.doc_id)
        if not document.text[g.start : g.end].startswith(g.text.rstrip("…")):
            raise ValueError(f"MedQuAD sentence {g.doc_id} {g.start}:{g.end} no longer matches its stored text")
    return _score("MedQuAD sample", gold, label_parsed(parsed, embedder, settings))


def format_score(score: EvidenceScore, targets: bool) -> str:
    """The per-label table, the confusion table and accuracy, as printed by ``verbatim eval --evidence``."""
    lines = [f"{score.name}: {len(score.gold)} hand-labelled sentences"]
    lines.append(f"  {'kind':<15} {'precision':>9} {'recall':>7} {'predicted':>9} {'hand':>5}  target")
    for kind, (precision, recall, predicted, support) in score.per_kind().items():
        target = ""
        if targets and kind in TARGET_PRECISION:
            met = "met" if precision >= TARGET_PRECISION[kind] else "NOT MET"
            target = f"precision >= {TARGET_PRECISION[kind]}: {met}"
        lines.append(f"  {kind:<15} {precision:>9.3f} {recall:>7.3f} {predicted:>9} {support:>5}  {target}")
    correct = sum(g.kind == p for g, p in zip(score.gold, score.predicted, strict=True))
    accuracy = f"  accuracy {score.accuracy:.3f} ({correct}/{len(score.gold)})"
    if targets:
        accuracy += f"  target >= {TARGET_ACCURACY}: {'met' if score.accuracy >= TARGET_ACCURACY else 'NOT MET'}"
    lines.append(accuracy)
    agree, total = score.design_agreement()
    lines.append(f"  design as hand-labelled on {agree}/{total} sentences labelled study or caution by both")
    short = {"background": "backgr", "caution": "caution", "study": "study", "recommendation": "recomm", "anecdote": "anecdote"}
    lines.append("  confusion (rows: hand label, columns: predicted)")
    lines.append("  " + " " * 15 + "".join(f"{short[kind]:>9}" for kind in EVIDENCE_KINDS))
    for kind, row in zip(EVIDENCE_KINDS, score.confusion(), strict=True):
        lines.append(f"  {kind:<15}" + "".join(f"{value:>9}" for value in row))
    return "\n".join(lines)


def targets_met(score: EvidenceScore) -> bool:
    """Whether the articles' score meets issue 26's bars."""
    per_kind = score.per_kind()
    return score.accuracy >= TARGET_ACCURACY and all(per_kind[kind][0] >= bar for kind, bar in TARGET_PRECISION.items())


# -- the answer-selection rule's effect on the eval set ------------------------------------------


@dataclass
class SelectionEffect:
    """Answers to questions about effectiveness or dose, with and without the anecdote rule.

    Attributes:
        split: The eval split.
        asked: Answered questions (of the split) about effectiveness or dose.
        anecdote_without: How many of them an anecdote answers without the rule.
        anecdote_with: ... with the rule.
        changed: Questions whose answer the rule changed: (id, hit without, hit with).
    """

    split: str
    asked: int
    anecdote_without: int
    anecdote_with: int
    changed: list[tuple[str, bool, bool]]


def selection_effect(answerer, questions, split: str) -> SelectionEffect:
    """Answer every effectiveness or dose question of a split with and without the rule.

    Args:
        answerer: A warm :class:`qa.pipeline.Answerer` (its ``evidence_policy`` is swapped for
            the "without" run and restored).
        questions: Eval questions (``qa.training.dataset.EvalQuestion``).
        split: Name of the split, for the report.
    """
    policy = answerer.evidence_policy
    asked = without_count = with_count = 0
    changed = []
    for question in questions:
        query = answerer.prepare(question.question)
        if not policy.asks_effect_or_dose(query.normalised):
            continue
        with_rule = answerer.trace(query)[0]
        answerer.evidence_policy = replace(policy, preferred=frozenset())
        try:
            without_rule = answerer.trace(query)[0]
        finally:
            answerer.evidence_policy = policy
        if with_rule.abstained and without_rule.abstained:
            continue
        asked += 1
        without_count += _is_anecdote(without_rule)
        with_count += _is_anecdote(with_rule)
        if with_rule.answer != without_rule.answer:
            changed.append((question.id, contains_gold(without_rule.answer, question.gold), contains_gold(with_rule.answer, question.gold)))
    return SelectionEffect(split, asked, without_count, with_count, changed)


def _is_anecdote(answer) -> bool:
    return bool(answer.passages) and answer.passages[0].evidence is not None and answer.passages[0].evidence.kind == "anecdote"


def format_selection(effect: SelectionEffect) -> str:
    """The selection rule's effect, as printed by ``verbatim eval --evidence``."""
    lines = [
        f"{effect.split} split: {effect.asked} answered questions about effectiveness or dose; answered by an anecdote "
        f"without the rule {effect.anecdote_without}, with it {effect.anecdote_with}; answers changed {len(effect.changed)}"
    ]
    for identifier, hit_before, hit_after in effect.changed:
        lines.append(f"  {identifier}: gold fact in the answer without the rule {hit_before}, with it {hit_after}")
    return "\n".join(lines)
