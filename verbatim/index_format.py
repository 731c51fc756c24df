"""The on-disk index format: the only module that knows how an index is laid out.

An index folder holds immutable builds and a pointer to the live one::

    INDEX/
      CURRENT                  name of the live build (replaced atomically)
      builds/<build-id>/       one complete build, never modified after it is committed
        manifest.json          format, model, chunking, documents, counts, file checksums
        documents.json         canonical text, title and sections of every document
        blocks.npz             lines/paragraphs with their structural kind
        sentences.npz          sentence spans, their block, section and safety topics
        chunks.npz             retrieval passages (whole sentences within one section)
        sentence_vectors.npy   normalised MiniLM vectors, one per sentence
        sentence_hubness.npy   mean similarity of each sentence to its nearest others (float32)
        sentence_evidence.npz  evidence kind and study design of each sentence (codes, see below)
        chunk_vectors.npy      normalised MiniLM vectors, one per chunk
        chunks.faiss           inner-product FAISS index over chunk vectors
        vocabulary.json        every word of the canonical texts: [document frequency, occurrences]
        bm25/                  bm25s index over chunk terms
        model/                 the embedder adapted to the corpus's training pairs, when it has
                               any (a sentence-transformers folder; its hash is the manifest's
                               model.weights_hash); absent for the base model
        pair_questions.npz     the questions of those training pairs embedded by that model, with
                               the span each one is answered by (document id, start, end): what
                               the answer ranker's ``pair_sim`` compares a question with, and
                               its key words (light stems, space-separated): the abstention's
                               coverage counts them for the facts the best sentences hold; absent
                               for the base model
      builds/.tmp-*            a build being written (removed if a writer died)
      cache/                   embeddings kept between builds (reuse and resume)
      ingest.lock              held by the one ingest allowed at a time

A **sharded build** (``verbatim ingest --shards N``, for corpora larger than one machine's
memory) splits the documents into N shards; each shard folder holds the per-document files of
its documents (tables, vectors, hubness, evidence, FAISS, BM25) in its own row numbering, and
the build's root holds only what is computed over the whole corpus::

      builds/<build-id>/
        manifest.json          as above, plus ``sharding`` (count, assignment, each shard's counts)
        vocabulary.json        the whole corpus's vocabulary (typo correction, word specificity)
        corpus_statistics.json BM25 document frequency of every term over all chunks, the corpus's
                               chunk and sentence counts and the safety topics it has evidence for
        model/                 the adapted embedder, as above
        pair_questions.npz     its training questions, as above (spans by document id, so any
                               shard's documents can be looked up in it; read by the replicas
                               that coordinate, written by a worker when the workers build)
        shards/<k>/            documents.json ... bm25/ of shard k, and global_numbers.npz: the
                               whole corpus's number of each of its documents and chunks

Every score stays global: hubness is computed against the whole corpus before the split and the
shards' BM25 scores are those of the whole corpus's index (its document frequencies and average
length), so a question gets the same ranking and answer whatever shard a document fell into.
A shard is loaded (and its files verified) on its own: no process needs the whole build.

A build is written into ``.tmp-*``, fsynced, renamed into place and only then named in
``CURRENT``; a reader therefore sees either the old or the new build, never a partial one.
Loading verifies the manifest (format, model, counts) and every file's size and SHA-256, and
refuses anything else with a message that says what to run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

FORMAT_VERSION = 4  # 2: sentence_hubness.npy; 3: model/ (adapted embedder); 4: sentence_evidence.npz
# Formats whose documents, tables and vector files are laid out as in this one: a new build
# re-uses their embeddings after an upgrade instead of computing them all again.
VECTOR_COMPATIBLE_FORMATS = frozenset({1, 2, 3, 4})
ADAPTED_MODEL_DIR = "model"
ADAPTED_WEIGHTS_FILE = "model.safetensors"
PAIR_QUESTIONS_FILE = "pair_questions.npz"
PAIR_QUESTION_COLUMNS = ("vectors", "doc_ids", "start", "end")
# Columns a build of an older ingest may lack (loaded when present).
PAIR_QUESTION_OPTIONAL_COLUMNS = ("words",)
CURRENT_FILE = "CURRENT"
BUILDS_DIR = "builds"
CACHE_DIR = "cache"
LOCK_FILE = "ingest.lock"
TEMP_PREFIX = ".tmp-"
BUILDS_KEPT = 2  # the live build and the one before it
SHARDS_DIR = "shards"
STATISTICS_FILE = "corpus_statistics.json"
GLOBAL_NUMBERS_FILE = "global_numbers.npz"
SHARD_ASSIGNMENT = "round-robin by document"  # document n goes to shard n mod N

BLOCK_COLUMNS = ("doc", "start", "end", "kind", "section")
# heading: sentence of the section's heading; pointer: the FAQ question a sentence answers or
# the lead-in of its list (-1 when none); both are global sentence numbers.
SENTENCE_COLUMNS = ("doc", "start", "end", "block", "section", "topics", "heading", "pointer")
CHUNK_COLUMNS = ("doc", "start", "end", "section", "first_sentence", "last_sentence")
# Columns whose values number rows of another table (or documents); -1 means "none". Every other
# column (offsets, sections, kinds, topics) is local to its document.
ROW_REFERENCES = {
    "blocks": {"doc": "documents"},
    "sentences": {"doc": "documents", "block": "blocks", "heading": "sentences", "pointer": "sentences"},
    "chunks": {"doc": "documents", "first_sentence": "sentences", "last_sentence": "sentences"},
}
# One row per sentence (same order as the sentence table): codes into the two tuples below.
EVIDENCE_COLUMNS = ("kind", "design")
# The kinds of evidence a sentence can be (eval/EVIDENCE.md); the code is the position.
EVIDENCE_KINDS = ("background", "caution", "study", "recommendation", "anecdote")
# The stated design of a study (or of a study of a risk); code 0 is "not stated".
EVIDENCE_DESIGNS = (
    None,
    "systematic review or meta-analysis",
    "randomized trial",
    "observational or case report",
    "animal or in vitro",
)


class BlockKind(IntEnum):
    """Structural role of a line or paragraph of canonical text."""

    PARAGRAPH = 0
    TITLE = 1
    HEADING = 2
    LEAD_IN = 3  # a line ending with ":" that introduces a list
    LIST_ITEM = 4
    FAQ_QUESTION = 5
    LABEL_VALUE = 6  # "Typical dose: 5-15 grams daily, divided"
    TABLE_HEADER = 7
    TABLE_ROW = 8


class IndexError_(Exception):
    """Base class for index problems; the message always says what to run."""


class IndexMissingError(IndexError_):
    """No committed build exists in the folder."""


class IndexInvalidError(IndexError_):
    """A build exists but is corrupt, partial, outdated or made by another model."""


@dataclass
class Section:
    """A heading and the text under it, as a span of the canonical text."""

    title: str
    start: int
    end: int


@dataclass
class Document:
    """One source document after cleaning.

    Attributes:
        doc_id: Stable identifier (file name stem, or the record id of a JSONL corpus).
        title: Human-readable title.
        source: Where it was read from.
        content_hash: SHA-256 of the source bytes (decides whether a rebuild is needed).
        text: The canonical text; every offset in the system indexes into it.
        sections: Sections in order; together they cover the text.
        encoding: How the bytes were decoded.
    """

    doc_id: str
    title: str
    source: str
    content_hash: str
    text: str
    sections: list[Section] = field(default_factory=list)
    encoding: str = "utf-8"


@dataclass
class IndexContents:
    """Everything a build holds, in memory.

    The three tables are column dicts of equal-length int32 arrays (see ``*_COLUMNS``).
    """

    manifest: dict[str, Any]
    documents: list[Document]
    blocks: dict[str, np.ndarray]
    sentences: dict[str, np.ndarray]
    chunks: dict[str, np.ndarray]
    sentence_vectors: np.ndarray
    sentence_hubness: np.ndarray
    chunk_vectors: np.ndarray
    faiss_index: Any
    bm25: Any
    vocabulary: dict[str, list[int]]
    sentence_evidence: dict[str, np.ndarray]  # EVIDENCE_COLUMNS, one row per sentence
    adapted_model: Path | None = None  # folder of the adapted embedder to store in the build
    pair_questions: dict[str, np.ndarray] | None = None  # PAIR_QUESTION_COLUMNS (None: no pairs)


@dataclass
class EmbeddedBuild:
    """What a build's embeddings were computed from, for reuse by the next build."""

    documents: list[Document]
    sentences: dict[str, np.ndarray]
    chunks: dict[str, np.ndarray]
    sentence_vectors: np.ndarray
    chunk_vectors: np.ndarray


def sha256_file(path: Path) -> str:
    """SHA-256 of a file as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """SHA-256 of bytes as hex."""
    return hashlib.sha256(data).hexdigest()


def builds_dir(index_dir: Path) -> Path:
    """Folder of committed builds."""
    return Path(index_dir) / BUILDS_DIR


def cache_dir(index_dir: Path) -> Path:
    """Folder of the embedding cache kept between builds."""
    return Path(index_dir) / CACHE_DIR


def lock_path(index_dir: Path) -> Path:
    """File locked by a running ingest."""
    return Path(index_dir) / LOCK_FILE


def current_build(index_dir: Path) -> Path | None:
    """The live build folder, or None when nothing was ever committed."""
    pointer = Path(index_dir) / CURRENT_FILE
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not name or "/" in name or name.startswith("."):
        raise IndexInvalidError(
            f"{pointer} is damaged. Rebuild the index with: verbatim ingest --index {index_dir}"
        )
    return builds_dir(index_dir) / name


def read_manifest(index_dir: Path) -> dict[str, Any] | None:
    """The live build's manifest without loading anything else (None if there is no build)."""
    build = current_build(index_dir)
    if build is None:
        return None
    try:
        return json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with path.open("rb+") as handle:
                os.fsync(handle.fileno())
    for path in sorted({p.parent for p in root.rglob("*")} | {root}):
        _fsync_dir(path)


def remove_stale_temporaries(index_dir: Path) -> list[Path]:
    """Delete half-written builds left by a writer that died (call with the ingest lock held).

    Args:
        index_dir: Index folder.

    Returns:
        The folders removed.
    """
    removed = []
    folder = builds_dir(index_dir)
    if folder.exists():
        for path in folder.iterdir():
            if path.name.startswith(TEMP_PREFIX):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


def new_temp_build(index_dir: Path) -> Path:
    """Create an empty temporary build folder to write into."""
    folder = builds_dir(index_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def _write_files(folder: Path, contents: IndexContents) -> None:
    """Write the per-document files of a build (or of one shard) into ``folder``."""
    write_document_files(folder, contents)
    write_search_files(folder, contents.sentence_hubness, contents.bm25)


def write_document_files(folder: Path, contents: IndexContents) -> None:
    """Write what a build (or shard) holds of its own documents alone: documents, tables, vectors,
    evidence and the vector index (not the hubness nor the BM25 index, which need the corpus)."""
    import faiss

    documents = [asdict(document) for document in contents.documents]
    (folder / "documents.json").write_text(json.dumps(documents, ensure_ascii=False), encoding="utf-8")
    np.savez(folder / "blocks.npz", **{name: contents.blocks[name] for name in BLOCK_COLUMNS})
    np.savez(folder / "sentences.npz", **{name: contents.sentences[name] for name in SENTENCE_COLUMNS})
    np.savez(folder / "chunks.npz", **{name: contents.chunks[name] for name in CHUNK_COLUMNS})
    np.save(folder / "sentence_vectors.npy", contents.sentence_vectors)
    np.savez(folder / "sentence_evidence.npz", **{name: contents.sentence_evidence[name] for name in EVIDENCE_COLUMNS})
    np.save(folder / "chunk_vectors.npy", contents.chunk_vectors)
    faiss.write_index(contents.faiss_index, str(folder / "chunks.faiss"))


def write_search_files(folder: Path, sentence_hubness: np.ndarray, bm25: Any) -> None:
    """Write the files of a build (or shard) computed against the whole corpus: the sentences'
    hubness and the BM25 index."""
    np.save(folder / "sentence_hubness.npy", sentence_hubness)
    bm25.save(str(folder / "bm25"), show_progress=False)


def _counts(contents: IndexContents) -> dict[str, int]:
    return {
        "documents": len(contents.documents),
        "sections": sum(len(document.sections) for document in contents.documents),
        "blocks": int(len(contents.blocks["doc"])),
        "sentences": int(len(contents.sentences["doc"])),
        "chunks": int(len(contents.chunks["doc"])),
    }


def _finish_manifest(temp: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Add the format and every file's size and checksum, and write the manifest last."""
    manifest["format_version"] = FORMAT_VERSION
    manifest["files"] = {
        str(path.relative_to(temp)): {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
        for path in sorted(temp.rglob("*"))
        if path.is_file()
    }
    (temp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


def write_build(temp: Path, contents: IndexContents) -> None:
    """Write every file of a build into ``temp``, manifest (with checksums) last.

    Args:
        temp: Folder from :func:`new_temp_build`.
        contents: The build; its manifest gains ``files`` and ``counts``.
    """
    _write_files(temp, contents)
    (temp / "vocabulary.json").write_text(json.dumps(contents.vocabulary, ensure_ascii=False), encoding="utf-8")
    if contents.adapted_model is not None:
        # Hard links where the cache shares the file system: both copies are never modified.
        shutil.copytree(contents.adapted_model, temp / ADAPTED_MODEL_DIR, copy_function=_link_or_copy)
    write_pair_questions(temp, contents.pair_questions)
    manifest = dict(contents.manifest)
    manifest["format_version"] = FORMAT_VERSION
    manifest["counts"] = _counts(contents)
    contents.manifest = _finish_manifest(temp, manifest)


def write_pair_questions(folder: Path, pair_questions: dict[str, np.ndarray] | None) -> None:
    """Write the training pairs' embedded questions at a build's root (nothing when None).

    Args:
        folder: The build folder being written.
        pair_questions: Columns :data:`PAIR_QUESTION_COLUMNS`: ``vectors`` (float32, one row per
            question), ``doc_ids`` (str), ``start`` and ``end`` (int32 offsets of the answer span
            in that document's canonical text), and optionally ``words`` (str: each question's key
            words, light stems separated by spaces).
    """
    if pair_questions is None:
        return
    names = PAIR_QUESTION_COLUMNS + tuple(name for name in PAIR_QUESTION_OPTIONAL_COLUMNS if name in pair_questions)
    np.savez(folder / PAIR_QUESTIONS_FILE, **{name: pair_questions[name] for name in names})


def load_pair_questions(index_dir: Path) -> dict[str, np.ndarray] | None:
    """The live build's embedded training questions (verified), or None when it has none.

    Args:
        index_dir: Index folder.

    Returns:
        Columns :data:`PAIR_QUESTION_COLUMNS`, or None (a build of the base model, or one written
        before the file existed).

    Raises:
        IndexMissingError: Nothing was ever built there.
        IndexInvalidError: The file is listed but missing, altered or unreadable.
    """
    index_dir = Path(index_dir)
    build, manifest = _live_manifest(index_dir)
    if PAIR_QUESTIONS_FILE not in (manifest.get("files") or {}):
        return None
    verify_files(index_dir, build, manifest, only=lambda name: name == PAIR_QUESTIONS_FILE)
    try:
        with np.load(build / PAIR_QUESTIONS_FILE) as data:
            columns = {name: data[name] for name in PAIR_QUESTION_COLUMNS}
            columns |= {name: data[name] for name in PAIR_QUESTION_OPTIONAL_COLUMNS if name in data.files}
            return columns
    except (OSError, ValueError, KeyError) as error:
        raise _refuse(index_dir, f"the build {build} cannot be read ({type(error).__name__}: {error})") from error


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def commit_build(index_dir: Path, temp: Path) -> Path:
    """Make a fully written temporary build the live one, atomically.

    Args:
        index_dir: Index folder.
        temp: A folder filled by :func:`write_build`.

    Returns:
        The committed build folder.
    """
    _fsync_tree(temp)
    name = time.strftime("build-%Y%m%dT%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:6]
    final = builds_dir(index_dir) / name
    os.rename(temp, final)
    _fsync_dir(final.parent)
    pointer = Path(index_dir) / CURRENT_FILE
    staging = Path(index_dir) / (CURRENT_FILE + ".tmp")
    with staging.open("w", encoding="utf-8") as handle:
        handle.write(name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staging, pointer)
    _fsync_dir(Path(index_dir))
    _prune_old_builds(index_dir, keep=final)
    return final


def _prune_old_builds(index_dir: Path, keep: Path) -> None:
    committed = sorted(
        (path for path in builds_dir(index_dir).iterdir() if not path.name.startswith(TEMP_PREFIX)),
        key=lambda path: path.name,
    )
    stale = [path for path in committed if path != keep][: max(0, len(committed) - BUILDS_KEPT)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)


def _refuse(index_dir: Path, problem: str) -> IndexInvalidError:
    return IndexInvalidError(f"{problem}. Rebuild the index with: verbatim ingest --index {index_dir}")


def verify_files(index_dir: Path, build: Path, manifest: dict[str, Any], only: Callable[[str], bool] | None = None) -> None:
    """Check that every file listed in the manifest exists with its size and checksum.

    Args:
        index_dir: Index folder (named in the message).
        build: Build folder.
        manifest: Its manifest.
        only: Check only the files whose manifest name this accepts (one shard's).

    Raises:
        IndexInvalidError: On any missing, truncated or altered file.
    """
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise _refuse(index_dir, f"the manifest of {build} lists no files")
    for name, expected in files.items():
        if only is not None and not only(name):
            continue
        path = build / name
        if not path.is_file():
            raise _refuse(index_dir, f"index file {path} is missing")
        if path.stat().st_size != expected.get("bytes"):
            raise _refuse(index_dir, f"index file {path} is truncated or altered (size differs)")
        if sha256_file(path) != expected.get("sha256"):
            raise _refuse(index_dir, f"index file {path} is corrupted (checksum differs)")


def check_manifest(index_dir: Path, manifest: dict[str, Any], model_name: str, weights_hash: str | None) -> None:
    """Check that a manifest is of this code's format and this process's model.

    Raises:
        IndexInvalidError: Another format version or another embedding model.
    """
    if manifest.get("format_version") != FORMAT_VERSION:
        raise _refuse(
            index_dir,
            f"the index uses format {manifest.get('format_version')}, this code reads format {FORMAT_VERSION}",
        )
    _check_model(index_dir, manifest, model_name, weights_hash)


def _check_model(index_dir: Path, manifest: dict[str, Any], model_name: str, weights_hash: str | None) -> None:
    model = manifest.get("model")
    model = model if isinstance(model, dict) else {}
    if model.get("name") != model_name or (weights_hash and model.get("weights_hash") != weights_hash):
        raise _refuse(
            index_dir,
            f"the index was built with model {model.get('name')} ({model.get('weights_hash')}), "
            f"but this process uses {model_name} ({weights_hash})",
        )


def build_model_path(index_dir: Path) -> Path | None:
    """The live build's adapted embedder folder, or None when it was built with the base model.

    Args:
        index_dir: Index folder.

    Returns:
        The folder to load the embedder from (its weights checked against the manifest).

    Raises:
        IndexMissingError: Nothing was ever built there.
        IndexInvalidError: The manifest names an adapted model that is missing or altered.
    """
    index_dir = Path(index_dir)
    build, manifest = _live_manifest(index_dir)
    model = manifest.get("model")
    if not isinstance(model, dict) or not model.get("adapted"):
        return None
    folder = build / ADAPTED_MODEL_DIR
    weights = folder / ADAPTED_WEIGHTS_FILE
    if not weights.is_file():
        raise _refuse(index_dir, f"the adapted embedding model of {build} is missing ({weights})")
    actual = "sha256:" + sha256_file(weights)
    if actual != model.get("weights_hash"):
        raise _refuse(
            index_dir,
            f"the index was built with model {model.get('name')} ({model.get('weights_hash')}), but its adapted "
            f"embedding model {weights} is altered ({actual})",
        )
    return folder


def load_build(index_dir: Path, model_name: str, weights_hash: str | None) -> IndexContents:
    """Load and verify the live build.

    Args:
        index_dir: Index folder.
        model_name: Name of the embedding model in this process.
        weights_hash: Hash of its weights; the index must have been built with the same.

    Returns:
        The verified contents.

    Raises:
        IndexMissingError: Nothing was ever built there.
        IndexInvalidError: The build is partial, corrupt, outdated, from another model, or
            sharded (its shards are loaded one by one, :func:`load_shard`).
    """
    index_dir = Path(index_dir)
    build, manifest = _live_manifest(index_dir)
    check_manifest(index_dir, manifest, model_name, weights_hash)
    if sharding(manifest) is not None:
        raise IndexInvalidError(
            f"the index in {index_dir} is split into {sharding(manifest)['count']} shards; serve it with its shards "
            f"(verbatim serve --index {index_dir} --ray ADDRESS), or rebuild it whole with: verbatim ingest --index {index_dir} --shards 1"
        )
    verify_files(index_dir, build, manifest)
    contents = _read_folder(index_dir, build, manifest, manifest.get("counts", {}))
    try:
        contents.vocabulary = json.loads((build / "vocabulary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise _refuse(index_dir, f"the build {build} cannot be read ({type(error).__name__}: {error})") from error
    return contents


def _read_folder(index_dir: Path, folder: Path, manifest: dict[str, Any], counts: dict[str, Any]) -> IndexContents:
    """Read the per-document files of a build or shard folder (already verified) and check
    their sizes against ``counts``; the vocabulary is left empty."""
    import bm25s
    import faiss

    model = manifest.get("model", {})
    try:
        documents = _read_documents(folder)
        blocks = _read_table(folder / "blocks.npz", BLOCK_COLUMNS)
        sentences = _read_table(folder / "sentences.npz", SENTENCE_COLUMNS)
        chunks = _read_table(folder / "chunks.npz", CHUNK_COLUMNS)
        sentence_vectors = np.load(folder / "sentence_vectors.npy")
        sentence_hubness = np.load(folder / "sentence_hubness.npy")
        sentence_evidence = _read_table(folder / "sentence_evidence.npz", EVIDENCE_COLUMNS)
        chunk_vectors = np.load(folder / "chunk_vectors.npy")
        faiss_index = faiss.read_index(str(folder / "chunks.faiss"))
        bm25 = bm25s.BM25.load(str(folder / "bm25"), show_progress=False)
    except Exception as error:  # any parse failure means the build cannot be trusted
        raise _refuse(index_dir, f"the build {folder} cannot be read ({type(error).__name__}: {error})") from error

    observed = {
        "documents": len(documents),
        "blocks": len(blocks["doc"]),
        "sentences": len(sentences["doc"]),
        "chunks": len(chunks["doc"]),
        "sentence vectors": len(sentence_vectors),
        "sentence hubness scores": len(sentence_hubness),
        "sentence evidence labels": len(sentence_evidence["kind"]),
        "chunk vectors": len(chunk_vectors),
        "FAISS vectors": int(faiss_index.ntotal),
        "BM25 passages": int(bm25.scores["num_docs"]),
    }
    expected = {
        "documents": counts.get("documents"),
        "blocks": counts.get("blocks"),
        "sentences": counts.get("sentences"),
        "chunks": counts.get("chunks"),
        "sentence vectors": counts.get("sentences"),
        "sentence hubness scores": counts.get("sentences"),
        "sentence evidence labels": counts.get("sentences"),
        "chunk vectors": counts.get("chunks"),
        "FAISS vectors": counts.get("chunks"),
        "BM25 passages": counts.get("chunks"),
    }
    for name, value in observed.items():
        if value != expected[name]:
            raise _refuse(index_dir, f"the build {folder} has {value} {name} but its manifest says {expected[name]}")
    if sentence_vectors.shape[1:] != (model.get("dimensions"),):
        raise _refuse(index_dir, f"the sentence vectors of {folder} do not have {model.get('dimensions')} dimensions")
    return IndexContents(
        manifest=manifest,
        documents=documents,
        blocks=blocks,
        sentences=sentences,
        chunks=chunks,
        sentence_vectors=sentence_vectors,
        sentence_hubness=sentence_hubness,
        chunk_vectors=chunk_vectors,
        faiss_index=faiss_index,
        bm25=bm25,
        vocabulary={},
        sentence_evidence=sentence_evidence,
    )


def _live_manifest(index_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The live build folder and its parsed manifest.

    Raises:
        IndexMissingError: Nothing was ever built there.
        IndexInvalidError: The pointer or the manifest is damaged.
    """
    build = current_build(index_dir)
    if build is None or not build.is_dir():
        raise IndexMissingError(f"No index in {index_dir}. Build it with: verbatim ingest --index {index_dir}")
    try:
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise _refuse(index_dir, f"the manifest of {build} is unreadable ({error})") from error
    if not isinstance(manifest, dict):
        raise _refuse(index_dir, f"the manifest of {build} is not a JSON object")
    return build, manifest


def _read_documents(build: Path) -> list[Document]:
    return [
        Document(**{**raw, "sections": [Section(**section) for section in raw["sections"]]})
        for raw in json.loads((build / "documents.json").read_text(encoding="utf-8"))
    ]


def _read_table(path: Path, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        return {name: data[name] for name in columns}


def _read_embedded(folder: Path) -> EmbeddedBuild:
    return EmbeddedBuild(
        documents=_read_documents(folder),
        sentences=_read_table(folder / "sentences.npz", ("doc", "start", "end")),
        chunks=_read_table(folder / "chunks.npz", ("doc", "start", "end", "section")),
        sentence_vectors=np.load(folder / "sentence_vectors.npy"),
        chunk_vectors=np.load(folder / "chunk_vectors.npy"),
    )


def load_embedded_build(index_dir: Path, model_name: str, weights_hash: str | None) -> EmbeddedBuild | None:
    """The live build's texts and vectors, when a new build may re-use them.

    Unlike :func:`load_build` this accepts any of :data:`VECTOR_COMPATIBLE_FORMATS`, so a format
    upgrade does not throw away hours of embeddings; the model must still be the same and every
    file must still pass its checksum.

    Args:
        index_dir: Index folder.
        model_name: Name of the embedding model in this process.
        weights_hash: Hash of its weights.

    Returns:
        The build's documents, sentence and chunk tables and vectors, or None when there is no
        build, or it is of another model, an unknown format, damaged or unreadable.
    """
    try:
        pieces = list(embedded_pieces(index_dir, model_name, weights_hash))
        offset, documents = 0, []
        for piece in pieces:
            for table in (piece.sentences, piece.chunks):
                table["doc"] = table["doc"] + offset
            documents.extend(piece.documents)
            offset += len(piece.documents)
        embedded = EmbeddedBuild(
            documents=documents,
            sentences={name: np.concatenate([piece.sentences[name] for piece in pieces]) for name in ("doc", "start", "end")},
            chunks={name: np.concatenate([piece.chunks[name] for piece in pieces]) for name in ("doc", "start", "end", "section")},
            sentence_vectors=np.concatenate([piece.sentence_vectors for piece in pieces]),
            chunk_vectors=np.concatenate([piece.chunk_vectors for piece in pieces]),
        )
    except (IndexError_, OSError, ValueError, KeyError, TypeError):
        return None
    if len(embedded.sentence_vectors) != len(embedded.sentences["doc"]) or len(embedded.chunk_vectors) != len(embedded.chunks["doc"]):
        return None
    return embedded


def embedded_pieces(index_dir: Path, model_name: str, weights_hash: str | None) -> Iterator[EmbeddedBuild]:
    """The live build's texts and vectors folder by folder (each shard of a sharded build on its
    own, so a reader holds one at a time), after the checks of :func:`load_embedded_build`.

    Args:
        index_dir: Index folder.
        model_name: Name of the embedding model in this process.
        weights_hash: Hash of its weights.

    Yields:
        One piece per folder (document numbers its own).

    Raises:
        IndexError_, OSError, ValueError, KeyError, TypeError: No usable build (see
            :func:`load_embedded_build`, which turns these into None).
    """
    build, manifest = _live_manifest(Path(index_dir))
    if manifest.get("format_version") not in VECTOR_COMPATIBLE_FORMATS:
        raise _refuse(index_dir, f"the build {build} has another format")
    _check_model(index_dir, manifest, model_name, weights_hash)
    verify_files(index_dir, build, manifest)
    entry = sharding(manifest)
    # A sharded build's vectors are offered shard after shard (the order does not matter to
    # the cache, which matches texts).
    for folder in [build / shard["path"] for shard in entry["shards"]] if entry else [build]:
        yield _read_embedded(folder)


# -- sharded builds -----------------------------------------------------------------------------


@dataclass
class CorpusStatistics:
    """What a sharded build computes over the whole corpus (held by whoever answers).

    Attributes:
        manifest: The build's manifest.
        vocabulary: Every word of the corpus: ``[document frequency, occurrences]``.
        bm25_document_frequencies: Chunks of the whole corpus that hold each BM25 term.
        chunks: Chunks in the whole corpus.
        sentences: Sentences in the whole corpus.
        topics_present: Bits of the safety topics some sentence of the corpus has evidence for.
    """

    manifest: dict[str, Any]
    vocabulary: dict[str, list[int]]
    bm25_document_frequencies: dict[str, int]
    chunks: int
    sentences: int
    topics_present: int


@dataclass
class Shard:
    """One shard of a sharded build.

    Attributes:
        number: Its position (0-based).
        contents: Its documents' files in its own row numbering (an empty vocabulary).
        documents: The whole corpus's number of each of its documents (ascending).
        chunks: The whole corpus's number of each of its chunks (ascending).
    """

    number: int
    contents: IndexContents
    documents: np.ndarray
    chunks: np.ndarray


def sharding(manifest: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``sharding`` entry of a manifest (None for a build that is not sharded)."""
    entry = (manifest or {}).get("sharding")
    return entry if isinstance(entry, dict) and entry.get("count") else None


def shard_folder(number: int) -> str:
    """Folder of shard ``number`` inside its build."""
    return f"{SHARDS_DIR}/{number:03d}"


def shard_of_documents(documents: int, count: int) -> np.ndarray:
    """The shard of each document of a corpus (:data:`SHARD_ASSIGNMENT`)."""
    return np.arange(documents) % count


def select_documents(contents: IndexContents, docs: Sequence[int]) -> IndexContents:
    """The rows of some documents of a build, renumbered as a build of those documents alone.

    Args:
        contents: A build (or shard, or an earlier selection).
        docs: Document numbers in it, in the order wanted.

    Returns:
        Contents with those documents' tables, vectors, hubness and evidence; no search
        structures, an empty vocabulary and the same manifest.
    """
    tables, rows = select_tables(contents.blocks, contents.sentences, contents.chunks, len(contents.documents), docs)
    sentences = rows["sentences"]
    return IndexContents(
        manifest=contents.manifest,
        documents=[contents.documents[int(doc)] for doc in docs],
        blocks=tables["blocks"],
        sentences=tables["sentences"],
        chunks=tables["chunks"],
        sentence_vectors=contents.sentence_vectors[sentences],
        sentence_hubness=contents.sentence_hubness[sentences],
        chunk_vectors=contents.chunk_vectors[rows["chunks"]],
        faiss_index=None,
        bm25=None,
        vocabulary={},
        sentence_evidence={column: values[sentences] for column, values in contents.sentence_evidence.items()},
    )


def select_tables(
    blocks: dict[str, np.ndarray],
    sentences: dict[str, np.ndarray],
    chunks: dict[str, np.ndarray],
    document_count: int,
    docs: Sequence[int],
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """The table rows of some documents, renumbered as the tables of those documents alone.

    Args:
        blocks: Block table of a build.
        sentences: Its sentence table.
        chunks: Its chunk table.
        document_count: Its number of documents.
        docs: Document numbers in it, in the order wanted.

    Returns:
        The selected tables by name (``blocks``, ``sentences``, ``chunks``) and the rows each
        came from (by the same names).
    """
    docs = [int(doc) for doc in docs]
    rows = {
        "blocks": rows_of_documents(blocks["doc"], docs),
        "sentences": rows_of_documents(sentences["doc"], docs),
        "chunks": rows_of_documents(chunks["doc"], docs),
    }
    new_number = {
        "documents": _renumbering(document_count, np.asarray(docs, dtype=np.int64)),
        "blocks": _renumbering(len(blocks["doc"]), rows["blocks"]),
        "sentences": _renumbering(len(sentences["doc"]), rows["sentences"]),
    }
    tables = {}
    for name, table in (("blocks", blocks), ("sentences", sentences), ("chunks", chunks)):
        picked = {column: values[rows[name]] for column, values in table.items()}
        for column, target in ROW_REFERENCES[name].items():
            values = picked[column]
            picked[column] = np.where(values >= 0, new_number[target][np.maximum(values, 0)], -1).astype(values.dtype)
        tables[name] = picked
    return tables, rows


def rows_of_documents(doc_column: np.ndarray, docs: Sequence[int]) -> np.ndarray:
    """Rows of a document-ordered table (its ``doc`` column) that belong to ``docs``, in the
    order of ``docs``."""
    starts = np.searchsorted(doc_column, docs, side="left")
    ends = np.searchsorted(doc_column, docs, side="right")
    if not len(docs):
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(start, end, dtype=np.int64) for start, end in zip(starts, ends, strict=True)])


def _renumbering(size: int, kept: np.ndarray) -> np.ndarray:
    """Old row number -> new row number (-1 for rows not kept)."""
    numbers = np.full(size + 1, -1, dtype=np.int64)
    numbers[kept] = np.arange(len(kept))
    return numbers


def concatenate(parts: Sequence[IndexContents]) -> IndexContents:
    """Contents of several selections of documents, one after the other, renumbered.

    Args:
        parts: Selections (:func:`select_documents`), in the order their documents should have.

    Returns:
        One contents of all their documents (no search structures).
    """
    offsets = {"documents": 0, "blocks": 0, "sentences": 0}
    tables: dict[str, dict[str, list[np.ndarray]]] = {name: {} for name in ROW_REFERENCES}
    for part in parts:
        for name in ROW_REFERENCES:
            for column, values in getattr(part, name).items():
                target = ROW_REFERENCES[name].get(column)
                if target is not None:
                    values = np.where(values >= 0, values + offsets[target], -1).astype(values.dtype)
                tables[name].setdefault(column, []).append(values)
        offsets["documents"] += len(part.documents)
        offsets["blocks"] += len(part.blocks["doc"])
        offsets["sentences"] += len(part.sentences["doc"])
    columns = {"blocks": BLOCK_COLUMNS, "sentences": SENTENCE_COLUMNS, "chunks": CHUNK_COLUMNS}
    joined = {
        name: {column: np.concatenate(tables[name][column]) if tables[name].get(column) else np.zeros(0, np.int32)
               for column in columns[name]}
        for name in ROW_REFERENCES
    }
    dimensions = parts[0].sentence_vectors.shape[1] if parts else 0
    return IndexContents(
        manifest=parts[0].manifest if parts else {},
        documents=[document for part in parts for document in part.documents],
        blocks=joined["blocks"],
        sentences=joined["sentences"],
        chunks=joined["chunks"],
        sentence_vectors=np.concatenate([part.sentence_vectors for part in parts]) if parts else np.zeros((0, dimensions), np.float32),
        sentence_hubness=np.concatenate([part.sentence_hubness for part in parts]) if parts else np.zeros(0, np.float32),
        chunk_vectors=np.concatenate([part.chunk_vectors for part in parts]) if parts else np.zeros((0, dimensions), np.float32),
        faiss_index=None,
        bm25=None,
        vocabulary={},
        sentence_evidence={
            column: np.concatenate([part.sentence_evidence[column] for part in parts]) if parts else np.zeros(0, np.int32)
            for column in EVIDENCE_COLUMNS
        },
    )


def write_sharded_build(temp: Path, contents: IndexContents, statistics: CorpusStatistics, shards: Sequence[Shard]) -> None:
    """Write a sharded build into ``temp``: the corpus-wide files, then each shard, manifest last.

    Args:
        temp: Folder from :func:`new_temp_build`.
        contents: The whole build (its manifest, documents and adapted model are used; its
            per-document files are written by the shards).
        statistics: What is computed over the whole corpus.
        shards: The shards, each with its own FAISS and BM25 index.
    """
    entries = []
    for shard in shards:
        folder = temp / shard_folder(shard.number)
        folder.mkdir(parents=True)
        _write_files(folder, shard.contents)
        write_global_numbers(folder, shard.documents, shard.chunks)
        entries.append(shard_entry(shard.number, _counts(shard.contents), shard.contents.manifest.get("faiss", {})))
    manifest = dict(contents.manifest)
    manifest["format_version"] = FORMAT_VERSION
    manifest["counts"] = _counts(contents)
    contents.manifest = finish_sharded_build(temp, manifest, statistics, entries, contents.adapted_model, contents.pair_questions)


def write_global_numbers(folder: Path, documents: np.ndarray, chunks: np.ndarray) -> None:
    """Write a shard's numbers of its documents and chunks in the whole corpus."""
    np.savez(folder / GLOBAL_NUMBERS_FILE, documents=documents, chunks=chunks)


def shard_entry(number: int, counts: dict[str, int], faiss_description: dict[str, Any]) -> dict[str, Any]:
    """A shard's entry in its build's manifest."""
    return {"path": shard_folder(number), "counts": counts, "faiss": faiss_description}


def contents_counts(contents: IndexContents) -> dict[str, int]:
    """Documents, sections, blocks, sentences and chunks of a build or shard (manifest ``counts``)."""
    return _counts(contents)


def finish_sharded_build(
    temp: Path,
    manifest: dict[str, Any],
    statistics: CorpusStatistics,
    entries: Sequence[dict[str, Any]],
    adapted_model: Path | None,
    pair_questions: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Write the corpus-wide files of a sharded build whose shard folders are written, then its
    manifest (every file's checksum) last.

    Args:
        temp: Folder from :func:`new_temp_build`, holding ``shards/NNN/``.
        manifest: The build's manifest, with its ``counts``.
        statistics: What is computed over the whole corpus.
        entries: Each shard's :func:`shard_entry`, in order.
        adapted_model: Folder of the adapted embedder to store (None: the base model).
        pair_questions: Its embedded training questions (:func:`write_pair_questions`; None:
            none, or already written into ``temp`` by the worker that embedded them).

    Returns:
        The manifest as written.
    """
    (temp / "vocabulary.json").write_text(json.dumps(statistics.vocabulary, ensure_ascii=False), encoding="utf-8")
    corpus = {
        "chunks": statistics.chunks,
        "sentences": statistics.sentences,
        "topics_present": statistics.topics_present,
        "bm25_document_frequencies": statistics.bm25_document_frequencies,
    }
    (temp / STATISTICS_FILE).write_text(json.dumps(corpus, ensure_ascii=False), encoding="utf-8")
    if adapted_model is not None:
        shutil.copytree(adapted_model, temp / ADAPTED_MODEL_DIR, copy_function=_link_or_copy)
    if pair_questions is not None:  # else none, or written by a worker (ingest/shard_build.py)
        write_pair_questions(temp, pair_questions)
    manifest = dict(manifest)
    manifest["format_version"] = FORMAT_VERSION
    manifest["sharding"] = {"count": len(entries), "assignment": SHARD_ASSIGNMENT, "shards": list(entries)}
    return _finish_manifest(temp, manifest)


def _sharded_manifest(index_dir: Path, model_name: str, weights_hash: str | None) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    build, manifest = _live_manifest(Path(index_dir))
    check_manifest(index_dir, manifest, model_name, weights_hash)
    entry = sharding(manifest)
    if entry is None:
        raise _refuse(index_dir, f"the build {build} is not sharded")
    return build, manifest, entry


def load_statistics(index_dir: Path, model_name: str, weights_hash: str | None) -> CorpusStatistics:
    """Load and verify the corpus-wide files of the live (sharded) build.

    Args:
        index_dir: Index folder.
        model_name: Name of the embedding model in this process.
        weights_hash: Hash of its weights.

    Returns:
        The statistics.

    Raises:
        IndexMissingError: Nothing was ever built there.
        IndexInvalidError: The build is not sharded, or damaged, or from another model.
    """
    index_dir = Path(index_dir)
    build, manifest, _ = _sharded_manifest(index_dir, model_name, weights_hash)
    verify_files(index_dir, build, manifest, only=lambda name: not name.startswith(SHARDS_DIR + "/"))
    try:
        vocabulary = json.loads((build / "vocabulary.json").read_text(encoding="utf-8"))
        corpus = json.loads((build / STATISTICS_FILE).read_text(encoding="utf-8"))
        return CorpusStatistics(
            manifest=manifest,
            vocabulary=vocabulary,
            bm25_document_frequencies={str(term): int(count) for term, count in corpus["bm25_document_frequencies"].items()},
            chunks=int(corpus["chunks"]),
            sentences=int(corpus["sentences"]),
            topics_present=int(corpus["topics_present"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise _refuse(index_dir, f"the corpus statistics of {build} cannot be read ({type(error).__name__}: {error})") from error


def load_shard(index_dir: Path, number: int, model_name: str, weights_hash: str | None) -> Shard:
    """Load and verify one shard of the live (sharded) build, and nothing else of it.

    Args:
        index_dir: Index folder.
        number: The shard (0-based).
        model_name: Name of the embedding model in this process.
        weights_hash: Hash of its weights.

    Returns:
        The shard.

    Raises:
        IndexMissingError: Nothing was ever built there.
        IndexInvalidError: The build is not sharded, has no such shard, or it is damaged.
    """
    index_dir = Path(index_dir)
    build, manifest, entry = _sharded_manifest(index_dir, model_name, weights_hash)
    if not 0 <= number < int(entry["count"]):
        raise _refuse(index_dir, f"the build {build} has {entry['count']} shards, not a shard {number}")
    prefix = shard_folder(number) + "/"
    verify_files(index_dir, build, manifest, only=lambda name: name.startswith(prefix))
    folder = build / shard_folder(number)
    contents = _read_folder(index_dir, folder, manifest, entry["shards"][number]["counts"])
    try:
        with np.load(folder / GLOBAL_NUMBERS_FILE) as numbers:
            documents, chunks = numbers["documents"], numbers["chunks"]
    except (OSError, ValueError, KeyError) as error:
        raise _refuse(index_dir, f"the shard {folder} cannot be read ({type(error).__name__}: {error})") from error
    if len(documents) != len(contents.documents) or len(chunks) != len(contents.chunks["doc"]):
        raise _refuse(index_dir, f"the global numbers of shard {folder} do not match its tables")
    faiss_info = entry["shards"][number].get("faiss", {})
    if faiss_info.get("kind") == "hnsw":
        contents.faiss_index.hnsw.efSearch = int(faiss_info.get("ef_search", 512))
    return Shard(number=number, contents=contents, documents=documents, chunks=chunks)
