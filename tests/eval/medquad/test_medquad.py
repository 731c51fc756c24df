"""MedQuAD benchmark code path on a small deterministic subset (CI), plus its ranking pieces."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from eval.medquad import data as medquad
from eval.medquad.ranking import DocumentScorer, question_type

REPO = Path(__file__).resolve().parents[3]
# The benchmark is shared, read-only data outside the repository: next to this checkout, or in
# the workspace's shared folder when the checkout is a clone elsewhere (CI).
CANDIDATES = [
    Path(path)
    for path in (os.environ.get("VERBATIM_MEDQUAD"), REPO.parent / "shared" / "benchmarks" / "medquad", "/work/shared/benchmarks/medquad")
    if path
]


def _benchmark() -> Path:
    for candidate in CANDIDATES:
        if (candidate / "corpus.jsonl").exists():
            return candidate
    pytest.skip("MedQuAD benchmark data not found (set VERBATIM_MEDQUAD); looked in " + ", ".join(map(str, CANDIDATES)))


def test_question_types_from_wording():
    assert question_type("What are the symptoms of Whiplash ?") == "symptoms"
    assert question_type("What are the treatments for Chapare Hemorrhagic Fever (CHHF) ?") == "treatment"
    assert question_type("Is Moebius syndrome inherited ?") == "inheritance"
    assert question_type("How to diagnose Gout ?") == "exams and tests"
    assert question_type("What is (are) Whiplash ?") == "information"


def test_document_scorer_aggregates_chunks_and_sentences_per_document(answerer):
    store = answerer.store
    scorer = DocumentScorer(store)
    query = answerer.prepare("How much glutamine should I take for gut health?")
    scores = scorer.score(query.vector[None, :], [query.terms])
    dense_chunks = store.chunk_vectors @ query.vector
    bm25_chunks = store.bm25.get_scores(list(query.terms))
    dense_sentences = store.sentence_vectors @ query.vector
    for doc in range(len(store.documents)):
        chunks = np.flatnonzero(store.chunk_doc == doc)
        sentences = np.flatnonzero(store.sentence_doc == doc)
        assert scores.dense[0, doc] == pytest.approx(dense_chunks[chunks].max(), abs=1e-5)
        assert scores.bm25[0, doc] == pytest.approx(bm25_chunks[chunks].max(), abs=1e-5)
        assert scores.first_dense[0, doc] == pytest.approx(dense_chunks[chunks[0]], abs=1e-5)
        assert scores.sentence[0, doc] == pytest.approx(dense_sentences[sentences].max(), abs=1e-5)
        mean = store.sentence_vectors[sentences].mean(axis=0)
        assert scores.mean[0, doc] == pytest.approx(float(mean @ query.vector / np.linalg.norm(mean)), abs=1e-5)


def test_subset_is_deterministic_and_holds_the_relevant_documents():
    folder = _benchmark()
    questions = medquad.sample_questions(medquad.load_questions(folder, "test"), 30)
    assert [q.id for q in questions] == [q.id for q in medquad.sample_questions(medquad.load_questions(folder, "test"), 30)]
    assert len({q.collection for q in questions}) > 3  # spread, not the first collection in the file
    corpus = medquad.read_corpus_lines(folder)
    lines = medquad.subset_corpus(corpus, questions, 200)
    ids = [json.loads(line)["id"] for line in lines]
    relevant = {doc for q in questions for doc in q.relevant_ids}
    assert relevant <= set(ids)
    assert len(ids) == len(relevant) + 200


@pytest.mark.slow
def test_benchmark_runs_end_to_end_on_a_small_subset(tmp_path, embedder, capsys):
    """`verbatim eval --benchmark` on 30 test questions, their documents and 200 others."""
    from verbatim.cli import main

    folder = _benchmark()
    index = tmp_path / "medquad-index"
    out = tmp_path / "report"
    args = ["eval", "--benchmark", str(folder), "--benchmark-index", str(index), "--split", "test",
            "--limit", "30", "--distractors", "200", "--out", str(out)]
    assert main(args) == 0
    report = json.loads((out / "medquad.json").read_text())
    assert report["questions"] == 30
    assert report["index"]["documents"] + report["index"]["skipped"] == len(
        {d for q in medquad.sample_questions(medquad.load_questions(folder, "test"), 30) for d in q.relevant_ids}
    ) + 200
    systems = report["systems"]
    assert {"bm25", "dense", "hybrid-rrf", "hybrid-minmax", "type-aware", "shipped-hybrid-minmax", "shipped-dense", "shipped-bm25"} <= set(systems)
    for name, metrics in systems.items():
        assert 0.0 <= metrics["ndcg_at_10"] <= 1.0, name
        assert metrics["recall_at_10"] <= metrics["recall_at_100"] + 1e-9, name
    # Far above chance (about 0.05 of 230 documents): the rankings are real.
    assert systems["dense"]["ndcg_at_10"] > 0.6
    assert systems["dense"]["recall_at_100"] >= 0.9
    assert 0.0 <= report["answer"]["from_relevant"] <= 1.0 and report["answer"]["from_relevant"] > 0.4
    assert report["latency"]["answer_p50_ms"] > 0
    assert report["index"]["size_bytes"] > 0 and report["index"]["build_seconds"] > 0
    printed = capsys.readouterr().out
    assert "| dense |" in printed and "nDCG@10" in printed
    # The index is cached: the same subset again reuses it without ingesting.
    status = medquad.ensure_index(medquad.subset_corpus(medquad.read_corpus_lines(folder),
                                  medquad.sample_questions(medquad.load_questions(folder, "test"), 30), 200), index, embedder)
    assert status.action == "reused"


def _question(qid: str, text: str, relevant: tuple[str, ...]) -> medquad.BenchmarkQuestion:
    return medquad.BenchmarkQuestion(qid, text, relevant, "", "", "", False, "dev")


def test_type_prior_points_at_the_documents_of_the_asked_type():
    from eval.medquad.learned import TypePrior

    rng = np.random.default_rng(0)
    symptoms_axis, treatment_axis = np.eye(8)[0], np.eye(8)[1]
    vectors, questions = [], []
    for number in range(20):
        # Two answer pages per disease: symptoms pages lean one way, treatment pages the other.
        topic = rng.normal(size=8) * 0.3
        vectors += [topic + symptoms_axis, topic + treatment_axis]
        questions += [
            _question(f"s{number}", f"What are the symptoms of disease {number} ?", (f"d{2 * number}",)),
            _question(f"t{number}", f"What are the treatments for disease {number} ?", (f"d{2 * number + 1}",)),
        ]
    first = np.array(vectors, dtype=np.float32)
    prior = TypePrior.fit(questions, {f"d{i}": i for i in range(len(first))}, first)
    assert set(prior.prototypes) == {"symptoms", "treatment"}
    on_symptoms = prior.similarity("What are the signs and symptoms of X ?", first)
    assert (on_symptoms[0::2] > on_symptoms[1::2]).all()
    on_treatment = prior.similarity("How is X treated ?", first)
    assert (on_treatment[1::2] > on_treatment[0::2]).all()
    assert not prior.similarity("What is X ?", first).any()  # no prototype for the general type


def test_learned_fusion_ranks_by_the_informative_feature():
    from eval.medquad.learned import FEATURES, LearnedFusion

    rng = np.random.default_rng(1)
    column = FEATURES.index("sentence")

    def pools(count):
        for _ in range(count):
            matrix = rng.normal(size=(30, len(FEATURES)))
            label = np.zeros(30)
            label[np.argmax(matrix[:, column])] = 1  # relevant = the best sentence similarity
            yield matrix, label

    model = LearnedFusion.fit(*zip(*pools(200), strict=True))
    weights = model.describe()
    assert max(weights, key=lambda name: abs(weights[name])) == "sentence" and weights["sentence"] > 0
    held_out = list(pools(100))
    top_right = [np.argmax(model.score(matrix)) == np.argmax(label) for matrix, label in held_out]
    assert np.mean(top_right) > 0.8
