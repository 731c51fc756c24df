"""Training pairs for the MedQuAD benchmark from its dev split (issue 21's second corpus).

A pair is a dev question and the best chunk of one of its relevant documents: the document is
read, cleaned and chunked exactly as ``verbatim ingest`` does it (so the span indexes the
canonical text ingest checks pairs against), and among the chunks of the question's relevant
documents the one whose base-model vector is nearest the question is chosen (a document of one
chunk needs no embedding). Test questions are never read. The pairs file is written outside the
repository (``*.pairs.jsonl``) and given to ingest with ``--benchmark-pairs``, so the MedQuAD
index is adapted by the same code path as the glutamine corpus (``ingest/adapt.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eval.medquad.data import CORPUS_FILE, MAX_CORPUS_BYTES, BenchmarkQuestion, load_questions
from ingest.loader import SourceText, is_pairs_file, read_sources
from ingest.pipeline import IngestStages
from verbatim.safety_policy import SafetyPolicy
from verbatim.settings import Settings

PAIR_STYLE = "plain"  # templated questions, in the documents' own words
PAIR_SOURCE = "written"  # shipped with the (benchmark) corpus, not from user feedback


@dataclass(frozen=True)
class ChunkSpan:
    """A chunk of a document as ingest cuts it.

    Attributes:
        doc_id: Document id.
        start: First character in the canonical text.
        end: One past its last character.
        text: The text ingest embeds for it (a later chunk of a section carries the heading).
    """

    doc_id: str
    start: int
    end: int
    text: str


@dataclass
class PairsBuild:
    """What :func:`build_pairs` made.

    Attributes:
        pairs: Pair records, ready to write one JSON object a line.
        questions: Dev questions read.
        unanswerable: Dev questions none of whose relevant documents ingest keeps.
        embedded_chunks: Chunks embedded to choose among several.
    """

    pairs: list[dict]
    questions: int
    unanswerable: int
    embedded_chunks: int


def document_chunks(corpus: Path, doc_ids: set[str], embedder, settings: Settings) -> tuple[dict[str, str], dict[str, list[ChunkSpan]]]:
    """Canonical text and chunks of some corpus records, by ingest's own loader, parser and chunker.

    Args:
        corpus: The benchmark's ``corpus.jsonl``.
        doc_ids: Documents wanted.
        embedder: Warm embedder (its tokenizer measures chunk sizes).
        settings: Chunking settings.

    Returns:
        Canonical text by document id, and each document's chunks in order.
    """

    sources = [
        item for item in read_sources([corpus], MAX_CORPUS_BYTES) if isinstance(item, SourceText) and item.doc_id in doc_ids
    ]
    stages = IngestStages()
    parsed, _ = stages.parse(sources, settings, False)
    tables = stages.tables(parsed, embedder, settings, SafetyPolicy.load())
    canonical = {item.document.doc_id: item.document.text for item in parsed}
    chunks: dict[str, list[ChunkSpan]] = {doc_id: [] for doc_id in canonical}
    table = tables.chunks
    for doc, start, end, text in zip(table["doc"], table["start"], table["end"], tables.chunk_texts, strict=True):
        doc_id = parsed[doc].document.doc_id
        chunks[doc_id].append(ChunkSpan(doc_id, int(start), int(end), text))
    return canonical, chunks


def best_chunks(
    questions: Sequence[BenchmarkQuestion], chunks: dict[str, list[ChunkSpan]], embedder, batch: int = 256
) -> tuple[list[ChunkSpan | None], int]:
    """For each question, the chunk of its relevant documents nearest it.

    Args:
        questions: Questions with relevance labels.
        chunks: Chunks by document id (:func:`document_chunks`).
        embedder: Warm embedder (questions by ``encode_queries``, chunks by ``encode_passages``,
            as the index embeds them).
        batch: Questions embedded per call.

    Returns:
        The chosen chunk (None when no relevant document has one) per question, and how many
        chunks were embedded. Ties go to the earlier chunk in (relevant ids, document) order.
    """
    candidates = [[chunk for doc in question.relevant_ids for chunk in chunks.get(doc, ())] for question in questions]
    several = [number for number, found in enumerate(candidates) if len(found) > 1]
    texts = sorted({chunk.text for number in several for chunk in candidates[number]})
    vectors = dict(zip(texts, embedder.encode_passages(texts), strict=True)) if texts else {}
    chosen: list[ChunkSpan | None] = [found[0] if found else None for found in candidates]
    for begin in range(0, len(several), batch):
        numbers = several[begin : begin + batch]
        question_vectors = embedder.encode_queries([questions[number].question for number in numbers])
        for number, question_vector in zip(numbers, question_vectors, strict=True):
            scores = np.array([float(vectors[chunk.text] @ question_vector) for chunk in candidates[number]])
            chosen[number] = candidates[number][int(scores.argmax())]
    return chosen, len(texts)


def build_pairs(folder: Path, embedder, settings: Settings) -> PairsBuild:
    """Training pairs of the benchmark's dev split.

    Args:
        folder: Benchmark folder (``corpus.jsonl``, ``questions.dev.jsonl``).
        embedder: Warm base embedder.
        settings: Chunking settings (those the benchmark index is built with).

    Returns:
        One pair per dev question that has a relevant document ingest keeps, in file order.
    """
    questions = load_questions(folder, "dev")
    wanted = {doc for question in questions for doc in question.relevant_ids}
    canonical, chunks = document_chunks(Path(folder) / CORPUS_FILE, wanted, embedder, settings)
    chosen, embedded = best_chunks(questions, chunks, embedder)
    pairs = [
        {
            "id": f"medquad-dev-{question.id}",
            "question": question.question,
            "doc_id": chunk.doc_id,
            "start": chunk.start,
            "end": chunk.end,
            "quote": canonical[chunk.doc_id][chunk.start : chunk.end],
            "style": PAIR_STYLE,
            "source": PAIR_SOURCE,
        }
        for question, chunk in zip(questions, chosen, strict=True)
        if chunk is not None
    ]
    return PairsBuild(pairs, len(questions), sum(chunk is None for chunk in chosen), embedded)


def write_pairs(pairs: Sequence[dict], path: Path) -> None:
    """Write pairs as JSONL (the name must end in ``.pairs.jsonl`` for ingest to read it as pairs).

    Args:
        pairs: Pair records.
        path: Output file (its folder is created).

    Raises:
        ValueError: When the name would make ingest read it as documents.
    """

    path = Path(path)
    if not is_pairs_file(path):
        raise ValueError(f"{path}: a pairs file must be named *.pairs.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(pair, ensure_ascii=False) + "\n" for pair in pairs), encoding="utf-8")
