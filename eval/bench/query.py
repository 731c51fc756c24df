"""Query latency in-process: the full answer path against a bare query embedding.

The floor of one question is one forward pass of the model, measured as a bare
``SentenceTransformer.encode(question)`` in the same process, interleaved question by question
with ``Answerer.run(question)`` (retrieve, extract, abstain, safety). The ratio of the two is
what a noisy machine cannot move much.

At MedQuAD scale a third callable reproduces the peers' "bare retrieval script" (query encode
+ exact FAISS over the chunk vectors + BM25 top 10, no extraction, no safety) on the same
index, so the comparison with the peers' figures is made in the same run.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

from eval.bench.harness import Interleaved, interleave
from qa.pipeline import Answerer
from verbatim.textutil import bm25_terms

STAGES = ("embed", "retrieve", "extract", "decide")


class BareRetrievalScript:
    """What the peers' bare script does per question: encode, FAISS flat top 10, BM25 top 10.

    Args:
        answerer: A warm answerer; its model, chunk vectors and BM25 index are reused.
    """

    def __init__(self, answerer: Answerer) -> None:
        import faiss

        store = answerer.store
        self.model = answerer.embedder._require()
        self.index = faiss.IndexFlatIP(store.chunk_vectors.shape[1])
        self.index.add(np.ascontiguousarray(store.chunk_vectors, dtype=np.float32))
        self.bm25 = store.bm25
        self.chunks = len(store.chunk_doc)

    def __call__(self, question: str) -> tuple[np.ndarray, np.ndarray]:
        """Dense and BM25 top-10 chunk ids of a question."""
        vector = self.model.encode(question, normalize_embeddings=True)
        _, dense = self.index.search(vector.reshape(1, -1), 10)
        terms = bm25_terms(question)
        scores = self.bm25.get_scores(terms) if terms else np.zeros(self.chunks, np.float32)
        count = min(10, self.chunks)
        return dense[0], np.argpartition(-scores, count - 1)[:count]


def measure_answer_path(
    answerer: Answerer,
    questions: Sequence[str],
    rounds: int,
    warmup: int,
    with_bare_script: bool = False,
) -> dict[str, Any]:
    """Latency of ``Answerer.run`` next to a bare ``model.encode`` (and the bare script).

    Args:
        answerer: A warm answerer over the index to measure.
        questions: Questions, each asked once per round.
        rounds: Recorded passes over the questions.
        warmup: Untimed questions first (fills caches, builds lazy lookups).
        with_bare_script: Also time :class:`BareRetrievalScript`.

    Returns:
        Distributions (ms) of each callable, the ratio of the answer path to the bare encode
        at p50/p95/p99 (pooled and per round), the median time of each answer-path stage and
        the share of abstentions.
    """
    model = answerer.embedder._require()
    callables = {"bare_encode": model.encode, "answer_path": answerer.run}
    if with_bare_script:
        callables["bare_retrieval_script"] = BareRetrievalScript(answerer)
    samples = interleave(callables, list(questions), rounds=rounds, warmup=warmup, keep_results=["answer_path"])
    return summarise(samples, answerer)


def summarise(samples: Interleaved, answerer: Answerer) -> dict[str, Any]:
    """The figures of :func:`measure_answer_path` from its samples."""
    answers = samples.extras["answer_path"]
    store = answerer.store
    result: dict[str, Any] = {
        "index": {
            "path": str(store.path),
            "documents": len(store.documents),
            "chunks": len(store.chunk_doc),
            "sentences": len(store.sentence_doc),
            "vector_index": store.manifest.get("faiss", {}),
        },
        "questions": len(samples.rounds_ms["answer_path"][0]) if samples.rounds_ms["answer_path"] else 0,
        "rounds": len(samples.rounds_ms["answer_path"]),
        "latency_ms": {name: samples.summary(name) for name in samples.samples_ms},
        "ratio_to_bare_encode": {
            f"p{int(fraction * 100)}": samples.ratio("answer_path", "bare_encode", fraction) for fraction in (0.5, 0.95, 0.99)
        },
        "stages_ms_median": {
            stage: round(statistics.median(answer.timings_ms.get(stage, 0.0) for answer in answers), 3) for stage in STAGES
        },
        "abstained_share": round(sum(answer.abstained for answer in answers) / max(1, len(answers)), 3),
    }
    if "bare_retrieval_script" in samples.samples_ms:
        result["ratio_to_bare_retrieval_script"] = {
            "p50": samples.ratio("answer_path", "bare_retrieval_script", 0.5),
            "p95": samples.ratio("answer_path", "bare_retrieval_script", 0.95),
        }
    return result
