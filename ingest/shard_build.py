"""Write a sharded build shard by shard, so that no process holds the whole index.

``verbatim ingest --ray ADDRESS --shards N`` builds each shard on the cluster's workers: the
driver keeps what is corpus-wide and small (the documents' texts and tables, the vocabulary, the
BM25 term statistics, the counts, the safety topics and the manifest) and hands each worker one
shard's documents. Two passes, with a reduce on the driver between them:

1. :func:`write_shard`: the shard's vectors (from the embedding cache, the live build or the
   model), its tables, vectors, evidence and vector index written to its folder; it returns its
   counts and its BM25 term statistics.
2. :func:`finish_shard`: once the term statistics of every shard are summed, the shard's BM25
   index scored with the whole corpus's document frequencies and average chunk length; and its
   sentences' hubness, computed against every shard's reference sentences one shard at a time
   (so a process holds its own and one other shard's sentence vectors).

Between the two, a build with an adapted model has one worker write its training questions'
vectors (``pair_questions.npz``, at the build's root: corpus-wide, one vector per training
pair; :func:`run_pair_questions`), taken from the live build when unchanged or embedded there,
so the driver holds none of those vectors either.

The files are those :func:`ingest.sharding.split_into_shards` writes from a whole build (tested
byte for byte). The shard folders are written by the workers, so the index folder must be at the
same path on every node (one machine, or a shared file system), as ``verbatim serve --ray``
already requires for reading it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ingest import hubness
from ingest.chunker import embedded_texts
from ingest.embed_cache import EmbeddingCache, text_key
from ingest.indexers import (
    TermStatistics,
    bm25_with_statistics,
    build_vector_index,
    merge_term_statistics,
    term_statistics,
)
from ingest.pair_questions import PairQuestions, pair_question_columns
from verbatim import index_format
from verbatim.index_format import Document, IndexContents

Encoder = Callable[[list[str]], np.ndarray]


@dataclass
class VectorSource:
    """Where a worker finds the vectors of its shard's texts before embedding them.

    Attributes:
        cache_folder: The embedding cache's resume shards of the model that embeds.
        index_dir: The index folder (its live build's vectors are re-used).
        model_name: Name of the model that embeds.
        weights_hash: Hash of its weights.
        dimensions: Vector size.
    """

    cache_folder: str
    index_dir: str
    model_name: str
    weights_hash: str
    dimensions: int


@dataclass(frozen=True)
class CorpusTables:
    """The whole build as the driver holds it before cutting it into shards (no vectors).

    Attributes:
        documents: Every document, in order.
        tables: ``blocks``, ``sentences`` and ``chunks`` (int32 columns).
        evidence: The sentences' evidence columns.
        sentence_texts: The sentences' texts, in row order.
        chunk_texts: The chunks' texts as embedded, in row order.
    """

    documents: Sequence[Document]
    tables: dict[str, dict[str, np.ndarray]]
    evidence: dict[str, np.ndarray]
    sentence_texts: Sequence[str]
    chunk_texts: Sequence[str]


@dataclass
class ShardJob:
    """What a worker needs to write one shard's own files (pass 1).

    Attributes:
        number: The shard (0-based).
        folder: Its folder in the temporary build.
        documents: Its documents, in order.
        tables: ``blocks``, ``sentences`` and ``chunks`` in its own row numbering.
        evidence: Its sentences' evidence columns.
        sentence_texts: Its sentences' texts, in row order.
        chunk_texts: Its chunks' texts as embedded.
        global_documents: The whole corpus's number of each of its documents.
        global_chunks: The whole corpus's number of each of its chunks.
        vector_index: ``flat`` or ``hnsw`` (default: by its size).
    """

    number: int
    folder: str
    documents: list[Document]
    tables: dict[str, dict[str, np.ndarray]]
    evidence: dict[str, np.ndarray]
    sentence_texts: list[str]
    chunk_texts: list[str]
    global_documents: np.ndarray
    global_chunks: np.ndarray
    vector_index: str | None = None


@dataclass
class ShardPart:
    """What pass 1 of a shard returns to the driver (small).

    Attributes:
        number: The shard.
        counts: Its manifest counts.
        faiss: Its vector index's description.
        terms: Its chunks' BM25 term statistics.
        embedded: Texts its worker embedded.
        reused: Texts whose vectors were found in the cache or the live build.
    """

    number: int
    counts: dict[str, int]
    faiss: dict[str, Any]
    terms: TermStatistics
    embedded: int
    reused: int


@dataclass
class ReferenceBlock:
    """The reference sentences of one shard that hubness compares every sentence with.

    Attributes:
        folder: That shard's folder.
        rows: Their rows in its sentence vectors.
        ids: Their numbers in the whole corpus.
    """

    folder: str
    rows: np.ndarray
    ids: np.ndarray


@dataclass
class FinishJob:
    """What a worker needs to finish one shard once the corpus statistics are merged (pass 2).

    Attributes:
        number: The shard.
        folder: Its folder (pass 1 wrote its sentence vectors there).
        chunk_texts: Its chunks' texts as embedded.
        sentence_ids: The whole corpus's number of each of its sentences.
        sentences: Sentences in the whole corpus.
        references: Every shard's reference sentences.
        corpus: BM25 term statistics of every chunk of the corpus.
    """

    number: int
    folder: str
    chunk_texts: list[str]
    sentence_ids: np.ndarray
    sentences: int
    references: list[ReferenceBlock]
    corpus: TermStatistics


@dataclass
class PairQuestionsJob:
    """What a worker needs to write a build's training questions (``pair_questions.npz``).

    Attributes:
        folder: The temporary build's root, where the file goes.
        questions: The training questions and their spans, without vectors.
    """

    folder: str
    questions: PairQuestions


@dataclass
class PairQuestionsPart:
    """What the worker that wrote the training questions returns to the driver (no vector).

    Attributes:
        rows: Questions written.
        reused: Whether their vectors were the live build's (else the worker embedded them).
    """

    rows: int
    reused: bool


class ShardRunner(Protocol):
    """Runs the passes of every shard (in this process, or as Ray tasks)."""

    def write(self, jobs: Sequence[ShardJob], source: VectorSource) -> list[ShardPart]:
        """Pass 1 of every shard; the parts in the jobs' order."""
        ...

    def pair_questions(self, job: PairQuestionsJob, source: VectorSource) -> PairQuestionsPart:
        """The build's training questions written to its root (:func:`run_pair_questions`)."""
        ...

    def finish(self, jobs: Sequence[FinishJob]) -> None:
        """Pass 2 of every shard."""
        ...


@dataclass
class ShardedFiles:
    """What the driver keeps of a sharded build written by the workers.

    Attributes:
        entries: Each shard's manifest entry.
        corpus: BM25 term statistics of the whole corpus.
        embedded: Texts embedded by the workers.
        reused: Texts whose vectors were re-used.
    """

    entries: list[dict[str, Any]]
    corpus: TermStatistics
    embedded: int
    reused: int


def shard_jobs(
    temp: Path, corpus: CorpusTables, count: int, vector_index: str | None = None
) -> tuple[list[ShardJob], list[np.ndarray]]:
    """Cut the build's tables into one job per shard (:data:`verbatim.index_format.SHARD_ASSIGNMENT`).

    Args:
        temp: The temporary build folder.
        corpus: The whole build's documents, tables and texts.
        count: Shards.
        vector_index: ``flat`` or ``hnsw`` in every shard (default: by each shard's size).

    Returns:
        The jobs, and the whole corpus's number of each shard's sentences.
    """
    documents, tables = corpus.documents, corpus.tables
    assignment = index_format.shard_of_documents(len(documents), count)
    jobs, sentence_rows = [], []
    for number in range(count):
        docs = np.flatnonzero(assignment == number)
        picked, rows = index_format.select_tables(tables["blocks"], tables["sentences"], tables["chunks"], len(documents), docs)
        sentences = rows["sentences"]
        jobs.append(ShardJob(
            number=number,
            folder=str(temp / index_format.shard_folder(number)),
            documents=[documents[int(doc)] for doc in docs],
            tables=picked,
            evidence={column: values[sentences] for column, values in corpus.evidence.items()},
            sentence_texts=[corpus.sentence_texts[int(row)] for row in sentences],
            chunk_texts=[corpus.chunk_texts[int(row)] for row in rows["chunks"]],
            global_documents=docs.astype(np.int64),
            global_chunks=rows["chunks"],
            vector_index=vector_index,
        ))
        sentence_rows.append(sentences)
    return jobs, sentence_rows


def shard_vectors(job: ShardJob, source: VectorSource, encoder: Callable[[], Encoder]) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The vectors of one shard's sentences and chunks, embedding only what no earlier build or
    interrupted run saved; each batch embedded is saved to the cache at once (resume).

    Args:
        job: The shard.
        source: The cache folder and the live build.
        encoder: Makes the batch encoder (called only when something must be embedded).

    Returns:
        Sentence vectors, chunk vectors, texts embedded, texts re-used.
    """
    cache = EmbeddingCache(Path(source.cache_folder), source.dimensions)
    wanted = {text_key(text) for text in (*job.sentence_texts, *job.chunk_texts)}
    try:
        for piece in index_format.embedded_pieces(Path(source.index_dir), source.model_name, source.weights_hash):
            for texts, vectors in zip(embedded_texts(piece), (piece.sentence_vectors, piece.chunk_vectors), strict=True):
                keep = [row for row, text in enumerate(texts) if text_key(text) in wanted]
                cache.seed([texts[row] for row in keep], vectors[keep])
    except (index_format.IndexError_, OSError, ValueError, KeyError, TypeError):
        pass  # no usable live build: as the single-machine path, nothing to re-use from it
    cache.load_shards(wanted)
    made: list[Encoder] = []

    def encode(texts: list[str]) -> np.ndarray:
        if not made:
            made.append(encoder())
        return made[0](texts)

    sentence_vectors = cache.embed(job.sentence_texts, encode)
    chunk_vectors = cache.embed(job.chunk_texts, encode)
    return sentence_vectors, chunk_vectors, cache.embedded, cache.reused


def write_shard(job: ShardJob, sentence_vectors: np.ndarray, chunk_vectors: np.ndarray) -> tuple[dict[str, int], dict[str, Any], TermStatistics]:
    """Pass 1: write what the shard holds of its own documents alone.

    Args:
        job: The shard.
        sentence_vectors: Its sentences' vectors.
        chunk_vectors: Its chunks' vectors.

    Returns:
        Its counts, its vector index's description and its BM25 term statistics.
    """
    folder = Path(job.folder)
    folder.mkdir(parents=True, exist_ok=True)
    faiss_index, description = build_vector_index(chunk_vectors, job.vector_index)
    contents = IndexContents(
        manifest={},
        documents=job.documents,
        blocks=job.tables["blocks"],
        sentences=job.tables["sentences"],
        chunks=job.tables["chunks"],
        sentence_vectors=sentence_vectors,
        sentence_hubness=np.zeros(0, dtype=np.float32),
        chunk_vectors=chunk_vectors,
        faiss_index=faiss_index,
        bm25=None,
        vocabulary={},
        sentence_evidence=job.evidence,
    )
    index_format.write_document_files(folder, contents)
    index_format.write_global_numbers(folder, job.global_documents, job.global_chunks)
    return index_format.contents_counts(contents), description, term_statistics(job.chunk_texts)


def finish_jobs(
    jobs: Sequence[ShardJob], sentence_rows: Sequence[np.ndarray], corpus: TermStatistics, reference_limit: int | None = None
) -> list[FinishJob]:
    """The reduce: every shard's pass 2, with the corpus's term statistics and reference sentences.

    Args:
        jobs: The pass-1 jobs.
        sentence_rows: The whole corpus's number of each shard's sentences.
        corpus: The merged term statistics.
        reference_limit: Most reference sentences (default: hubness's).

    Returns:
        One job per shard.
    """
    sentences = sum(len(rows) for rows in sentence_rows)
    references = hubness.reference_rows(sentences, reference_limit or hubness.HUBNESS_REFERENCE_LIMIT)
    blocks = []
    for job, rows in zip(jobs, sentence_rows, strict=True):
        local = np.flatnonzero(np.isin(rows, references))
        blocks.append(ReferenceBlock(folder=job.folder, rows=local, ids=rows[local]))
    return [
        FinishJob(number=job.number, folder=job.folder, chunk_texts=job.chunk_texts, sentence_ids=rows,
                  sentences=sentences, references=blocks, corpus=corpus)
        for job, rows in zip(jobs, sentence_rows, strict=True)
    ]


def finish_shard(job: FinishJob) -> None:
    """Pass 2: the shard's BM25 index and its sentences' hubness against the whole corpus.

    Args:
        job: The shard, with the corpus statistics and every shard's reference sentences.
    """
    folder = Path(job.folder)
    own = np.load(folder / "sentence_vectors.npy")
    if job.sentences <= hubness.HUBNESS_NEIGHBOURS:
        scores = np.zeros(len(own), dtype=np.float32)
    else:
        found = []
        for block in job.references:  # one other shard's reference vectors at a time
            vectors = np.load(Path(block.folder) / "sentence_vectors.npy", mmap_mode="r")
            found.append(hubness.candidates(own, np.asarray(vectors[block.rows]), block.ids))
            del vectors
        scores = hubness.hubness_from_candidates(hubness.merge(found), job.sentence_ids)
    index_format.write_search_files(folder, scores, bm25_with_statistics(job.chunk_texts, job.corpus))


def write_shards(
    temp: Path,
    corpus: CorpusTables,
    count: int,
    source: VectorSource,
    runner: ShardRunner,
    vector_index: str | None = None,
    questions: PairQuestionsJob | None = None,
) -> ShardedFiles:
    """Write every shard folder of a sharded build through ``runner``, and the training questions'
    file when the build has an adapted model (the other corpus-wide files and the manifest are
    the caller's: :func:`verbatim.index_format.finish_sharded_build`).

    Args:
        temp: The temporary build folder.
        corpus: The whole build's documents, tables and texts.
        count: Shards.
        source: Where the workers find vectors already computed.
        runner: Runs the passes.
        vector_index: ``flat`` or ``hnsw`` in every shard (default: by each shard's size).
        questions: The adapted model's training questions (None: the base model, no file).

    Returns:
        The shards' manifest entries and the corpus's BM25 term statistics.
    """
    jobs, sentence_rows = shard_jobs(temp, corpus, count, vector_index)
    parts = runner.write(jobs, source)
    if questions is not None:
        written = runner.pair_questions(questions, source)
        if written.rows != len(questions.questions.questions):
            raise RuntimeError(f"{written.rows} training question(s) written of {len(questions.questions.questions)}")
    statistics = merge_term_statistics(part.terms for part in parts)
    runner.finish(finish_jobs(jobs, sentence_rows, statistics))
    return ShardedFiles(
        entries=[index_format.shard_entry(part.number, part.counts, part.faiss) for part in parts],
        corpus=statistics,
        embedded=sum(part.embedded for part in parts),
        reused=sum(part.reused for part in parts),
    )


def document_frequencies(corpus: TermStatistics) -> dict[str, int]:
    """The corpus statistics' BM25 document frequencies, in the BM25 index's term order."""
    return {term: corpus.document_frequencies[term] for term in sorted(corpus.document_frequencies) if term}


class LocalShardRunner:
    """Both passes in this process, one shard after the other (what each Ray task does).

    Args:
        encoder: Makes the batch encoder of the model that embeds.
    """

    def __init__(self, encoder: Callable[[], Encoder]) -> None:
        self._encoder = encoder

    def write(self, jobs: Sequence[ShardJob], source: VectorSource) -> list[ShardPart]:
        """Pass 1 of every shard."""
        return [run_write(job, source, self._encoder) for job in jobs]

    def pair_questions(self, job: PairQuestionsJob, source: VectorSource) -> PairQuestionsPart:
        """The training questions' file."""
        return run_pair_questions(job, source, self._encoder)

    def finish(self, jobs: Sequence[FinishJob]) -> None:
        """Pass 2 of every shard."""
        for job in jobs:
            finish_shard(job)


def run_write(job: ShardJob, source: VectorSource, encoder: Callable[[], Encoder]) -> ShardPart:
    """Pass 1 of one shard: its vectors, then its files.

    Args:
        job: The shard.
        source: Where vectors already computed are found.
        encoder: Makes the batch encoder (only if something must be embedded).

    Returns:
        What the driver keeps of it.
    """
    sentence_vectors, chunk_vectors, embedded, reused = shard_vectors(job, source, encoder)
    counts, description, terms = write_shard(job, sentence_vectors, chunk_vectors)
    return ShardPart(job.number, counts, description, terms, embedded, reused)


def run_pair_questions(job: PairQuestionsJob, source: VectorSource, encoder: Callable[[], Encoder]) -> PairQuestionsPart:
    """Write a build's training questions with their vectors: the live build's when they are this
    build's (:func:`ingest.pair_questions.live_pair_questions`), else embedded here.

    Args:
        job: The build's root and its training questions.
        source: The live build (``index_dir``) and the model (hash, vector size).
        encoder: Makes the batch encoder of the adapted model (only if something must be embedded).

    Returns:
        How many were written, and whether they were re-used.
    """
    columns, reused = pair_question_columns(
        Path(source.index_dir), job.questions, source.weights_hash, source.dimensions, encoder
    )
    index_format.write_pair_questions(Path(job.folder), columns)
    return PairQuestionsPart(rows=len(columns["vectors"]), reused=reused)
