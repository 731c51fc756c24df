"""The MedQuAD benchmark: data, deterministic subsets and the benchmark's own index.

The benchmark folder (``../shared/benchmarks/medquad``, read-only) holds ``corpus.jsonl``
(15,790 NIH consumer-health answer texts: ``id``, ``title``, ``text``, ...) and
``questions.{dev,test}.jsonl`` (templated questions with ``relevant_ids``). Its README lists
the caveats; the one that matters most here is that every question contains its document's
title. Verbatim ingests ``corpus.jsonl`` through the normal ingest pipeline: the title of a
record is kept as metadata only and is **not** embedded or BM25-indexed, so all figures are
on document text alone.

Scoring lives in :mod:`eval.medquad.ranking` (document rankings) and
:mod:`eval.medquad.run` (the whole benchmark); ``verbatim eval --benchmark DIR`` runs it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.stats import sample, stable_order_key
from ingest.pipeline import pipeline_hash, run_ingest
from verbatim import index_format
from verbatim.settings import Settings

CORPUS_FILE = "corpus.jsonl"
MAX_CORPUS_BYTES = 200 * 1024 * 1024  # corpus.jsonl is 24 MB; ingest's default limit is 20 MB
PAIR_LEFT_OUT = "training pair left out"  # how ingest.pairs words a pair it leaves out (manifest "skipped")


@dataclass(frozen=True)
class BenchmarkQuestion:
    """One MedQuAD question.

    Attributes:
        id: Question id.
        question: Question text (templated; contains the focus, i.e. the document title).
        relevant_ids: Documents that answer it (any of them is right).
        qtype: Question type of the dataset (information, symptoms, ...); used only to break
            results down, never to answer.
        focus: Disease or topic the question is about.
        collection: Source website.
        generic_answer: Every relevant document is shared by several foci.
        split: ``dev`` or ``test``.
    """

    id: str
    question: str
    relevant_ids: tuple[str, ...]
    qtype: str
    focus: str
    collection: str
    generic_answer: bool
    split: str


def load_questions(folder: Path, split: str) -> list[BenchmarkQuestion]:
    """Questions of one split, in file order.

    Args:
        folder: Benchmark folder.
        split: ``dev`` or ``test``.

    Returns:
        The questions.
    """
    if split not in ("dev", "test"):
        raise ValueError("split must be dev or test")
    rows = []
    for line in (Path(folder) / f"questions.{split}.jsonl").read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        rows.append(
            BenchmarkQuestion(
                id=raw["id"],
                question=raw["question"],
                relevant_ids=tuple(raw["relevant_ids"]),
                qtype=raw.get("qtype", ""),
                focus=raw.get("focus", ""),
                collection=raw.get("collection", ""),
                generic_answer=bool(raw.get("generic_answer", False)),
                split=raw.get("split", split),
            )
        )
    return rows




def sample_questions(questions: Sequence[BenchmarkQuestion], limit: int | None) -> list[BenchmarkQuestion]:
    """A deterministic sample spread over collections and question types.

    Args:
        questions: All questions of a split.
        limit: Sample size (None or 0: all).

    Returns:
        The first ``limit`` questions in SHA-256 order of their ids (file order when all).
    """
    return sample(questions, limit, key=lambda question: question.id)


def read_corpus_lines(folder: Path) -> dict[str, str]:
    """Raw JSONL line of every corpus record, by document id (file order)."""
    lines: dict[str, str] = {}
    for line in (Path(folder) / CORPUS_FILE).read_text(encoding="utf-8").splitlines():
        if line.strip():
            lines[json.loads(line)["id"]] = line
    return lines


def subset_corpus(
    corpus_lines: dict[str, str], questions: Sequence[BenchmarkQuestion], distractors: int
) -> list[str]:
    """Corpus lines of a small benchmark: the questions' relevant documents plus others.

    Args:
        corpus_lines: Every record by id (:func:`read_corpus_lines`).
        questions: The sampled questions.
        distractors: Other documents added, the first in SHA-256 order of their ids.

    Returns:
        JSONL lines in corpus file order (unchanged bytes, so vectors cached for the full
        corpus are reused).
    """
    wanted = {doc for question in questions for doc in question.relevant_ids if doc in corpus_lines}
    others = sorted((doc for doc in corpus_lines if doc not in wanted), key=stable_order_key)[: max(0, distractors)]
    wanted.update(others)
    return [line for doc, line in corpus_lines.items() if doc in wanted]


@dataclass
class IndexStatus:
    """The benchmark index after :func:`ensure_index`.

    Attributes:
        index_dir: Index folder.
        action: ``reused`` (already held the corpus) or ``built`` (ingest ran).
        build_seconds: Ingest time of the live build (its manifest's ``build_seconds``).
        size_bytes: Size of the live build on disk.
        documents: Documents indexed.
        chunks: Chunks indexed.
        sentences: Sentences indexed.
        vector_index: FAISS index kind (``flat`` or ``hnsw``).
        skipped: Corpus records ingest skipped (with its reasons in the manifest).
        note: Anything the reader should know (e.g. built by other ingest code).
        pairs: Training pairs the embedder was adapted on (0: the base model).
        pairs_left_out: Pairs ingest left out (e.g. their document is not in a subset index).
    """

    index_dir: Path
    action: str
    build_seconds: float | None
    size_bytes: int
    documents: int
    chunks: int
    sentences: int
    vector_index: str
    skipped: int = 0
    note: str = ""
    pairs: int = 0
    pairs_left_out: int = 0


def build_size(index_dir: Path) -> int:
    """Bytes of the live build's files (the embedding cache and old builds excluded)."""
    build = index_format.current_build(index_dir)
    if build is None:
        return 0
    return sum(path.stat().st_size for path in build.rglob("*") if path.is_file())


def _from_pairs_file(source: str, pair_files: Sequence[str]) -> bool:
    """Whether a skipped source is a pairs file or one of its lines (``path:line``)."""
    return any(source == path or source.startswith(f"{path}:") for path in pair_files)


def _status(index_dir: Path, action: str, note: str = "") -> IndexStatus:
    manifest = index_format.read_manifest(index_dir) or {}
    counts = manifest.get("counts", {})
    adapted = manifest.get("model", {}).get("adapted") or {}
    # The pairs files are listed as skipped sources too ("training pairs, not a source document"),
    # and each pair ingest left out: neither is a corpus record.
    pair_files = tuple(adapted.get("pairs_files", []))
    skipped = [item for item in manifest.get("skipped", []) if not _from_pairs_file(str(item.get("source", "")), pair_files)]
    left_out = sum(1 for item in manifest.get("skipped", []) if str(item.get("reason", "")).startswith(PAIR_LEFT_OUT))
    return IndexStatus(
        index_dir=index_dir,
        action=action,
        build_seconds=manifest.get("build_seconds"),
        size_bytes=build_size(index_dir),
        documents=int(counts.get("documents", 0)),
        chunks=int(counts.get("chunks", 0)),
        sentences=int(counts.get("sentences", 0)),
        vector_index=str(manifest.get("faiss", {}).get("kind", "")),
        skipped=len(skipped),
        note=note,
        pairs=int(adapted.get("pairs", 0)),
        pairs_left_out=left_out,
    )


def _may_reuse(manifest: dict[str, Any], pairs: Path | None) -> bool:
    """Whether an index holding the right documents may be reused without asking ingest: only
    when no pairs are given and it has the base model. With pairs, ingest's fingerprint (which
    covers the pairs, the training settings and code) decides whether to rebuild."""
    return pairs is None and manifest.get("model", {}).get("adapted") is None


def ensure_index(
    corpus_lines: Sequence[str],
    index_dir: Path,
    embedder: Any,
    rebuild: bool = False,
    show_progress: bool | None = None,
    source: Path | None = None,
    pairs: Path | None = None,
) -> IndexStatus:
    """Make ``index_dir`` hold exactly these corpus records.

    An index that already holds the same documents (same ids and content hashes, apart from
    the records its ingest skipped) is reused
    as is, even when it was built by other ingest code (the note says so; ``rebuild`` runs
    ingest anyway, which reuses cached vectors). Otherwise the records are ingested with the
    normal pipeline: progress bar on a terminal, resumable after a crash (the embedding
    cache keeps every finished batch).

    Args:
        corpus_lines: JSONL records to index.
        index_dir: The benchmark's own index folder.
        embedder: Warm embedder.
        rebuild: Run ingest even when the index already holds the records.
        show_progress: Progress bars; default: on a terminal.
        source: A JSONL file holding exactly ``corpus_lines`` (the full corpus); otherwise they
            are written next to the index folder first.
        pairs: A training-pairs file (``*.pairs.jsonl``) given to ingest with the corpus: the
            index is embedded by the model adapted on them (ingest decides whether the index is up
            to date). Without pairs, an index embedded by an adapted model is rebuilt.

    Returns:
        The index status.

    Raises:
        RuntimeError: When ingest fails.
    """
    index_dir = Path(index_dir)
    wanted = {json.loads(line)["id"]: hashlib.sha256(line.encode("utf-8")).hexdigest() for line in corpus_lines}
    manifest = index_format.read_manifest(index_dir)
    if manifest is not None and not rebuild and _may_reuse(manifest, pairs):
        held = {item["doc_id"]: item.get("content_hash") for item in manifest.get("documents", [])}
        # Records ingest skipped (e.g. nothing left after cleaning) are listed in the manifest.
        if held.items() <= wanted.items() and len(wanted) - len(held) == len(manifest.get("skipped", [])):
            note = ""
            if manifest.get("pipeline") != pipeline_hash():
                note = (
                    f"index built by other ingest code (pipeline {manifest.get('pipeline')}, this checkout "
                    f"{pipeline_hash()}); pass --rebuild to re-ingest with this code"
                )
            return _status(index_dir, "reused", note)
    index_dir.mkdir(parents=True, exist_ok=True)
    if source is None:
        source = index_dir.parent / f"{index_dir.name}.{CORPUS_FILE}"
        source.write_text("\n".join(corpus_lines) + "\n", encoding="utf-8")
    print(f"Ingesting {len(corpus_lines)} MedQuAD documents into {index_dir} ...", file=sys.stderr)
    settings = Settings.from_env(index_dir=index_dir, max_file_bytes=MAX_CORPUS_BYTES)
    paths = [source] if pairs is None else [source, Path(pairs)]
    report = run_ingest(paths=paths, settings=settings, embedder=embedder, force=rebuild, show_progress=show_progress)
    if not report.ok:
        raise RuntimeError(report.summary())
    return _status(index_dir, "built" if report.status == "built" else "reused")
