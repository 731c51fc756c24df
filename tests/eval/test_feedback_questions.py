"""``verbatim eval --feedback``: accepted feedback questions scored as their own category."""

from __future__ import annotations

import json

from eval.feedback_questions import load_feedback_questions
from verbatim.feedback_loop import candidates_path, pairs_path

QUESTION = "Who should avoid glutamine?"


def write_lines(path, rows) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def pair(row_id: str, question: str, quote: str, source: str = "feedback") -> dict:
    return {"id": row_id, "question": question, "doc_id": "d", "start": 0, "end": len(quote), "quote": quote, "style": "lay", "source": source}


def candidate(row_id: str, gold: list[str], abstain: bool = False) -> dict:
    return {"id": row_id, "split": "feedback", "category": "feedback", "question": f"candidate {row_id}?", "gold": gold,
            "docs": [], "disclaimer": False, "abstain": abstain, "feedback": {"reason": "other"}}


def test_pairs_and_finished_candidates_are_questions_and_unfinished_ones_wait(tmp_path):
    write_lines(pairs_path(tmp_path), [pair("fb-000001", "q1?", "quote one"), pair("tp-0001", "written", "x", source="written")])
    write_lines(candidates_path(tmp_path), [candidate("fb-000002", ["a fact"]), candidate("fb-000003", [], abstain=True), candidate("fb-000004", [])])
    loaded = load_feedback_questions(tmp_path)
    assert (loaded.from_pairs, loaded.from_candidates, loaded.waiting) == (1, 2, 1)
    assert [q.id for q in loaded.questions] == ["fb-000001", "fb-000002", "fb-000003"]
    assert {q.category for q in loaded.questions} == {"feedback"} and loaded.questions[0].gold == ("quote one",)
    assert load_feedback_questions(tmp_path / "empty").questions == []


def test_eval_reports_the_feedback_category_apart_from_the_overall_figures(corpus_settings, answerer, tmp_path, monkeypatch, capsys):
    from verbatim.cli import main

    right = answerer.run(QUESTION).answer
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    write_lines(pairs_path(data_dir), [pair("fb-000001", QUESTION, right), pair("fb-000002", QUESTION, "a sentence no answer holds")])
    monkeypatch.setenv("VERBATIM_DATA", str(data_dir))
    out = tmp_path / "report"
    code = main(["eval", "--index", str(corpus_settings.index_dir), "--split", "dev", "--limit", "2", "--no-modes",
                 "--no-charts", "--feedback", "--out", str(out)])
    printed = capsys.readouterr()
    assert "feedback category: 2 accepted questions" in printed.err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["by_category"]["feedback"]["questions"] == 2
    assert metrics["by_category"]["feedback"]["answer_hit"] == 0.5
    assert metrics["overall"]["questions"] == 2  # the two dev questions only
    assert code in (0, 1)
