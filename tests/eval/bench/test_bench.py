"""``verbatim bench`` on a tiny setting writes its report; the harness and helpers compute right.

Nothing here times anything: speed is what the bench reports, not what the tests check.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eval.bench.harness import distribution, interleave, spread
from eval.bench.medquad import MedQuAD, sample_questions, write_subset
from eval.bench.report import targets
from eval.bench.scale import recall_at, synthesise
from eval.stats import percentile, stable_order_key
from qa.training.dataset import load_questions

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tiny_medquad(tmp_path_factory, embedder):
    """A MedQuAD-shaped folder (the seed articles as JSONL records, eval dev questions) and its index."""
    from ingest.pipeline import run_ingest
    from verbatim.settings import Settings

    folder = tmp_path_factory.mktemp("medquad")
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as corpus:
        for path in sorted((REPO / "corpus").glob("*.txt")):
            corpus.write(json.dumps({"id": path.stem, "title": path.stem, "text": path.read_text(encoding="utf-8")}) + "\n")
    with (folder / "questions.dev.jsonl").open("w", encoding="utf-8") as questions:
        for question in load_questions(split="dev"):
            questions.write(json.dumps({"id": question.id, "question": question.question}) + "\n")
    index = folder / "index"
    report = run_ingest([folder / "corpus.jsonl"], Settings.from_env(index_dir=index), embedder=embedder, show_progress=False)
    assert report.status == "built", report.summary()
    return MedQuAD(folder, index)


@pytest.mark.slow
def test_tiny_bench_writes_its_report_with_every_section(tmp_path, corpus_settings, tiny_medquad):
    reports = tmp_path / "reports"
    command = [
        sys.executable, "-m", "verbatim.cli", "bench", "--index", str(corpus_settings.index_dir), "--reports", str(reports),
        "--medquad-data", str(tiny_medquad.data_dir), "--medquad-index", str(tiny_medquad.index_dir),
        "--questions", "8", "--rounds", "1", "--warmup", "2",
        "--http-requests", "20", "--http-concurrency", "1,4", "--http-repeats", "1", "--http-warmup", "4",
        "--floor-seconds", "1", "--floor-repeats", "1",
        "--ingest-docs", "1", "--ingest-repeats", "1",
        "--scales", "300", "--scale-queries", "8", "--scale-rounds", "1", "--startup-repeats", "1",
    ]
    result = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    (folder,) = list(reports.iterdir())
    assert folder.name.startswith("bench-")
    bench = json.loads((folder / "bench.json").read_text(encoding="utf-8"))
    markdown = (folder / "bench.md").read_text(encoding="utf-8")
    assert (folder / "latency_vs_corpus_size.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert bench["command"].startswith(f"verbatim bench --index {corpus_settings.index_dir}") and bench["command"] in markdown
    assert bench["skipped"] == {}
    assert all(name in bench["load_average"]["sections"] for name in ("startup", "query", "http", "ingest", "scale"))

    for key in ("seed", "medquad"):
        query = bench["query"][key]
        assert query["questions"] == 8 and query["rounds"] == 1
        for name in ("bare_encode", "answer_path"):
            latency = query["latency_ms"][name]
            assert latency["n"] == 8 and 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
        assert query["ratio_to_bare_encode"]["p50"]["pooled"] > 0
    assert bench["query"]["medquad"]["latency_ms"]["bare_retrieval_script"]["n"] == 8

    floor = bench["http"]["floor"]
    assert floor["floor_rps"] > 0 and floor["batched_rps"] > 0
    load = bench["http"]["load"]
    assert set(load["concurrency"]) == {"1", "4"}
    for item in load["concurrency"].values():
        assert item["errors"] == 0 and item["requests_per_second"]["median"] > 0
        assert [phase["requests"] for phase in item["phases"]] == [20]

    seed_ingest = bench["ingest"]["seed"]
    built = corpus_settings.index_dir
    from verbatim.index_format import read_manifest

    assert seed_ingest["chunks"] == read_manifest(built)["counts"]["chunks"]
    assert seed_ingest["texts_embedded"] == seed_ingest["sentence_texts"] + seed_ingest["chunk_texts"] > 0
    assert seed_ingest["ratio"]["median"] > 0
    subset = bench["ingest"]["medquad_subset"]
    assert subset["documents"] == 1 and subset["subset"] == "first 1 documents of corpus.jsonl"

    sizes = {size["chunks"]: size for size in bench["scale"]["sizes"]}
    assert list(sizes) == [300] and sizes[300]["synthetic"] and sizes[300]["real_chunks"] < 300
    assert sizes[300]["vector_index"]["kind"] == "flat" and sizes[300]["recall_at_10"] == 1.0
    assert sizes[300]["latency_ms"]["query_encode_and_retrieve"]["n"] == 8

    for key in ("seed", "medquad"):
        startup = bench["startup"][key]
        phases = sum(item["median"] for item in startup["phases_seconds"].values())
        assert abs(phases - startup["total_seconds"]["median"]) < 0.01 and startup["rss_mb_at_rest"]["median"] > 100

    verdicts = {row["target"]: row for row in bench["targets"]}
    assert verdicts["HTTP errors (all concurrencies)"]["met"] is True
    assert verdicts["recall@10 of the chosen vector index vs exact (worst size)"]["measured"] == 1.0
    assert "## Targets" in markdown and "## Scale" in markdown and "## Start-up" in markdown


def test_missing_medquad_is_reported_as_skipped_not_silently_dropped(tmp_path, corpus_settings):
    reports = tmp_path / "reports"
    command = [
        sys.executable, "-m", "verbatim.cli", "bench", "--index", str(corpus_settings.index_dir), "--reports", str(reports),
        "--medquad-data", str(tmp_path / "nowhere"), "--sections", "query", "--questions", "3", "--rounds", "1", "--warmup", "1",
    ]
    result = subprocess.run(command, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (folder,) = list(reports.iterdir())
    bench = json.loads((folder / "bench.json").read_text(encoding="utf-8"))
    assert "corpus.jsonl not found" in bench["skipped"]["MedQuAD data"]
    assert "medquad" not in bench["query"] and bench["query"]["seed"]["questions"] == 3
    assert "MedQuAD data" in (folder / "bench.md").read_text(encoding="utf-8")
    verdicts = {row["target"]: row["met"] for row in bench["targets"]}
    assert verdicts["MedQuAD full answer path p50"] is None


def test_percentiles_and_spread():
    values = [float(number) for number in range(1, 101)]
    summary = distribution(values)
    # eval.stats.percentile interpolates between ranks: p50 of 1..100 is 50.5.
    assert (summary["n"], summary["p50"], summary["p95"], summary["p99"], summary["min"], summary["max"]) == (100, 50.5, 95.05, 99.01, 1, 100)
    assert summary["iqr"] == pytest.approx(percentile(values, 0.75) - percentile(values, 0.25)) and summary["iqr"] == 49.5
    assert spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "values": [3.0, 1.0, 2.0]}
    assert distribution([]) == {"n": 0}


def test_interleave_alternates_order_and_skips_warmup():
    calls: list[tuple[str, int]] = []
    samples = interleave(
        {"a": lambda item: calls.append(("a", item)), "b": lambda item: calls.append(("b", item)) or item * 10},
        [1, 2, 3], rounds=2, warmup=2, keep_results=["b"],
    )
    assert calls[:4] == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]  # warm-up, unrecorded
    assert calls[4:10] == [("a", 1), ("b", 1), ("b", 2), ("a", 2), ("a", 3), ("b", 3)]
    assert [len(values) for values in samples.rounds_ms["a"]] == [3, 3] and len(samples.samples_ms["b"]) == 6
    assert samples.extras == {"b": [10, 20, 30, 10, 20, 30]}
    ratio = samples.ratio("a", "b")
    assert ratio["pooled"] > 0 and len(ratio["rounds"]["values"]) == 2


def test_synthesised_vectors_are_real_then_noisy_unit_copies():
    rng = np.random.default_rng(0)
    real = rng.standard_normal((5, 8)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    subset, rows = synthesise(real, 3, noise=0.01, seed=1)
    assert subset.shape == (3, 8) and len(set(rows)) == 3 and np.array_equal(subset, real[rows])
    grown, rows = synthesise(real, 12, noise=0.01, seed=1)
    assert grown.shape == (12, 8) and grown.dtype == np.float32
    assert np.array_equal(grown[:5], real) and list(rows) == [i % 5 for i in range(12)]
    assert np.allclose(np.linalg.norm(grown, axis=1), 1.0, atol=1e-5)
    copies = grown[5:]
    similarity = np.sum(copies * real[rows[5:]], axis=1)
    assert np.all(similarity > 0.99) and not np.array_equal(copies, real[rows[5:]])


def test_recall_at_counts_the_exact_neighbours_found():
    exact = np.array([[1, 2, 3], [4, 5, 6]])
    found = np.array([[3, 2, 9], [7, 8, 9]])
    assert recall_at(found, exact, k=3) == pytest.approx((2 / 3 + 0) / 2)


def test_question_sample_and_corpus_subset_are_deterministic(tmp_path):
    questions = tmp_path / "questions.dev.jsonl"
    questions.write_text("".join(json.dumps({"id": f"i{number}", "question": f"q{number}"}) + "\n" for number in range(10)), encoding="utf-8")
    five = sample_questions(questions, 5)
    assert five == sample_questions(questions, 5) and len(set(five)) == 5 and set(five) < {f"q{number}" for number in range(10)}
    assert five == [f"q{row}" for row in sorted(range(10), key=lambda row: stable_order_key(f"i{row}"))[:5]]
    assert sample_questions(questions, 50) == [f"q{number}" for number in range(10)]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(number)}) + "\n" for number in range(4)), encoding="utf-8")
    target = tmp_path / "out" / "subset.jsonl"
    assert write_subset(corpus, 2, target) == 2
    assert [json.loads(line)["id"] for line in target.read_text(encoding="utf-8").splitlines()] == ["0", "1"]
    assert "not found" in MedQuAD(tmp_path / "missing", tmp_path / "index").data_problem()
    assert "verbatim ingest" in MedQuAD(tmp_path, tmp_path / "no-index").index_problem()


def test_targets_compare_each_figure_with_its_goal():
    results = {
        "query": {
            "seed": {"ratio_to_bare_encode": {"p50": {"pooled": 1.2}}},
            "medquad": {
                "ratio_to_bare_encode": {"p50": {"pooled": 1.7}},
                "latency_ms": {"answer_path": {"p50": 15.0}},
                "ratio_to_bare_retrieval_script": {"p50": {"pooled": 0.9}},
            },
        },
        "http": {"floor": {"floor_rps": 100.0}, "load": {"concurrency": {"16": {"errors": 1, "requests_per_second": {"median": 69.0}}}}},
        "ingest": {"seed": {"ratio": {"median": 1.1}}},
        "scale": {"sizes": [
            {"chunks": 1_000, "recall_at_10": 1.0, "ratio_to_bare_encode": {"p95": {"pooled": 1.0}}},
            {"chunks": 1_000_000, "recall_at_10": 0.97, "ratio_to_bare_encode": {"p95": {"pooled": 2.5}}},
        ]},
    }
    met = {row["target"]: row["met"] for row in targets(results)}
    assert met["query p50 / bare encode p50 (seed corpus)"] is True
    assert met["query p50 / bare encode p50 (MedQuAD)"] is False
    assert met["MedQuAD full answer path p50"] is True
    assert met["HTTP errors (all concurrencies)"] is False
    assert met["HTTP req/s at concurrency 16 / single-question encode floor"] is False
    assert met["ingest seconds / bare encode seconds (seed corpus)"] is True
    assert met["ingest seconds / bare encode seconds (MedQuAD subset)"] is None
    assert met["recall@10 of the chosen vector index vs exact (worst size)"] is False
    assert met["query p95 / bare encode p95 at 1,000,000 chunks"] is True


def test_cluster_section_reports_both_ratios_and_their_verdicts():
    from eval.bench.report import _cluster_section, targets

    cluster = {
        "documents": 500, "requests": 1000, "concurrency": 16,
        "ingest_seconds": {"single_process": 100.0, "ray_1_node": 130.0, "ray_2_nodes": 90.0},
        "ingest_documents_per_second": {"single_process": 5.0, "ray_1_node": 3.85, "ray_2_nodes": 5.56},
        "serve": {"verbatim_serve": {"requests_per_second": 90.0, "p50_ms": 150.0, "p95_ms": 300.0, "errors": 0}},
        "ingest_ratio": 1.3, "serve_ratio": 0.85,
        "targets": {"ingest_ratio_at_most": 1.25, "ingest_met": False, "serve_ratio_at_least": 0.8, "serve_met": True},
    }
    text = "\n".join(_cluster_section(cluster))
    assert "| ray 1 node | 130.0 | 3.85 |" in text
    assert "1.3 (target at most 1.25: missed)" in text and "0.85 (target at least 0.8: met)" in text
    rows = {row["target"]: row["met"] for row in targets({"cluster": cluster})}
    assert rows["Ray ingest on 1 node / single-process ingest (seconds)"] is False
    assert rows["Ray Serve 1 replica / verbatim serve (req/s)"] is True
    assert _cluster_section({"skipped": "no data"}) == []
