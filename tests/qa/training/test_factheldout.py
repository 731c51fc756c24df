"""Fact-held-out folds: a group's corpus keeps only the pairs that avoid its gold sentences."""

from __future__ import annotations

import json

from qa.training.factheldout import _corpus_without


def test_a_group_corpus_keeps_the_pairs_that_avoid_its_sentences_and_every_out_of_scope_question(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "note.txt").write_text("One sentence here. Another one there.", encoding="utf-8")
    (corpus / "note.model").mkdir()  # a shipped model: never copied, so the group trains its own
    rows = [
        {"id": "a", "question": "q1", "doc_id": "note", "start": 0, "end": 18, "quote": "One sentence here.",
         "style": "plain", "source": "written"},
        {"id": "b", "question": "q2", "doc_id": "note", "start": 19, "end": 37, "quote": "Another one there.",
         "style": "plain", "source": "written"},
        {"id": "o", "question": "q3", "out_of_scope": True, "fit": "abstention", "style": "plain", "source": "written"},
    ]
    (corpus / "note.pairs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    kept = _corpus_without(corpus, tmp_path / "group", {("note", 0, 18)})

    assert kept == 1  # answer pairs only
    written = [json.loads(line) for line in (tmp_path / "group" / "held-out.pairs.jsonl").read_text().splitlines()]
    assert [row["id"] for row in written] == ["b", "o"]
    assert sorted(path.name for path in (tmp_path / "group").iterdir()) == ["held-out.pairs.jsonl", "note.txt"]
