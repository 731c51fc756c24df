"""Retrieval at 1k to 1M chunks: latency, recall of the vector index, resident memory.

The chunks are real: the chunk vectors and BM25 terms of a built index (MedQuAD's). Sizes up to
the real count take a fixed random subset; beyond it every real chunk is repeated, each copy
given small Gaussian noise (``--noise`` per dimension) and renormalised, with the same BM25
terms. The report says which sizes are synthetic.

Each size runs in its own process so its resident memory is its own. There:

* the vector index is built by ingest's own rule (``ingest.indexers.build_vector_index``: flat up
  to 20,000 chunks, HNSW beyond) and its recall@10 is measured against exact search, together
  with a sweep of HNSW's ``efSearch``;
* BM25 is built the way ingest builds it (bm25s, Lucene variant) over the chunks' terms;
* the production retriever (``qa.retriever.HybridRetriever``) runs over these structures, so
  a query costs what it costs in the answer path: one query embedding, dense search, BM25 over
  every chunk, fusion. Sentence-level extraction is not part of it (it only looks at the
  top chunks, so it does not grow with the corpus); its cost at MedQuAD scale is in the query
  section.

Run by the bench; as a module it is the per-size worker::

    python -m eval.bench.scale --source DIR --chunks 100000
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from eval.bench.harness import interleave
from eval.stats import percentile, rss_mb
from ingest.indexers import build_vector_index
from ingest.pipeline import chunk_embedding_text
from qa.retriever import HybridRetriever
from qa.tunables import TUNABLES
from qa.types import Query
from verbatim.embedding import Embedder
from verbatim.index_format import IndexContents
from verbatim.settings import force_offline
from verbatim.textutil import bm25_terms

EF_SEARCH_SWEEP = (64, 128, 200, 256, 512, 1024)
RECALL_GOAL = 0.98
REAL = 0  # in a list of sizes: every real chunk, unchanged
SEARCH_DEPTH = 50  # chunks the retriever takes from each of FAISS and BM25


def write_source(contents: IndexContents, questions: Sequence[str], folder: Path) -> dict[str, Any]:
    """Save what the workers need from a built index: chunk vectors, chunk terms, questions.

    Args:
        contents: A loaded build (``IndexStore.contents`` or ``load_build``).
        questions: Query texts (real questions of that corpus).
        folder: Where to write.

    Returns:
        Counts of the source (documents, chunks, sentences).
    """
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "vectors.npy", np.ascontiguousarray(contents.chunk_vectors, dtype=np.float32))
    vocabulary: dict[str, int] = {}
    ids: list[int] = []
    offsets = [0]
    for doc, start, end, section in zip(
        contents.chunks["doc"], contents.chunks["start"], contents.chunks["end"], contents.chunks["section"], strict=True
    ):
        for term in bm25_terms(chunk_embedding_text(contents.documents[doc], section, start, end)):
            ids.append(vocabulary.setdefault(term, len(vocabulary)))
        offsets.append(len(ids))
    np.savez(folder / "terms.npz", ids=np.asarray(ids, dtype=np.int32), offsets=np.asarray(offsets, dtype=np.int64))
    (folder / "vocabulary.json").write_text(json.dumps(vocabulary), encoding="utf-8")
    (folder / "questions.json").write_text(json.dumps(list(questions)), encoding="utf-8")
    return {
        "documents": len(contents.documents),
        "chunks": len(contents.chunk_vectors),
        "sentences": len(contents.sentence_vectors),
    }


def nearest_neighbour_similarity(vectors: np.ndarray, sample: int = 1000, seed: int = 7) -> float | None:
    """Median cosine similarity of a real chunk to its nearest other chunk (a sample of chunks).

    The noise given to repeated copies is judged against it: copies much closer to their
    original than real chunks are to their neighbours make tighter clusters than a real corpus
    has (and near-ties that any approximate index finds hard).
    """
    import faiss

    if len(vectors) < 2:
        return None
    rng = np.random.default_rng(seed)
    queries = np.ascontiguousarray(vectors[rng.choice(len(vectors), min(sample, len(vectors)), replace=False)], dtype=np.float32)
    scores, _ = faiss.knn(queries, np.ascontiguousarray(vectors, dtype=np.float32), 2, metric=faiss.METRIC_INNER_PRODUCT)
    return round(float(np.median(scores[:, 1])), 3)


def synthesise(real: np.ndarray, count: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` unit vectors made from real ones.

    Args:
        real: Real unit vectors ``(r, d)``.
        count: Vectors wanted.
        noise: Standard deviation per dimension of the noise added to repeated copies.
        seed: Random seed (subset choice and noise).

    Returns:
        The vectors and, for each, the row of ``real`` it comes from. Up to ``r`` vectors are a
        random subset of the real ones, unchanged; beyond, the first ``r`` are the real ones and
        the rest noisy copies.
    """
    rng = np.random.default_rng(seed)
    total, dimensions = real.shape
    if count <= total:
        rows = np.sort(rng.permutation(total)[:count])
        return np.ascontiguousarray(real[rows]), rows
    rows = np.arange(count) % total
    output = np.empty((count, dimensions), dtype=np.float32)
    output[:total] = real
    for begin in range(total, count, 65_536):
        stop = min(count, begin + 65_536)
        block = real[rows[begin:stop]] + noise * rng.standard_normal((stop - begin, dimensions), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        output[begin:stop] = block
    return output, rows


def recall_at(found: np.ndarray, exact: np.ndarray, k: int = 10) -> float:
    """Mean share of the exact top ``k`` that a search found in its top ``k``."""
    hits = [len(set(row[:k]) & set(truth[:k])) / k for row, truth in zip(found, exact, strict=True)]
    return float(np.mean(hits)) if hits else 0.0


def _worker(args: argparse.Namespace) -> dict[str, Any]:
    """Build and measure one size (runs in its own process)."""
    import bm25s
    import faiss


    force_offline()
    embedder = Embedder()
    embedder.warm_up()
    model = embedder._require()
    source = Path(args.source)
    real = np.load(source / "vectors.npy")
    with np.load(source / "terms.npz") as data:
        term_ids, offsets = data["ids"], data["offsets"]
    vocabulary = json.loads((source / "vocabulary.json").read_text(encoding="utf-8"))
    questions = json.loads((source / "questions.json").read_text(encoding="utf-8"))[: args.queries]
    query_vectors = np.vstack([embedder.encode_queries(questions[i : i + 64]) for i in range(0, len(questions), 64)])
    query_terms = [bm25_terms(question) for question in questions]
    gc.collect()
    rss_before = rss_mb()

    real_chunks = len(real)
    clock = time.perf_counter()
    vectors, rows = synthesise(real, args.chunks, args.noise, args.seed)
    synthesise_seconds = time.perf_counter() - clock
    copies = np.arange(real_chunks, len(vectors))[:2000]
    copy_similarity = float(np.median(np.sum(vectors[copies] * real[rows[copies]], axis=1))) if len(copies) else None
    del real
    clock = time.perf_counter()
    index, description = build_vector_index(vectors)
    index_seconds = time.perf_counter() - clock
    clock = time.perf_counter()
    # Copies share their original's term list (a million separate lists would not fit).
    real_terms = [term_ids[offsets[row] : offsets[row + 1]].tolist() for row in range(real_chunks)]
    corpus = [real_terms[row] for row in rows]
    bm25 = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    bm25.index((corpus, dict(vocabulary)), show_progress=False)
    bm25_seconds = time.perf_counter() - clock
    del corpus, rows, real_terms, term_ids, offsets
    gc.collect()
    rss_after = rss_mb()

    depth, top = min(SEARCH_DEPTH, len(vectors)), min(10, len(vectors))
    exact_top, _ = _exact(vectors, query_vectors, top)
    recall = {}
    sweep = {}
    if description["kind"] == "hnsw":
        sweep = _ef_sweep(index, query_vectors, exact_top, sorted({*EF_SEARCH_SWEEP, description["ef_search"]}), top, depth)
        index.hnsw.efSearch = description["ef_search"]
        recall["smallest_ef_search_for_recall_goal"] = _smallest_ef(sweep)
    recall["recall_at_10"] = round(recall_at(index.search(query_vectors, top)[1], exact_top, top), 4)
    # The retriever rescores FAISS's top 50 exactly, so what reaches its ranking is every exact
    # top-10 chunk that is among those 50.
    candidates = index.search(query_vectors, depth)[1]
    recall["recall_at_10_in_top_50"] = round(
        float(np.mean([len(set(row) & set(truth)) / top for row, truth in zip(candidates, exact_top, strict=True)])), 4
    )

    store = SimpleNamespace(chunk_doc=np.zeros(len(vectors), dtype=np.int32), faiss_index=index, bm25=bm25, chunk_vectors=vectors)
    retriever = HybridRetriever(store)
    terms = {position: tuple(found) for position, found in enumerate(query_terms)}

    def query_path(position: int) -> object:
        vector = embedder.encode_queries([questions[position]])[0]
        query = Query(questions[position], questions[position], vector, terms[position], ())
        return retriever.run(query, top_k=TUNABLES.retrieval.depth)

    def bm25_scores(position: int) -> object:
        scores = bm25.get_scores(list(terms[position])) if terms[position] else np.zeros(len(vectors), np.float32)
        return np.argpartition(-scores, depth - 1)[:depth]

    callables = {
        "bare_encode": lambda position: model.encode(questions[position]),
        "query_encode_and_retrieve": query_path,
        "vector_search": lambda position: index.search(query_vectors[position : position + 1], depth),
        "exact_search": lambda position: faiss.knn(query_vectors[position : position + 1], vectors, depth, metric=faiss.METRIC_INNER_PRODUCT),
        "bm25_scores_top": bm25_scores,
    }
    samples = interleave(callables, list(range(len(questions))), rounds=args.rounds, warmup=args.warmup)

    candidate = None
    if description["kind"] == "hnsw" and args.candidate_hnsw:
        # Another HNSW build, after every production figure is taken: does a denser graph reach the goal?
        neighbours, construction = args.candidate_hnsw
        clock = time.perf_counter()
        other = faiss.IndexHNSWFlat(vectors.shape[1], neighbours, faiss.METRIC_INNER_PRODUCT)
        other.hnsw.efConstruction = construction
        other.add(vectors)
        built = time.perf_counter() - clock
        other_sweep = _ef_sweep(other, query_vectors, exact_top, EF_SEARCH_SWEEP, top, depth)
        candidate = {
            "M": neighbours, "ef_construction": construction, "build_seconds": round(built, 1),
            "ef_search_sweep": other_sweep, "smallest_ef_search_for_recall_goal": _smallest_ef(other_sweep),
        }
        del other
    return {
        "candidate_hnsw": candidate,
        "chunks": int(args.chunks),
        "real_chunks": int(real_chunks),
        "synthetic": bool(args.chunks > real_chunks),
        "noise_per_dimension": args.noise,
        "copy_to_original_similarity_median": None if copy_similarity is None else round(copy_similarity, 3),
        "vector_index": description,
        "queries": len(questions),
        "rounds": args.rounds,
        "build_seconds": {"synthesise": round(synthesise_seconds, 2), "vector_index": round(index_seconds, 2), "bm25": round(bm25_seconds, 2)},
        **recall,
        "ef_search_sweep": sweep,
        "latency_ms": {name: samples.summary(name) for name in callables},
        "ratio_to_bare_encode": {
            "p50": samples.ratio("query_encode_and_retrieve", "bare_encode", 0.5),
            "p95": samples.ratio("query_encode_and_retrieve", "bare_encode", 0.95),
        },
        "rss_mb": {"before": rss_before, "after_build": rss_after, "retrieval_structures": round((rss_after or 0) - (rss_before or 0), 1)},
        "retrieval_mb_per_million_chunks": round(((rss_after or 0) - (rss_before or 0)) * 1_000_000 / args.chunks, 1),
        "vectors_mb": round(vectors.nbytes / 2**20, 1),
    }


def _ef_sweep(index, queries: np.ndarray, exact_top: np.ndarray, values, top: int, depth: int) -> dict[str, dict[str, float]]:
    """Recall@10 and single-query search p50 of an HNSW index at several efSearch values."""
    sweep = {}
    for ef in values:
        index.hnsw.efSearch = ef
        found = index.search(queries, top)[1]
        timings = []
        for position in range(len(queries)):
            started = time.perf_counter()
            index.search(queries[position : position + 1], depth)
            timings.append((time.perf_counter() - started) * 1000)
        sweep[str(ef)] = {"recall_at_10": round(recall_at(found, exact_top, top), 4), "search_p50_ms": round(percentile(timings, 0.5), 3)}
    return sweep


def _smallest_ef(sweep: dict[str, dict[str, float]]) -> int | None:
    enough = [int(ef) for ef, item in sweep.items() if item["recall_at_10"] >= RECALL_GOAL]
    return min(enough) if enough else None


def _exact(vectors: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    scores, ids = faiss.knn(queries, vectors, k, metric=faiss.METRIC_INNER_PRODUCT)
    return ids, scores


def measure_scale(
    contents: IndexContents,
    source_name: str,
    questions: Sequence[str],
    scales: Sequence[int],
    rounds: int,
    warmup: int,
    noise: float,
    seed: int = 7,
    candidate_hnsw: tuple[int, int] | None = None,
    timeout: float = 7200.0,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Run the per-size worker for each size.

    Args:
        contents: The source build whose chunks are used.
        source_name: Its name in the report.
        questions: Real questions of that corpus (query texts).
        scales: Chunk counts (``REAL``: all the source's chunks).
        rounds: Recorded passes over the questions per size.
        warmup: Untimed queries first.
        noise: Noise per dimension of repeated copies.
        seed: Random seed.
        candidate_hnsw: ``(M, efConstruction)`` of another HNSW measured beside ingest's.
        timeout: Seconds allowed per size.
        workdir: Where the source files go (default: a temporary folder).

    Returns:
        The source, its sentence-per-chunk ratio, and one result per size (or its error).
    """
    with tempfile.TemporaryDirectory(prefix="verbatim-bench-scale-", dir=workdir) as folder:
        source = Path(folder)
        counts = write_source(contents, questions, source)
        neighbour = nearest_neighbour_similarity(contents.chunk_vectors)
        results = []
        for size in [counts["chunks"] if size == REAL else size for size in scales]:
            command = [
                sys.executable, "-m", "eval.bench.scale", "--source", str(source), "--chunks", str(size),
                "--queries", str(len(questions)), "--rounds", str(rounds), "--warmup", str(warmup),
                "--noise", str(noise), "--seed", str(seed),
            ]
            if candidate_hnsw:
                command += ["--candidate-hnsw", f"{candidate_hnsw[0]},{candidate_hnsw[1]}"]
            print(f"  scale: {size:,} chunks ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            process = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ})
            if process.returncode != 0:
                results.append({"chunks": size, "error": process.stderr.strip().splitlines()[-1:] or [f"exit {process.returncode}"]})
                print(f"  scale: {size:,} chunks failed: {process.stderr[-2000:]}", file=sys.stderr)
                continue
            result = json.loads(process.stdout.strip().splitlines()[-1])
            result["wall_seconds"] = round(time.perf_counter() - started, 1)
            results.append(result)
    return {
        "source": source_name,
        "source_counts": counts,
        "sentences_per_chunk": round(counts["sentences"] / max(1, counts["chunks"]), 2),
        "nearest_neighbour_similarity_median": neighbour,
        "noise_per_dimension": noise,
        "seed": seed,
        "sizes": results,
    }


def _pair(text: str) -> tuple[int, int]:
    first, second = (int(part) for part in text.split(","))
    return first, second


def main(argv: list[str] | None = None) -> int:
    """Worker entry point: measure one size and print its JSON on the last line."""
    parser = argparse.ArgumentParser(prog="python -m eval.bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="folder written by write_source")
    parser.add_argument("--chunks", type=int, required=True, help="number of chunks to build")
    parser.add_argument("--queries", type=int, default=200, help="questions used as queries")
    parser.add_argument("--rounds", type=int, default=3, help="recorded passes over the queries")
    parser.add_argument("--warmup", type=int, default=20, help="untimed queries first")
    parser.add_argument("--noise", type=float, default=0.03, help="noise per dimension of repeated copies")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--candidate-hnsw", type=_pair, default=None, metavar="M,EF_CONSTRUCTION",
                        help="also build HNSW with these parameters (sizes that get HNSW) and sweep its efSearch")
    args = parser.parse_args(argv)
    print(json.dumps(_worker(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
