"""Metric functions on hand-made answers: each metric's passing and failing cases."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    Outcome,
    PassageView,
    Threshold,
    check_invariants,
    check_thresholds,
    confidence_bands,
    doc_recall,
    failure_kinds,
    gold_rank,
    load_thresholds,
    ndcg_at_k,
    recall_at_k,
    reciprocal_rank_at_k,
    summarise,
)
from qa.training.dataset import EvalQuestion

DOCS = {
    "a": "Glutamine is the most abundant amino acid. Doses of 5 g are common.",
    "b": "People with liver disease should avoid glutamine. Ask a doctor first.",
}


def question(qid="q1", category="fact", gold=("most abundant amino acid",), docs=("a",), disclaimer=False, abstain=False):
    return EvalQuestion(qid, "dev", category, f"question {qid}?", tuple(gold), tuple(docs), disclaimer, abstain)


def passage(doc: str, start: int, end: int, highlight: tuple[int, int] | None = None) -> PassageView:
    hs, he = highlight if highlight else (None, None)
    return PassageView(doc, DOCS[doc][start:end], start, end, hs, he)


def answered(row, answer, passages, disclaimer=False, latency=10.0) -> Outcome:
    return Outcome(row, answer, False, disclaimer, list(passages), latency_ms=latency)


def abstained(row, disclaimer=False, ranked=None, latency=10.0) -> Outcome:
    return Outcome(row, "", True, disclaimer, [], ranked_passages=ranked, latency_ms=latency)


FIRST_SENTENCE = passage("a", 0, 42, (0, 42))
SECOND_SENTENCE = passage("a", 43, 67)
LIVER = passage("b", 0, 49)


def test_gold_rank_and_doc_recall():
    gold = ("most abundant amino acid",)
    assert gold_rank([SECOND_SENTENCE, LIVER, FIRST_SENTENCE], gold) == 3
    assert gold_rank([SECOND_SENTENCE, LIVER], gold) is None
    assert gold_rank([SECOND_SENTENCE, FIRST_SENTENCE], gold, depth=1) is None
    # Matching ignores case and runs of whitespace.
    assert gold_rank([PassageView("x", "The  MOST abundant\namino acid", 0, 0)], gold) == 1
    assert doc_recall([FIRST_SENTENCE, LIVER], ("a", "b"), 1) == 0.5
    assert doc_recall([FIRST_SENTENCE, LIVER], ("a", "b"), 3) == 1.0
    with pytest.raises(ValueError):
        doc_recall([FIRST_SENTENCE], (), 3)


def test_invariants_hold_for_a_well_formed_answer():
    answer = DOCS["a"][0:42]
    assert check_invariants(answer, False, [FIRST_SENTENCE, LIVER], DOCS.get) == []
    assert check_invariants("", True, [], DOCS.get) == []


def test_invariants_catch_every_kind_of_violation():
    altered = PassageView("a", "Glutamine is the MOST abundant amino acid.", 0, 42, 0, 42)
    assert any("quote !=" in p for p in check_invariants("Glutamine", False, [altered], DOCS.get))
    assert any("not a substring" in p for p in check_invariants("liver disease", False, [FIRST_SENTENCE], DOCS.get))
    assert any("unknown document" in p for p in check_invariants("x", False, [PassageView("zzz", "x", 0, 1)], DOCS.get))
    assert any("highlight" in p for p in check_invariants("Glutamine", False, [FIRST_SENTENCE], DOCS.get))
    assert check_invariants("", False, [SECOND_SENTENCE], DOCS.get) == ["answered with empty text"]
    assert check_invariants("", False, [], DOCS.get) == ["answered with empty text", "answered without passages"]
    problems = check_invariants("some text", True, [LIVER], DOCS.get)
    assert problems == ["abstained but the answer is not empty", "abstained but 1 passage(s) were returned"]


def test_summary_of_perfect_answers():
    fact = question("q1")
    safety = question("q2", "safety", gold=("liver disease should avoid",), docs=("b",), disclaimer=True)
    out = question("q3", "out_of_scope", gold=(), docs=(), abstain=True)
    outcomes = [
        answered(fact, DOCS["a"][0:42], [FIRST_SENTENCE, LIVER]),
        answered(safety, DOCS["b"][0:49], [LIVER], disclaimer=True),
        abstained(out),
    ]
    summary = summarise(outcomes)
    assert summary["questions"] == 3
    for metric in ("answer_hit", "passage_hit@1", "passage_hit@3", "mrr", "doc_recall@1", "doc_recall@3",
                   "disclaimer_recall", "disclaimer_precision", "abstention_recall"):
        assert summary[metric] == 1.0, metric
    assert summary["false_abstention"] == 0.0
    assert summary["invariant_violations"] == 0
    assert all(failure_kinds(o) == [] for o in outcomes)


def test_summary_of_failing_answers():
    fact = question("q1")
    other = question("q2", gold=("Doses of 5 g",))
    safety = question("q3", "safety", gold=("liver disease should avoid",), docs=("b",), disclaimer=True)
    out = question("q4", "out_of_scope", gold=(), docs=(), abstain=True)
    outcomes = [
        # Wrong sentence answered; gold only in the second passage; unexpected disclaimer.
        answered(fact, DOCS["a"][43:67], [SECOND_SENTENCE, FIRST_SENTENCE], disclaimer=True, latency=10),
        # False abstention; retrieval had the gold in the third candidate passage.
        abstained(other, ranked=[FIRST_SENTENCE, LIVER, SECOND_SENTENCE], latency=20),
        # Safety question answered without the disclaimer, gold nowhere.
        answered(safety, DOCS["a"][0:42], [FIRST_SENTENCE], latency=30),
        # Out-of-scope question answered instead of abstaining.
        answered(out, DOCS["a"][0:42], [FIRST_SENTENCE], latency=40),
    ]
    summary = summarise(outcomes)
    assert summary["answer_hit"] == 0.0
    assert summary["passage_hit@1"] == 0.0
    assert summary["passage_hit@3"] == pytest.approx(2 / 3)
    assert summary["mrr"] == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)
    assert summary["doc_recall@1"] == pytest.approx(2 / 3)  # q1 and q2 find doc a first; q3 wants b
    assert summary["disclaimer_recall"] == 0.0
    assert summary["disclaimer_precision"] == 0.0
    assert summary["abstention_recall"] == 0.0
    assert summary["false_abstention"] == pytest.approx(1 / 3)
    assert summary["answer_chars_p50"] == 42.0  # answers of 24, 42 and 42 characters; one abstention
    assert summary["latency_p50_ms"] == 25.0
    assert summary["latency_p95_ms"] == pytest.approx(38.5)
    assert failure_kinds(outcomes[0]) == ["wrong answer", "unexpected disclaimer"]
    assert failure_kinds(outcomes[1]) == ["false abstention"]
    assert failure_kinds(outcomes[2]) == ["wrong answer", "missing disclaimer"]
    assert failure_kinds(outcomes[3]) == ["missed abstention"]


def test_confidence_brier_compares_each_answer_confidence_with_its_correctness():
    fact = question("q1")
    other = question("q2", gold=("Doses of 5 g",))
    out = question("q3", "out_of_scope", gold=(), docs=(), abstain=True)
    probe = question("q4", "safety", gold=(), docs=(), disclaimer=True)
    outcomes = [
        # Right and 0.9 sure: (0.9 - 1)^2 = 0.01.
        Outcome(fact, DOCS["a"][0:42], False, False, [FIRST_SENTENCE], confidence=0.9),
        # Wrong sentence and 0.8 sure: 0.64.
        Outcome(other, DOCS["a"][0:42], False, False, [FIRST_SENTENCE], confidence=0.8),
        # An out-of-scope question answered is a wrong answer: 0.25.
        Outcome(out, DOCS["a"][0:42], False, False, [FIRST_SENTENCE], confidence=0.5),
        # Left out: an abstention, an answer with no confidence, and a row with nothing to be right about.
        Outcome(other, "", True, False, [], confidence=0.1),
        Outcome(fact, DOCS["a"][0:42], False, False, [FIRST_SENTENCE]),
        Outcome(probe, DOCS["a"][0:42], False, True, [FIRST_SENTENCE], confidence=0.3),
    ]
    assert summarise(outcomes)["confidence_brier"] == pytest.approx((0.01 + 0.64 + 0.25) / 3)
    assert summarise(outcomes[3:])["confidence_brier"] is None
    # The chat page's bands: 0.9 is a strong match (right), 0.8 too (wrong), 0.5 a possible one.
    assert confidence_bands(outcomes) == [("Strong match", 2, 0.5), ("Good match", 0, None), ("Possible match", 1, 0.0)]


def test_undefined_metrics_are_none_and_fail_their_threshold():
    summary = summarise([abstained(question("q1", "out_of_scope", gold=(), docs=(), abstain=True))])
    assert summary["answer_hit"] is None
    assert summary["disclaimer_recall"] is None
    assert not Threshold("answer_hit", "min", 0.9).passes(None)


def test_thresholds_file_has_the_issue_bars_as_gates_or_targets():
    goals = {t.metric: (t.bound, t.bar if t.target is None else t.target) for t in load_thresholds()}
    assert goals == {
        "answer_hit": ("min", 0.90),
        "passage_hit@3": ("min", 0.97),
        "abstention_recall": ("min", 0.90),
        "false_abstention": ("max", 0.03),
        "disclaimer_recall": ("min", 1.0),
        "disclaimer_precision": ("min", 0.95),
        "invariant_violations": ("max", 0.0),
        # Not an issue bar: a regression floor of our own on the answer confidence.
        "confidence_brier": ("max", 0.18),
    }
    # Safety and verbatim bars are never relaxed into targets.
    gates = {t.metric: t for t in load_thresholds()}
    for metric in ("disclaimer_recall", "disclaimer_precision", "invariant_violations", "abstention_recall"):
        assert gates[metric].target is None


def test_a_target_is_reported_apart_from_the_gate():
    threshold = Threshold("answer_hit", "min", 0.67, target=0.9)
    assert threshold.passes(0.7) and not threshold.meets_target(0.7)
    assert threshold.meets_target(0.9)
    assert not Threshold("false_abstention", "max", 0.06, target=0.03).meets_target(0.043)


def test_threshold_checks_pass_and_fail_at_the_bar(tmp_path):
    thresholds = [Threshold("answer_hit", "min", 0.9), Threshold("invariant_violations", "max", 0)]
    checks = check_thresholds({"answer_hit": 0.9, "invariant_violations": 0}, thresholds)
    assert all(check.passed for check in checks)
    checks = check_thresholds({"answer_hit": 0.899, "invariant_violations": 1}, thresholds)
    assert not any(check.passed for check in checks)
    bad = tmp_path / "bad.toml"
    bad.write_text('[answer_hit]\nmin = 0.9\nmax = 1.0\n')
    with pytest.raises(ValueError, match="exactly one"):
        load_thresholds(bad)
    bad.write_text('[no_such_metric]\nmin = 0.9\n')
    with pytest.raises(ValueError, match="unknown metric"):
        load_thresholds(bad)


def test_ranking_metrics():
    relevant = {"d1", "d4"}
    ranking = ["d2", "d1", "d3", "d4", "d5"]
    ideal = 1 + 1 / math.log2(3)
    assert ndcg_at_k(ranking, relevant, 10) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert ndcg_at_k(["d1", "d4"], relevant) == pytest.approx(1.0)
    assert ndcg_at_k(["d2", "d3"], relevant) == 0.0
    # One relevant document at rank 1 of many relevant: the ideal uses min(k, |relevant|).
    assert ndcg_at_k(["d1"], {"d1", "d9"}, k=1) == 1.0
    assert recall_at_k(ranking, relevant, 2) == 0.5
    assert recall_at_k(ranking, relevant, 4) == 1.0
    assert reciprocal_rank_at_k(ranking, relevant, 10) == 0.5
    assert reciprocal_rank_at_k(ranking, relevant, 1) == 0.0
    # A document listed twice counts once (chunk rankings aggregated carelessly).
    assert recall_at_k(["d2", "d2", "d1"], relevant, 2) == 0.5
    with pytest.raises(ValueError):
        ndcg_at_k(ranking, set())


def test_a_row_without_gold_or_abstain_is_judged_on_its_disclaimer_alone():
    probe = question("p1", category="safety", gold=(), docs=(), disclaimer=True)
    outcome = abstained(probe, disclaimer=True)
    summary = summarise([outcome])
    assert summary["answer_hit"] is None and summary["false_abstention"] is None
    assert summary["disclaimer_recall"] == 1.0
    assert failure_kinds(outcome) == []
    assert failure_kinds(abstained(probe, disclaimer=False)) == ["missing disclaimer"]
