"""A small synthetic index for unit tests of the QA feature builders, made without the model.

Documents are written as blocks of sentences with a structural kind; every sentence gets a
chosen unit vector (by default the next axis, so a sentence's similarity to a question is exactly
the weight the question vector gives that axis). Everything else is the real code: the index
tables are in the layout of :mod:`verbatim.index_format`, BM25 and FAISS are built by
:mod:`ingest.indexers`, and :class:`qa.store.IndexStore` reads them as it reads a real build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest.indexers import build_bm25, build_vector_index, build_vocabulary
from qa.store import IndexStore
from qa.types import Query
from verbatim import index_format
from verbatim.index_format import EVIDENCE_COLUMNS, BlockKind, Document, IndexContents, Section
from verbatim.textutil import bm25_terms, key_terms


@dataclass
class Block:
    """One block: its kind, its sentences, and optionally what they hang from.

    Attributes:
        kind: Structural kind.
        sentences: Sentence texts (joined with one space).
        pointer: Number (in the whole index) of the FAQ question or lead-in sentence the
            block's sentences hang from, or -1.
        topics: Safety topic bits of each sentence (default: none).
        hubness: Hubness of each sentence (default: 0).
    """

    kind: BlockKind
    sentences: list[str]
    pointer: int = -1
    topics: list[int] = field(default_factory=list)
    hubness: list[float] = field(default_factory=list)


def build_store(
    documents: dict[str, list[Block]], dimensions: int = 32, topic_ids: tuple[str, ...] = (),
    extra_chunks: tuple[tuple[int, int], ...] = (),
) -> IndexStore:
    """Build an in-memory index of synthetic documents, one chunk per block.

    Args:
        documents: Document id -> its blocks, in order (each document is one section).
        dimensions: Vector size (at least the number of sentences).
        topic_ids: Safety topic ids of the topic bits.
        extra_chunks: More chunks, as (first, last) sentence numbers of one document, each
            numbered after its document's block chunks (chunks that overlap, as real ones do).

    Returns:
        The store; sentence ``n`` has the unit vector of axis ``n``.
    """
    docs, blocks, sentences, chunks = [], _table("doc start end kind section"), _table(
        "doc start end block section topics heading pointer"
    ), _table("doc start end section first_sentence last_sentence")
    sentence_texts, chunk_texts, hubness = [], [], []
    for doc_number, (doc_id, doc_blocks) in enumerate(documents.items()):
        text, heading = "", -1
        for block in doc_blocks:
            block_start, first = len(text), len(sentence_texts)
            for position, sentence in enumerate(block.sentences):
                start = len(text)
                text += sentence
                _add(sentences, doc=doc_number, start=start, end=len(text), block=len(blocks["doc"]), section=0,
                     topics=block.topics[position] if block.topics else 0, heading=heading, pointer=block.pointer)
                sentence_texts.append(sentence)
                hubness.append(block.hubness[position] if block.hubness else 0.0)
                text += " " if position < len(block.sentences) - 1 else ""
            _add(blocks, doc=doc_number, start=block_start, end=len(text), kind=int(block.kind), section=0)
            _add(chunks, doc=doc_number, start=block_start, end=len(text), section=0, first_sentence=first,
                 last_sentence=len(sentence_texts) - 1)
            chunk_texts.append(text[block_start:])
            if block.kind == BlockKind.HEADING:
                heading = first
            text += "\n\n"
        text = text.rstrip("\n")
        for first, last in extra_chunks:
            if sentences["doc"][first] == doc_number:
                start, end = sentences["start"][first], sentences["end"][last]
                _add(chunks, doc=doc_number, start=start, end=end, section=0, first_sentence=first, last_sentence=last)
                chunk_texts.append(text[start:end])
        docs.append(Document(doc_id=doc_id, title=doc_id.title(), source=f"{doc_id}.txt", content_hash="synthetic",
                             text=text, sections=[Section(doc_id.title(), 0, len(text))], encoding="utf-8"))
    count = len(sentence_texts)
    assert count <= dimensions, "one axis per sentence"
    sentence_vectors = np.eye(count, dimensions, dtype=np.float32)
    chunk_vectors = np.stack([sentence_vectors[first : last + 1].sum(axis=0) for first, last in zip(chunks["first_sentence"], chunks["last_sentence"], strict=True)])
    chunk_vectors /= np.linalg.norm(chunk_vectors, axis=1, keepdims=True)
    faiss_index, faiss_description = build_vector_index(chunk_vectors)
    contents = IndexContents(
        manifest={"faiss": faiss_description, "safety_policy": {"topics": list(topic_ids)}},
        documents=docs,
        blocks=_arrays(blocks),
        sentences=_arrays(sentences),
        chunks=_arrays(chunks),
        sentence_vectors=sentence_vectors,
        sentence_hubness=np.array(hubness, dtype=np.float32),
        chunk_vectors=chunk_vectors,
        faiss_index=faiss_index,
        bm25=build_bm25(chunk_texts),
        vocabulary=build_vocabulary(document.text for document in docs),
        sentence_evidence={name: np.zeros(count, dtype=np.int32) for name in EVIDENCE_COLUMNS},
    )
    return IndexStore(contents, Path("synthetic"))


def query(text: str, weights: dict[int, float], dimensions: int = 32) -> Query:
    """A prepared question whose vector gives each sentence axis its weight (normalised).

    Args:
        text: The question (used as asked and normalised).
        weights: Sentence number -> similarity before normalisation.
        dimensions: Vector size of the store.

    Returns:
        The query.
    """
    vector = np.zeros(dimensions, dtype=np.float32)
    for axis, weight in weights.items():
        vector[axis] = weight
    norm = float(np.linalg.norm(vector))
    return Query(text=text, normalised=text, vector=vector / norm if norm else vector,
                 terms=tuple(bm25_terms(text)), key_terms=tuple(key_terms(text)))


def _table(columns: str) -> dict[str, list[int]]:
    return {name: [] for name in columns.split()}


def _add(table: dict[str, list[int]], **row: int) -> None:
    for name, value in row.items():
        table[name].append(value)


def _arrays(table: dict[str, list[int]]) -> dict[str, np.ndarray]:
    return {name: np.asarray(values, dtype=np.int32) for name, values in table.items()}


def live_build_with_pair_questions(root: Path, columns: dict[str, np.ndarray]) -> Path:
    """An index folder at ``root`` whose live build holds only ``pair_questions.npz`` with these
    columns, written and manifested by :mod:`verbatim.index_format` as ingest writes them.

    Args:
        root: The index folder (created).
        columns: The file's columns.

    Returns:
        The build folder.
    """
    build = root / "builds" / "b1"
    build.mkdir(parents=True)
    index_format.write_pair_questions(build, columns)
    index_format._finish_manifest(build, {})
    (root / "CURRENT").write_text("b1", encoding="utf-8")
    return build
