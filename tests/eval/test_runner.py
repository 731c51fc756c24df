"""The runner on the real pipeline (session index of corpus/): outcomes, modes, report files, CLI."""

from __future__ import annotations

import json

import pytest

from eval.metrics import Threshold, load_thresholds
from eval.report import replace_marked_block, write_report
from eval.runner import HttpTarget, InProcessTarget, run_eval
from qa.training.dataset import load_questions


def _subset():
    """A tiny deterministic subset: the first dev question of every category."""
    rows, seen = [], set()
    for row in load_questions(split="dev"):
        if row.category not in seen:
            seen.add(row.category)
            rows.append(row)
    return rows


@pytest.fixture(scope="module")
def tiny_result(answerer):
    thresholds = [*load_thresholds(), Threshold("answer_hit", "min", 0.0)]
    return run_eval(InProcessTarget(answerer), _subset(), thresholds, split="dev", command="test", show_progress=False)


def test_runner_scores_every_question_in_every_mode(tiny_result, answerer):
    rows = _subset()
    assert [o.question.id for o in tiny_result.outcomes] == [row.id for row in rows]
    assert set(tiny_result.modes) == {"hybrid-minmax", "hybrid-rrf", "dense", "bm25"}
    assert tiny_result.production_mode == f"hybrid-{answerer.retriever_config.fusion}"
    assert tiny_result.modes[tiny_result.production_mode]["production"] is True
    assert set(tiny_result.by_category) == {row.category for row in rows}
    assert tiny_result.overall["invariant_violations"] == 0
    for outcome in tiny_result.outcomes:
        assert outcome.latency_ms > 0
        if outcome.abstained:
            assert outcome.answer == "" and outcome.passages == []
        else:
            # Real quotes of real documents, the answer inside the first one.
            document = answerer.store.documents[answerer.store.doc_index[outcome.passages[0].doc_id]]
            assert document.text[outcome.passages[0].start : outcome.passages[0].end] == outcome.passages[0].quote
            assert outcome.answer in outcome.passages[0].quote


def test_report_files_are_written(tiny_result, tmp_path):
    written = write_report(tiny_result, tmp_path / "report")
    assert {path.name for path in written.values()} == {"metrics.json", "report.md", "categories.png", "modes.png"}
    for name in ("categories.png", "modes.png"):
        data = (tmp_path / "report" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["split"] == "dev"
    assert metrics["overall"] == json.loads(json.dumps(tiny_result.overall))
    assert len(metrics["questions"]) == len(tiny_result.outcomes)
    assert {check["metric"] for check in metrics["thresholds"]} >= {"answer_hit", "invariant_violations"}
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Per category" in report and "## Retrieval modes" in report and "## Failures" in report
    for outcome in tiny_result.outcomes:
        assert f"| {outcome.question.category} |" in report
    failing = [o for o in tiny_result.outcomes if metrics["questions"][tiny_result.outcomes.index(o)]["failures"]]
    for outcome in failing:
        assert outcome.question.question in report


def test_http_target_scores_the_served_api_like_in_process(client, tiny_result):
    rows = _subset()
    result = run_eval(HttpTarget("http://testserver", client=client), rows, split="dev", show_progress=False)
    assert list(result.modes) == ["server"]
    assert result.overall["invariant_violations"] == 0
    in_process = {o.question.id: o for o in tiny_result.outcomes}
    for outcome in result.outcomes:
        assert outcome.answer == in_process[outcome.question.id].answer
        assert outcome.abstained == in_process[outcome.question.id].abstained
        assert outcome.disclaimer == in_process[outcome.question.id].disclaimer


def test_cli_writes_the_report_and_exits_non_zero_below_a_threshold(corpus_settings, tmp_path, capsys):
    from verbatim.cli import main

    impossible = tmp_path / "thresholds.toml"
    impossible.write_text("[answer_hit]\nmin = 1.01\n\n[invariant_violations]\nmax = 0\n")
    out = tmp_path / "cli-report"
    code = main([
        "eval", "--index", str(corpus_settings.index_dir), "--split", "dev", "--limit", "3", "--no-modes",
        "--thresholds", str(impossible), "--out", str(out),
    ])
    assert code == 1
    printed = capsys.readouterr()
    assert "THRESHOLD MISSED: answer_hit" in printed.err
    assert "| answer hit |" in printed.out
    assert json.loads((out / "metrics.json").read_text())["passed"] is False
    assert (out / "categories.png").exists() and not (out / "modes.png").exists()


def test_readme_block_replacement():
    text = "intro\n<!-- eval-test:start -->\nold\n<!-- eval-test:end -->\nrest\n"
    assert replace_marked_block(text, "eval-test", "new\n") == "intro\n<!-- eval-test:start -->\nnew\n<!-- eval-test:end -->\nrest\n"
    with pytest.raises(ValueError):
        replace_marked_block("no markers", "eval-test", "x")
