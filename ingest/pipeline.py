"""Run ingest end to end: read, parse, chunk, tag, embed, index, and commit atomically.

``run_ingest`` is what ``verbatim ingest`` and ``verbatim serve`` call. It is a no-op when the
live build already matches the sources and the code (the fingerprint), and it never touches the
live build until a complete new one has been written and verified.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ingest import chunker, cleaner, evidence, hubness, indexers, loader, parse, sentences, structure
from ingest.adapt import (
    AdaptedModel,
    ModelAdapter,
    SentenceSpan,
    TrainingExample,
    export_model,
    shipped_model_dir,
    training_examples,
)
from ingest.adapt import code_hash as adaptation_code_hash
from ingest.chunker import MAX_REPEATED_HEADING_CHARS, chunk_document, chunk_embedding_text, embedded_texts
from ingest.embed_cache import EmbeddingCache
from ingest.evidence import EvidenceInput, EvidenceLabeller
from ingest.indexers import build_bm25, build_vector_index, build_vocabulary, vector_index_description
from ingest.loader import SkippedSource, SourceText, discover, pairs_files, read_sources
from ingest.pair_questions import PAIR_QUESTIONS_VERSION, PairQuestions, pair_question_columns
from ingest.pairs import PairSet, load_pairs
from ingest.parse import ParsedDocument, parse_source
from ingest.shard_build import (
    CorpusTables,
    PairQuestionsJob,
    ShardRunner,
    VectorSource,
    document_frequencies,
    write_shards,
)
from ingest.sharding import split_into_shards
from verbatim import index_format, textutil
from verbatim.embedding import MODEL_NAME, Embedder, packaged_model_path, weights_hash
from verbatim.feedback_loop import pairs_path as feedback_pairs_path
from verbatim.index_format import BlockKind, IndexContents
from verbatim.safety_policy import SafetyPolicy
from verbatim.settings import Settings

# Characters of a sentence's block, on each side of it, that safety tagging looks at (real
# blocks are far shorter; this only bounds the cost of a hostile single-line document).
TOPIC_CONTEXT_CHARS = 2000

# Any change to how text is read, cut, scored or indexed changes the build, so the code itself is
# part of the fingerprint (textutil: the BM25 terms and the vocabulary's words).
_PIPELINE_MODULES = (loader, cleaner, structure, sentences, chunker, parse, hubness, indexers, textutil, evidence)
# Data files that decide what a build holds, hashed like the code.
_PIPELINE_DATA = (evidence.RULES_PATH, textutil.FUNCTION_WORDS_PATH)


@dataclass
class IngestReport:
    """What an ingest run did, for the terminal summary and for callers.

    Attributes:
        status: ``built``, ``up-to-date`` or ``failed``.
        index_dir: Index folder.
        documents: Documents in the live build after the run.
        sections: Sections in it.
        sentences: Sentences in it.
        chunks: Chunks in it.
        seconds: Wall time of the run.
        skipped: Inputs not ingested, each with its reason.
        embedded: Texts embedded in this run.
        reused: Texts whose vectors came from the previous build or a resumed run.
        message: One-line explanation.
        timings: Seconds per stage.
        pairs: Training pairs the embedder was adapted on (0: the base model).
        adaptation: How the adapted model was had ("trained in 41.2 s", "from the cache").
    """

    status: str
    index_dir: Path
    documents: int = 0
    sections: int = 0
    sentences: int = 0
    chunks: int = 0
    seconds: float = 0.0
    skipped: list[SkippedSource] = field(default_factory=list)
    embedded: int = 0
    reused: int = 0
    message: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    pairs: int = 0
    adaptation: str = ""

    @property
    def ok(self) -> bool:
        """Whether a usable index exists after the run."""
        return self.status in ("built", "up-to-date")

    def summary(self) -> str:
        """Human-readable summary printed by the CLI."""
        lines = [
            f"{self.message}",
            f"  index      {self.index_dir}",
            f"  documents  {self.documents}",
            f"  sections   {self.sections}",
            f"  sentences  {self.sentences}",
            f"  chunks     {self.chunks}",
        ]
        if self.status == "built":
            lines.append(f"  embedded   {self.embedded} texts ({self.reused} reused from earlier runs)")
            if self.pairs:
                lines.append(f"  adapted    on {self.pairs} training pairs ({self.adaptation})")
        lines.append(f"  seconds    {self.seconds:.1f}")
        if self.skipped:
            lines.append(f"  skipped    {len(self.skipped)}")
            lines.extend(f"    - {item.source}: {item.reason}" for item in self.skipped)
        return "\n".join(lines)


def pipeline_hash() -> str:
    """Hash of the code that turns sources into the build's tables (part of the fingerprint)."""
    digest = hashlib.sha256()
    for module in _PIPELINE_MODULES:
        digest.update(Path(module.__file__).read_bytes())
    for path in _PIPELINE_DATA:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def fingerprint(
    documents: Sequence[tuple[str, str]],
    settings: Settings,
    model_hash: str,
    policy: SafetyPolicy,
    pairs: PairSet | None = None,
    shards: int = 1,
) -> str:
    """Everything a build depends on, hashed: equal fingerprints mean the build is up to date.

    Args:
        documents: ``(doc_id, content_hash)`` of every source document.
        settings: Chunking settings are included.
        model_hash: Weights hash of the embedding model.
        policy: Safety policy (evidence tags depend on it).
        pairs: Training pairs the embedder is adapted on (None or empty: the base model).
        shards: Shards the build is split into (1: not sharded).

    Returns:
        Hex digest.
    """
    adaptation = None
    if pairs is not None and pairs.pairs and settings.adaptation.enabled:
        adaptation = {
            "pairs": pairs.content_hash(), "settings": vars(settings.adaptation), "code": adaptation_code_hash(),
            # builds of adapted models hold the embedded training questions (pair_questions.npz)
            "pair_questions": PAIR_QUESTIONS_VERSION,
        }
    payload = {
        "format": index_format.FORMAT_VERSION,
        "pipeline": pipeline_hash(),
        "model": [MODEL_NAME, model_hash],
        "chunking": vars(settings.chunking),
        "policy": policy.content_hash,
        "documents": sorted(documents),
        "adaptation": adaptation,
    }
    if shards > 1:  # an unsharded build keeps the fingerprint it always had
        payload["shards"] = shards
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@contextlib.contextmanager
def ingest_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's ingest lock; a second ingest waits for the first to finish."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with index_format.lock_path(index_dir).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Another ingest is writing {index_dir}; waiting for it to finish...", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class Tables:
    """Flat tables of every document, in the layout of :mod:`verbatim.index_format`."""

    blocks: dict[str, list[int]]
    sentences: dict[str, list[int]]
    chunks: dict[str, list[int]]
    sentence_texts: list[str]
    chunk_texts: list[str]
    evidence: dict[str, list[int]]  # EVIDENCE_COLUMNS, one row per sentence


def _tail(text: str, block: structure.BlockSpan) -> str:
    """The end of a block (where a lead-in's colon or a question's mark is), bounded in length."""
    return text[max(block.start, block.end - TOPIC_CONTEXT_CHARS) : block.end]


def _lead_ins(blocks: list[structure.BlockSpan]) -> list[int | None]:
    """For each block, the index of the lead-in line its list hangs from (None if not in a list)."""
    result: list[int | None] = []
    current: int | None = None
    for number, block in enumerate(blocks):
        if block.kind == BlockKind.LEAD_IN:
            current = number
            result.append(None)
        elif block.kind == BlockKind.LIST_ITEM:
            result.append(current)
        else:
            current = None
            result.append(None)
    return result


def _faq_questions(blocks: list[structure.BlockSpan]) -> list[int | None]:
    """For each block, the FAQ question it answers (the question directly above it)."""
    result: list[int | None] = []
    for number, block in enumerate(blocks):
        above = blocks[number - 1] if number else None
        answers = above is not None and above.kind == BlockKind.FAQ_QUESTION and block.kind == BlockKind.PARAGRAPH
        result.append(number - 1 if answers else None)
    return result


def build_tables(
    parsed: list[ParsedDocument],
    embedder: Embedder,
    settings: Settings,
    policy: SafetyPolicy,
    labeller: EvidenceLabeller | None = None,
) -> Tables:
    """Chunk every document and tag its sentences, producing the flat index tables.

    Args:
        parsed: Parsed documents.
        embedder: Warm embedder (its tokenizer measures chunk sizes).
        settings: Chunking settings.
        policy: Safety policy for evidence tags.
        labeller: Evidence-kind labeller (default: the rules of ``ingest/evidence_rules.toml``).

    Returns:
        The tables and the texts to embed.
    """
    blocks = {name: [] for name in index_format.BLOCK_COLUMNS}
    sentence_table = {name: [] for name in index_format.SENTENCE_COLUMNS}
    chunk_table = {name: [] for name in index_format.CHUNK_COLUMNS}
    sentence_texts: list[str] = []
    chunk_texts: list[str] = []
    labeller = labeller or EvidenceLabeller()
    evidence_table: dict[str, list[int]] = {name: [] for name in index_format.EVIDENCE_COLUMNS}
    for doc_number, item in enumerate(parsed):
        evidence_inputs: list[EvidenceInput] = []
        text = item.document.text
        block_offset = len(blocks["doc"])
        sentence_offset = len(sentence_texts)
        for block in item.blocks:
            for name, value in zip(
                index_format.BLOCK_COLUMNS, (doc_number, block.start, block.end, int(block.kind), block.section), strict=True
            ):
                blocks[name].append(value)
        lead_ins = _lead_ins(item.blocks)
        faqs = _faq_questions(item.blocks)
        spans = [(sentence.start, sentence.end) for sentence in item.sentences]
        kinds = [item.blocks[sentence.block].kind for sentence in item.sentences]
        sections = [item.blocks[sentence.block].section for sentence in item.sentences]
        own_texts = [text[start:end] for start, end in spans]
        token_counts = [count - chunker.SPECIAL_TOKENS for count in embedder.count_tokens(own_texts)] if own_texts else []
        headings = {
            number: section.title
            for number, section in enumerate(item.document.sections)
            if len(section.title) <= MAX_REPEATED_HEADING_CHARS and text.startswith(section.title, section.start)
        }
        heading_tokens = dict(zip(headings, (c - 2 for c in embedder.count_tokens(list(headings.values()))), strict=True)) if headings else {}
        first_sentence_of_block: dict[int, int] = {}
        for number, sentence in enumerate(item.sentences):
            first_sentence_of_block.setdefault(sentence.block, sentence_offset + number)
        heading_sentence = {
            item.blocks[sentence.block].section: sentence_offset + number
            for number, sentence in enumerate(item.sentences)
            if item.blocks[sentence.block].kind in (BlockKind.HEADING, BlockKind.TITLE)
        }
        for sentence, sentence_text, section in zip(item.sentences, own_texts, sections, strict=True):
            block = item.blocks[sentence.block]
            lead = lead_ins[sentence.block]
            faq = faqs[sentence.block]
            # The block gives a sentence its context; a pathological block (one multi-megabyte
            # line) is cut to a window around the sentence so tagging stays linear in its length.
            context_start = max(block.content_start, sentence.start - TOPIC_CONTEXT_CHARS)
            context_end = min(block.end, sentence.end + TOPIC_CONTEXT_CHARS)
            topics = policy.evidence_topics(
                sentence=sentence_text,
                block_text=text[context_start:context_end],
                block_kind=block.kind,
                section_title=item.document.sections[section].title[:TOPIC_CONTEXT_CHARS],
                lead_in=_tail(text, item.blocks[lead]) if lead is not None else None,
            )
            pointer_block = faq if faq is not None else lead
            row = (
                doc_number,
                sentence.start,
                sentence.end,
                block_offset + sentence.block,
                section,
                policy.to_bits(topics),
                heading_sentence.get(section, -1),
                first_sentence_of_block.get(pointer_block, -1) if pointer_block is not None else -1,
            )
            for name, value in zip(index_format.SENTENCE_COLUMNS, row, strict=True):
                sentence_table[name].append(value)
            sentence_texts.append(sentence_text)
            evidence_inputs.append(EvidenceInput(sentence_text, sentence.block, block.kind, bool(topics)))
        _add_evidence(evidence_table, labeller.run(evidence_inputs))
        for chunk in chunk_document(sections, spans, kinds, token_counts, heading_tokens, settings.chunking):
            row = (
                doc_number, chunk.start, chunk.end, chunk.section,
                sentence_offset + chunk.first_sentence, sentence_offset + chunk.last_sentence,
            )
            for name, value in zip(index_format.CHUNK_COLUMNS, row, strict=True):
                chunk_table[name].append(value)
            chunk_texts.append(chunk_embedding_text(item.document, chunk.section, chunk.start, chunk.end))
    return Tables(blocks, sentence_table, chunk_table, sentence_texts, chunk_texts, evidence_table)


def _add_evidence(table: dict[str, list[int]], labels: list[evidence.EvidenceLabel]) -> None:
    """Append one document's evidence labels to the evidence table as index codes."""
    for label in labels:
        for name, value in zip(index_format.EVIDENCE_COLUMNS, evidence.kind_code(label), strict=True):
            table[name].append(value)


# Columns whose values number rows of another table (or documents), by table; they are shifted
# when per-document tables are concatenated. -1 means "none" and is kept. Every other column
# (offsets, sections, kinds, topics, evidence codes) is local to its document.
_ROW_REFERENCES = {
    "blocks": {"doc": "documents"},
    "sentences": {"doc": "documents", "block": "blocks", "heading": "sentences", "pointer": "sentences"},
    "chunks": {"doc": "documents", "first_sentence": "sentences", "last_sentence": "sentences"},
    "evidence": {},  # one row per sentence, in sentence order; kind and design are codes
}


def merge_tables(pieces: Sequence[Tables]) -> Tables:
    """Concatenate the tables of consecutive documents as :func:`build_tables` lays them out.

    ``build_tables(a + b)`` equals ``merge_tables([build_tables(a), build_tables(b)])``, so the
    tables may be built in parallel, one group of documents per worker.

    Args:
        pieces: Tables of consecutive groups of documents, in order.

    Returns:
        The tables of all documents.
    """
    merged = Tables(
        blocks={name: [] for name in index_format.BLOCK_COLUMNS},
        sentences={name: [] for name in index_format.SENTENCE_COLUMNS},
        chunks={name: [] for name in index_format.CHUNK_COLUMNS},
        sentence_texts=[],
        chunk_texts=[],
        evidence={name: [] for name in index_format.EVIDENCE_COLUMNS},
    )
    offsets = {"documents": 0, "blocks": 0, "sentences": 0}
    for piece in pieces:
        for table_name in _ROW_REFERENCES:
            table, target = getattr(piece, table_name), getattr(merged, table_name)
            references = _ROW_REFERENCES[table_name]
            for column, values in table.items():
                if column in references:
                    shift = offsets[references[column]]
                    target.setdefault(column, []).extend(value + shift if value >= 0 else value for value in values)
                else:
                    target.setdefault(column, []).extend(values)
        merged.sentence_texts.extend(piece.sentence_texts)
        merged.chunk_texts.extend(piece.chunk_texts)
        documents = piece.blocks["doc"]
        offsets["documents"] += (max(documents) + 1) if documents else 0
        offsets["blocks"] += len(piece.blocks["doc"])
        offsets["sentences"] += len(piece.sentence_texts)
    return merged


def _as_arrays(table: dict[str, list[int]]) -> dict[str, np.ndarray]:
    return {name: np.asarray(values, dtype=np.int32) for name, values in table.items()}


class ProgressBar:
    """A tqdm bar on a terminal, silence otherwise."""

    def __init__(self, total: int, label: str, enabled: bool) -> None:
        self._bar = None
        if enabled and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit="text", file=sys.stderr, dynamic_ncols=True)

    def update(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def parse_sources(
    sources: Sequence[SourceText], settings: Settings
) -> tuple[list[ParsedDocument], list[SkippedSource]]:
    """Clean, structure and split sources into parsed documents, in their order.

    Args:
        sources: Decoded sources from the loader.
        settings: Chunking settings (the longest sentence kept whole).

    Returns:
        The parsed documents and the sources that could not be used, each with its reason.
    """
    parsed: list[ParsedDocument] = []
    skipped: list[SkippedSource] = []
    for source in sources:
        try:
            document = parse_source(source, settings.chunking.max_sentence_chars)
        except Exception as error:  # one bad document must not stop the others
            skipped.append(SkippedSource(source.source, f"could not be parsed: {type(error).__name__}: {error}"))
            continue
        if not document.sentences:
            skipped.append(SkippedSource(source.source, "no text left after cleaning"))
            continue
        parsed.append(document)
    return parsed, skipped


def embed_tables(
    cache: EmbeddingCache,
    tables: Tables,
    encode: Callable[[list[str]], np.ndarray],
    progress: bool,
    shard_size: int = 2048,
) -> tuple[np.ndarray, np.ndarray]:
    """Vectors of every sentence and chunk, embedding only the texts the cache lacks.

    Args:
        cache: The embedding cache (seeded from the live build and resume shards).
        tables: The build's tables.
        encode: Batch encoder of normalised float32 vectors.
        progress: Whether to show a progress bar.
        shard_size: Texts embedded (and saved for resume) per call of ``encode``.

    Returns:
        Sentence vectors and chunk vectors.
    """
    bar = ProgressBar(cache.count_missing(tables.sentence_texts + tables.chunk_texts), "embedding", progress)
    try:
        sentence_vectors = cache.embed(tables.sentence_texts, encode, shard_size=shard_size, on_progress=bar.update)
        chunk_vectors = cache.embed(tables.chunk_texts, encode, shard_size=shard_size, on_progress=bar.update)
    finally:
        bar.close()
    return sentence_vectors, chunk_vectors


class IngestStages:
    """The stages of ingest whose work grows with the corpus, run in this process.

    ``run_ingest`` calls them in order; a subclass runs them elsewhere (``ingest.distributed``
    on a Ray cluster) and must return exactly what these return for the same input.
    """

    def parse(
        self, sources: Sequence[SourceText], settings: Settings, progress: bool
    ) -> tuple[list[ParsedDocument], list[SkippedSource]]:
        """Parse every source (see :func:`parse_sources`)."""
        return parse_sources(sources, settings)

    def tables(
        self, parsed: list[ParsedDocument], embedder: Embedder, settings: Settings, policy: SafetyPolicy
    ) -> Tables:
        """Chunk and tag every document and label its sentences' evidence (see :func:`build_tables`)."""
        labeller = EvidenceLabeller()
        labeller.warm_up()
        return build_tables(parsed, embedder, settings, policy, labeller)

    def embed(
        self, cache: EmbeddingCache, tables: Tables, embedder: Embedder, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embed what the cache lacks (see :func:`embed_tables`)."""
        return embed_tables(cache, tables, embedder.encode_passages, progress)

    def shard_runner(self, embedder: Embedder, progress: bool) -> ShardRunner | None:
        """Who writes the shards of a sharded build from their own documents
        (:mod:`ingest.shard_build`); None: this process assembles the whole build and splits it
        (:func:`ingest.sharding.split_into_shards`)."""
        return None


def run_ingest(
    paths: Sequence[Path] | None = None,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    policy: SafetyPolicy | None = None,
    force: bool = False,
    show_progress: bool | None = None,
    stages: IngestStages | None = None,
    shards: int = 1,
    export: bool = False,
) -> IngestReport:
    """Build (or confirm up to date) the index of the given sources.

    Args:
        paths: Files or folders; defaults to ``settings.corpus_dir``.
        settings: Settings (index folder, size limits, chunking).
        embedder: A shared embedder; created (and warmed up) only if a build is needed.
        policy: Safety policy; defaults to ``verbatim/safety_policy.toml``.
        force: Rebuild even when the index is up to date.
        show_progress: Progress bars; default: only when stderr is a terminal.
        stages: Where the parallel stages run; defaults to this process (:class:`IngestStages`),
            ``ingest.distributed.RayStages`` runs them on a Ray cluster.
        shards: Split the build into this many shards by document (``ingest.sharding``);
            1 writes one whole build.
        export: Also write the adapted model to the corpus's shipped-model folder
            (``<name>.model/`` beside its first pairs file) with the key it was trained from, so
            that the next fresh ingest takes it instead of training (``verbatim ingest
            --export-model``; implies a rebuild).

    Returns:
        The report. The live build is unchanged unless ``status == "built"``.
    """
    started = time.perf_counter()
    settings = settings or Settings.from_env()
    policy = policy or SafetyPolicy.load()
    index_dir = Path(settings.index_dir)
    paths = [Path(path) for path in (paths or [settings.corpus_dir])]
    progress = sys.stderr.isatty() if show_progress is None else show_progress
    stages = stages or IngestStages()
    timings: dict[str, float] = {}

    with ingest_lock(index_dir):
        index_format.remove_stale_temporaries(index_dir)
        stage = time.perf_counter()
        files, skipped = discover(paths)
        sources: list[SourceText] = []
        for item in read_sources(files, settings.max_file_bytes):
            (sources if isinstance(item, SourceText) else skipped).append(item)
        parsed, unparsed = stages.parse(sources, settings, progress)
        skipped.extend(unparsed)
        timings["read_and_parse"] = time.perf_counter() - stage

        previous = index_format.read_manifest(index_dir)
        if not parsed:
            kept = "the previous index is unchanged" if previous else "no index was written"
            return IngestReport(
                status="failed", index_dir=index_dir, skipped=skipped, seconds=time.perf_counter() - started,
                message=f"Nothing could be ingested from {', '.join(map(str, paths))}; {kept}.",
                **_counts(previous),
            )

        stage = time.perf_counter()
        canonical = {item.document.doc_id: item.document.text for item in parsed}
        corpus_pairs = pairs_files(paths)
        shipped = shipped_model_dir(corpus_pairs[0]) if corpus_pairs else None
        pair_set = load_pairs([*corpus_pairs, feedback_pairs_path(settings.data_dir)], canonical)
        skipped.extend(SkippedSource(item.origin, item.reason) for item in pair_set.rejected)
        adapting = settings.adaptation.enabled and bool(pair_set.pairs)
        timings["read_pairs"] = time.perf_counter() - stage

        # The base model's hash: the adapted model is derived from it, and named in the
        # fingerprint by its pairs and settings (known before any training).
        base_path = packaged_model_path()
        model_hash = weights_hash(base_path)
        wanted = fingerprint(
            [(item.document.doc_id, item.document.content_hash) for item in parsed], settings, model_hash, policy,
            pair_set if adapting else None, shards,
        )
        if not force and not export and previous and previous.get("fingerprint") == wanted:
            try:
                # A build the server would refuse is never "up to date", or the advice to re-run
                # ingest would lead nowhere (an adapted model is checked by its file checksums).
                index_format.check_manifest(index_dir, previous, MODEL_NAME, None if adapting else model_hash)
                index_format.build_model_path(index_dir)
                index_format.verify_files(index_dir, index_format.current_build(index_dir), previous)
            except index_format.IndexInvalidError:
                pass  # damaged: fall through and rebuild
            else:
                return IngestReport(
                    status="up-to-date", index_dir=index_dir, skipped=skipped, seconds=time.perf_counter() - started,
                    message="Index up to date; nothing to do.", **_counts(previous),
                )

        stage = time.perf_counter()
        # A build without pairs is embedded by the base model, as ever.
        embedder = (embedder or Embedder()).for_model(None, model_hash)
        timings["model_load"] = time.perf_counter() - stage

        stage = time.perf_counter()
        tables = stages.tables(parsed, embedder, settings, policy)
        timings["chunk_and_tag"] = time.perf_counter() - stage

        adapted: AdaptedModel | None = None
        if adapting:
            stage = time.perf_counter()
            examples, sentence_texts = _training_examples(parsed, tables, pair_set, settings)
            adapted = ModelAdapter(settings.model_cache_dir, settings.adaptation, base_path, shipped).run(
                examples, pair_set.out_of_scope_for("embedder") if settings.adaptation.out_of_scope_weight > 0 else [],
                sentence_texts,
            )
            embedder = embedder.for_model(str(adapted.path), adapted.weights_hash)
            timings["adapt"] = time.perf_counter() - stage
        # The adapted model's training questions (pair_questions.npz), embedded below by whoever
        # writes the build: this process, or a worker of a sharded build written by the workers.
        wanted_questions = PairQuestions.of(pair_set) if adapted is not None else None

        stage = time.perf_counter()
        # Resume shards are kept per model that embeds (the adapted one when adapting): vectors
        # saved by an interrupted build with another model must never be taken for this one's.
        cache = EmbeddingCache(
            index_format.cache_dir(index_dir) / str(embedder.weights_hash).replace(":", "-")[:23], embedder.dimensions
        )
        # Shards written by the workers: the vectors, vector indexes, BM25 slices and hubness
        # of each shard are made where it is written; this process never holds them.
        runner = stages.shard_runner(embedder, progress) if shards > 1 else None
        pair_questions = None
        if runner is None:
            if wanted_questions is not None:
                # Unchanged training questions are not embedded again, as unchanged text is not.
                pair_questions, _ = pair_question_columns(
                    index_dir, wanted_questions, str(embedder.weights_hash), embedder.dimensions,
                    lambda: embedder.encode_passages,
                )
            _seed_from_live_build(cache, index_dir, embedder)
            cache.load_shards()
            sentence_vectors, chunk_vectors = stages.embed(cache, tables, embedder, progress)
            timings["embed"] = time.perf_counter() - stage
            stage = time.perf_counter()
            faiss_index, faiss_description = build_vector_index(chunk_vectors)
            hubness_scores = hubness.sentence_hubness(sentence_vectors)
            bm25 = build_bm25(tables.chunk_texts)
        else:
            faiss_description = vector_index_description(len(tables.chunks["doc"]))
        vocabulary = build_vocabulary(item.document.text for item in parsed)
        timings["index"] = time.perf_counter() - stage

        stage = time.perf_counter()
        manifest: dict[str, Any] = {
            "fingerprint": wanted,
            "pipeline": pipeline_hash(),
            "model": {
                "name": embedder.name,
                "weights_hash": embedder.weights_hash,
                "dimensions": embedder.dimensions,
                "max_tokens": embedder.max_tokens,
                "base_weights_hash": model_hash,
                "adapted": None if adapted is None else {
                    "path": index_format.ADAPTED_MODEL_DIR,
                    "pairs": len(pair_set.pairs),
                    "out_of_scope": len(pair_set.out_of_scope),
                    "pairs_hash": pair_set.content_hash(),
                    "pairs_files": [str(path) for path in pair_set.files],
                    "examples": adapted.examples,
                    "cache_key": adapted.cache_key,
                    "training_key": adapted.training_key,
                    "shipped": adapted.shipped,
                    "training": vars(settings.adaptation),
                    "train_seconds": round(adapted.seconds, 3),
                    "pair_questions": PAIR_QUESTIONS_VERSION,
                },
            },
            "chunking": vars(settings.chunking),
            "faiss": faiss_description,
            "bm25": {"method": "lucene", "k1": 1.2, "b": 0.75, "stemmer": "snowball-english"},
            "safety_policy": {"hash": policy.content_hash, "topics": policy.topic_ids},
            "evidence": {"priority": list(evidence.EvidenceRules.load().priority)},
            "documents": [
                {
                    "doc_id": item.document.doc_id,
                    "title": item.document.title,
                    "source": item.document.source,
                    "content_hash": item.document.content_hash,
                    "encoding": item.document.encoding,
                    "length": len(item.document.text),
                }
                for item in parsed
            ],
            "skipped": [{"source": item.source, "reason": item.reason} for item in skipped],
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        assembled = _Assembled(
            index_dir, parsed, tables, shards, manifest, vocabulary, adapted, started, pair_questions, wanted_questions
        )
        if runner is not None:
            temp = index_format.new_temp_build(index_dir)
            written = _write_shards_by_workers(assembled, temp, runner, cache, embedder)
            index_format.commit_build(index_dir, temp)
            cache.clear_shards()
            timings["embed_index_and_write"] = time.perf_counter() - stage
            counts, embedded, reused = written.manifest["counts"], written.embedded, written.reused
        else:
            search = _SearchParts(sentence_vectors, chunk_vectors, hubness_scores, faiss_index, bm25)
            counts, embedded, reused = _write_whole(assembled, search), cache.embedded, cache.reused
            cache.clear_shards()
            timings["write"] = time.perf_counter() - stage
        exported = None
        if export and adapted is not None and shipped is not None and not adapted.shipped:
            exported = export_model(
                adapted, shipped, settings.adaptation, len(pair_set.pairs), len(pair_set.out_of_scope)
            )

        return IngestReport(
            status="built",
            index_dir=index_dir,
            documents=counts["documents"],
            sections=counts["sections"],
            sentences=counts["sentences"],
            chunks=counts["chunks"],
            seconds=time.perf_counter() - started,
            skipped=skipped,
            embedded=embedded,
            reused=reused,
            message=f"Built index of {counts['documents']} document(s).",
            timings=timings,
            pairs=len(pair_set.pairs) if adapted is not None else 0,
            adaptation="" if adapted is None else (
                ("model shipped with the corpus" if adapted.shipped else "model from the cache")
                if adapted.cached else f"trained in {adapted.seconds:.1f} s"
            ) + (f"; exported to {exported}" if exported is not None else ""),
        )


@dataclass
class _WorkerBuild:
    manifest: dict[str, Any]
    embedded: int
    reused: int


@dataclass(frozen=True)
class _Assembled:
    """What every way of writing a build needs: the corpus's tables and the corpus-wide parts.

    Attributes:
        index_dir: The index folder.
        parsed: Every document, parsed, in order.
        tables: The build's tables and texts.
        shards: Shards to write (1: a whole build).
        manifest: The manifest so far (counts and build time are added when written).
        vocabulary: Word -> documents, for typo correction and word specificity.
        adapted: The adapted model shipped with the build, if any.
        started: ``time.perf_counter()`` when the ingest started.
        pair_questions: The training questions embedded by the adapted model
            (``pair_questions.npz``; None without one, or when the workers embed them).
        wanted_questions: The training questions to store, without vectors (None without an
            adapted model); a sharded build written by the workers has a worker embed them.
    """

    index_dir: Path
    parsed: list[ParsedDocument]
    tables: Tables
    shards: int
    manifest: dict[str, Any]
    vocabulary: dict[str, list[int]]
    adapted: AdaptedModel | None
    started: float
    pair_questions: dict[str, np.ndarray] | None = None
    wanted_questions: PairQuestions | None = None

    @property
    def adapted_model(self) -> Path | None:
        """The adapted model's folder to ship with the build (None: the base model)."""
        return self.adapted.path if self.adapted is not None else None


@dataclass(frozen=True)
class _SearchParts:
    """The vectors and search indexes of a build assembled in this process.

    Attributes:
        sentence_vectors: One vector per sentence.
        chunk_vectors: One vector per chunk.
        hubness_scores: Each sentence's hubness.
        faiss_index: The chunks' vector index.
        bm25: The chunks' BM25 index.
    """

    sentence_vectors: np.ndarray
    chunk_vectors: np.ndarray
    hubness_scores: np.ndarray
    faiss_index: Any
    bm25: Any


def _write_shards_by_workers(
    build: _Assembled, temp: Path, runner: ShardRunner, cache: EmbeddingCache, embedder: Embedder
) -> _WorkerBuild:
    """Write a sharded build whose shards the workers make (:mod:`ingest.shard_build`); this
    process writes the corpus-wide files and the manifest.

    Args:
        build: The corpus's tables and corpus-wide parts.
        temp: The temporary build folder.
        runner: Runs the shards' passes.
        cache: The embedding cache (its folder is where the workers find saved vectors).
        embedder: The model that embeds.

    Returns:
        The written manifest and the texts embedded and re-used.
    """
    parsed, tables, manifest = build.parsed, build.tables, build.manifest
    arrays = {name: _as_arrays(getattr(tables, name)) for name in ("blocks", "sentences", "chunks")}
    source = VectorSource(
        cache_folder=str(cache.folder), index_dir=str(build.index_dir), model_name=embedder.name,
        weights_hash=str(embedder.weights_hash), dimensions=embedder.dimensions,
    )
    corpus = CorpusTables(
        documents=[item.document for item in parsed], tables=arrays, evidence=_as_arrays(tables.evidence),
        sentence_texts=tables.sentence_texts, chunk_texts=tables.chunk_texts,
    )
    questions = None if build.wanted_questions is None else PairQuestionsJob(str(temp), build.wanted_questions)
    files = write_shards(temp, corpus, build.shards, source, runner, questions=questions)
    topics = arrays["sentences"]["topics"]
    manifest["build_seconds"] = round(time.perf_counter() - build.started, 3)
    manifest["format_version"] = index_format.FORMAT_VERSION
    manifest["counts"] = {
        "documents": len(parsed),
        "sections": sum(len(item.document.sections) for item in parsed),
        "blocks": len(tables.blocks["doc"]),
        "sentences": len(tables.sentence_texts),
        "chunks": len(tables.chunk_texts),
    }
    statistics = index_format.CorpusStatistics(
        manifest=manifest,
        vocabulary=build.vocabulary,
        bm25_document_frequencies=document_frequencies(files.corpus),
        chunks=len(tables.chunk_texts),
        sentences=len(tables.sentence_texts),
        topics_present=int(np.bitwise_or.reduce(topics)) if len(topics) else 0,
    )
    # pair_questions.npz is already in ``temp``, written by a worker (the manifest lists it).
    written = index_format.finish_sharded_build(temp, manifest, statistics, files.entries, build.adapted_model)
    return _WorkerBuild(written, files.embedded, files.reused)


def _write_whole(build: _Assembled, search: _SearchParts) -> dict[str, int]:
    """Write and commit a build assembled in this process (split into shards here if asked).

    Args:
        build: The corpus's tables and corpus-wide parts.
        search: Its vectors and search indexes.

    Returns:
        The build's manifest counts.
    """
    tables = build.tables
    contents = IndexContents(
        manifest=build.manifest,
        documents=[item.document for item in build.parsed],
        blocks=_as_arrays(tables.blocks),
        sentences=_as_arrays(tables.sentences),
        chunks=_as_arrays(tables.chunks),
        sentence_vectors=search.sentence_vectors,
        sentence_hubness=search.hubness_scores,
        chunk_vectors=search.chunk_vectors,
        faiss_index=search.faiss_index,
        bm25=search.bm25,
        vocabulary=build.vocabulary,
        sentence_evidence=_as_arrays(tables.evidence),
        adapted_model=build.adapted_model,
        pair_questions=build.pair_questions,
    )
    build.manifest["build_seconds"] = round(time.perf_counter() - build.started, 3)
    temp = index_format.new_temp_build(build.index_dir)
    if build.shards > 1:
        statistics, parts = split_into_shards(contents, build.shards)
        index_format.write_sharded_build(temp, contents, statistics, parts)
    else:
        index_format.write_build(temp, contents)
    index_format.commit_build(build.index_dir, temp)
    return contents.manifest["counts"]


def _training_examples(
    parsed: list[ParsedDocument], tables: Tables, pair_set: PairSet, settings: Settings
) -> tuple[list[TrainingExample], list[str]]:
    """The pairs as training examples on the sentences this build embeds, and those sentences."""
    canonical = {item.document.doc_id: item.document.text for item in parsed}
    spans: dict[str, list[SentenceSpan]] = {item.document.doc_id: [] for item in parsed}
    table = tables.sentences
    for doc, start, end, section in zip(table["doc"], table["start"], table["end"], table["section"], strict=True):
        spans[parsed[doc].document.doc_id].append(SentenceSpan(start, end, section))
    config = settings.adaptation
    texts = [
        canonical[parsed[doc].document.doc_id][start:end]
        for doc, start, end in zip(table["doc"], table["start"], table["end"], strict=True)
    ]
    return training_examples(pair_set.pairs, canonical, spans, config.hard_negatives, config.seed), texts


def _counts(manifest: dict[str, Any] | None) -> dict[str, int]:
    counts = (manifest or {}).get("counts", {})
    return {name: int(counts.get(name, 0)) for name in ("documents", "sections", "sentences", "chunks")}


def _seed_from_live_build(cache: EmbeddingCache, index_dir: Path, embedder: Embedder) -> None:
    """Offer the live build's vectors for reuse (ignored if it is unreadable or another model's;
    accepted from an older index format whose vectors are laid out alike)."""
    embedded = index_format.load_embedded_build(index_dir, embedder.name, embedder.weights_hash)
    if embedded is None:
        return
    sentence_texts, chunk_texts = embedded_texts(embedded)
    cache.seed(sentence_texts, embedded.sentence_vectors)
    cache.seed(chunk_texts, embedded.chunk_vectors)
