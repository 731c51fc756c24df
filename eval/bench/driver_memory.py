"""What the driver of ``verbatim ingest --ray --shards N`` holds per document, measured.

The driver of a sharded build on Ray keeps the corpus's parsed documents and tables (texts,
sentence and chunk texts, int columns) and never a vector (``tests/cluster/test_shard_build.py``).
This measures the memory of exactly that, with ``tracemalloc``, for two subset sizes of MedQuAD
in one warm process; the difference divided by the difference in documents is the driver's cost
of one more document, printed beside what the same documents' vectors alone weigh (which a
driver that assembles the whole build holds several times over: the cache, the matrices, the
FAISS index and the split copies).

    python -m eval.bench.driver_memory --medquad-data ../shared/benchmarks/medquad --docs 250 750
"""

from __future__ import annotations

import argparse
import json
import tempfile
import tracemalloc
from pathlib import Path

from eval.bench.medquad import write_subset
from ingest.loader import SourceText, read_sources
from ingest.pipeline import build_tables, parse_sources
from verbatim.embedding import Embedder
from verbatim.safety_policy import SafetyPolicy
from verbatim.settings import Settings


def held_by_the_driver(corpus: Path, embedder: Embedder, settings: Settings, policy: SafetyPolicy) -> dict[str, float]:
    """Bytes the driver holds for one corpus file: parsed documents and tables (traced).

    Args:
        corpus: A MedQuAD subset (JSONL).
        embedder: Warm embedder (its tokenizer measures chunks).
        settings: Settings.
        policy: Safety policy.

    Returns:
        Documents, sentences, chunks, bytes held, and bytes of the same texts' vectors.
    """
    tracemalloc.start()
    try:
        sources = [item for item in read_sources([corpus], settings.max_file_bytes) if isinstance(item, SourceText)]
        parsed, _ = parse_sources(sources, settings)
        tables = build_tables(parsed, embedder, settings, policy)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    texts = len(tables.sentence_texts) + len(tables.chunk_texts)
    return {"documents": len(parsed), "sentences": len(tables.sentence_texts), "chunks": len(tables.chunk_texts),
            "held_bytes": held, "vector_bytes": texts * embedder.dimensions * 4}


def main(argv: list[str] | None = None) -> int:
    """Print one JSON line per subset size, then the per-document difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--medquad-data", type=Path, required=True, help="folder of the MedQuAD benchmark (corpus.jsonl)")
    parser.add_argument("--docs", type=int, nargs=2, default=(250, 750), help="two subset sizes (default 250 750)")
    args = parser.parse_args(argv)
    embedder = Embedder()
    embedder.warm_up()
    settings, policy = Settings.from_env(), SafetyPolicy.load()
    with tempfile.TemporaryDirectory() as scratch:
        warm = Path(scratch) / "warm.jsonl"  # one-time allocations (regexes, tokenizer caches) first
        write_subset(args.medquad_data / "corpus.jsonl", 20, warm)
        held_by_the_driver(warm, embedder, settings, policy)
        rows = []
        for count in args.docs:
            corpus = Path(scratch) / f"{count}.jsonl"
            write_subset(args.medquad_data / "corpus.jsonl", count, corpus)
            rows.append(held_by_the_driver(corpus, embedder, settings, policy))
            print(json.dumps(rows[-1]))
    small, large = rows
    documents = large["documents"] - small["documents"]
    print(json.dumps({
        "driver_kb_per_document": round((large["held_bytes"] - small["held_bytes"]) / documents / 1e3, 1),
        "vector_kb_per_document": round((large["vector_bytes"] - small["vector_bytes"]) / documents / 1e3, 1),
        "sentences_per_document": round((large["sentences"] - small["sentences"]) / documents, 1),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
