"""Ingest speed against the model's encode rate on exactly the same texts.

Each repeat ingests into a fresh temporary index (empty embedding cache, so every text is really
embedded), then embeds the very texts that build embedded — its distinct sentence and chunk
texts — with a bare ``model.encode`` in batches. Repeats alternate which of the two goes first.
The ratio ingest / bare encode is the cost of everything else: reading, cleaning, splitting,
tagging, BM25, FAISS, the cache and writing the build.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.bench.harness import spread
from ingest.pipeline import chunk_embedding_text, run_ingest
from verbatim import index_format
from verbatim.embedding import Embedder
from verbatim.settings import Settings

ENCODE_BATCH = 64  # the batch size ingest uses (Embedder.encode_passages)


def embedded_texts(index_dir: Path, embedder: Embedder) -> tuple[list[str], list[str]]:
    """The distinct texts a fresh build embedded, in the two calls ingest makes.

    Ingest embeds the sentences first, then the chunk texts that are not already among them
    (a one-sentence chunk reuses its sentence's vector); the floor makes the same two calls so
    its batches pad the same way (mixing 250-token chunks into batches of 30-token sentences
    would pad the sentences and slow the floor down).

    Args:
        index_dir: A freshly built index.
        embedder: Warm embedder (the build must be its model's).

    Returns:
        Distinct sentence texts and the distinct chunk texts that are not sentence texts.
    """
    model_path = index_format.build_model_path(index_dir)  # a corpus with training pairs has its own model
    embedder = embedder.for_model(None if model_path is None else str(model_path))
    contents = index_format.load_build(index_dir, embedder.name, embedder.weights_hash)
    sentences = list(dict.fromkeys(
        contents.documents[doc].text[start:end]
        for doc, start, end in zip(contents.sentences["doc"], contents.sentences["start"], contents.sentences["end"], strict=True)
    ))
    known = set(sentences)
    chunks = list(dict.fromkeys(
        text
        for text in (
            chunk_embedding_text(contents.documents[doc], section, start, end)
            for doc, start, end, section in zip(
                contents.chunks["doc"], contents.chunks["start"], contents.chunks["end"], contents.chunks["section"], strict=True
            )
        )
        if text not in known
    ))
    return sentences, chunks


def bare_encode_seconds(embedder: Embedder, groups: Sequence[Sequence[str]]) -> list[float]:
    """Seconds for a bare ``model.encode`` of each group of texts (batches of 64, normalised)."""
    model = embedder._require()
    seconds = []
    for texts in groups:
        started = time.perf_counter()
        if texts:
            model.encode(list(texts), batch_size=ENCODE_BATCH, normalize_embeddings=True, convert_to_numpy=True)
        seconds.append(time.perf_counter() - started)
    return seconds


def measure_ingest(
    name: str, paths: Sequence[Path], embedder: Embedder, settings: Settings, repeats: int, workdir: Path | None = None
) -> dict[str, Any]:
    """Ingest ``paths`` ``repeats`` times into fresh indexes and compare with the bare encode.

    Args:
        name: Label of the corpus in the report.
        paths: Files or folders to ingest.
        embedder: Warm embedder shared by ingest and the floor.
        settings: Settings (chunking and file limits are used; the index folder is replaced).
        repeats: Builds (each followed or preceded by a bare encode of its texts).
        workdir: Where temporary indexes go (default: the system temp folder).

    Returns:
        Seconds, passages/s and texts/s of ingest and of the bare encode (median and range),
        their ratio per repeat, the stage timings of ingest and the corpus counts.
    """
    ingest_seconds: list[float] = []
    encode_seconds: list[float] = []
    sentence_seconds: list[float] = []
    ratios: list[float] = []
    stages: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    previous_texts: tuple[list[str], list[str]] | None = None
    for repeat in range(repeats):
        folder = Path(tempfile.mkdtemp(prefix="verbatim-bench-ingest-", dir=workdir))
        try:
            run_settings = settings.replace(index_dir=folder / "index")
            bare = None
            if repeat % 2 == 1 and previous_texts is not None:
                # Odd repeats measure the floor first, on the texts the previous build embedded.
                bare = bare_encode_seconds(embedder, previous_texts)
            report = run_ingest(paths=list(paths), settings=run_settings, embedder=embedder, force=True, show_progress=False)
            if report.status != "built":
                raise RuntimeError(f"ingest of {name} did not build: {report.message}")
            built_texts = embedded_texts(run_settings.index_dir, embedder)
            if previous_texts is not None and previous_texts != built_texts:
                raise RuntimeError("two builds of the same corpus embedded different texts")
            if bare is None:
                bare = bare_encode_seconds(embedder, built_texts)
            embedded = sum(len(group) for group in built_texts)
            if embedded != report.embedded:
                raise RuntimeError(f"the floor would embed {embedded} texts but ingest embedded {report.embedded}")
            previous_texts = built_texts
            counts = {
                "documents": report.documents,
                "sentences": report.sentences,
                "chunks": report.chunks,
                "texts_embedded": report.embedded,
                "sentence_texts": len(built_texts[0]),
                "chunk_texts": len(built_texts[1]),
                "characters_embedded": sum(len(text) for group in built_texts for text in group),
            }
            ingest_seconds.append(report.seconds)
            encode_seconds.append(sum(bare))
            sentence_seconds.append(bare[0])
            ratios.append(report.seconds / sum(bare))
            for stage, seconds in report.timings.items():
                stages.setdefault(stage, []).append(seconds)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    ingest_median = spread(ingest_seconds)["median"]
    encode_median = spread(encode_seconds)["median"]
    return {
        "corpus": name,
        "paths": [str(path) for path in paths],
        "repeats": repeats,
        **counts,
        "ingest_seconds": spread(ingest_seconds),
        "bare_encode_seconds": spread(encode_seconds),
        "bare_encode_sentence_share": spread([part / total for part, total in zip(sentence_seconds, encode_seconds, strict=True)]),
        "ratio": spread(ratios),
        "ingest_passages_per_second": round(counts["chunks"] / ingest_median, 1) if ingest_median else None,
        "ingest_texts_per_second": round(counts["texts_embedded"] / ingest_median, 1) if ingest_median else None,
        "bare_encode_texts_per_second": round(counts["texts_embedded"] / encode_median, 1) if encode_median else None,
        "stages_seconds_median": {stage: spread(values)["median"] for stage, values in stages.items()},
    }
