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
from dataclasses import dataclass
from pathlib import Path

from ingest.loader import SourceText
from ingest.parse import ParsedDocument, parse_source
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
