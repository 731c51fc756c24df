"""MedQuAD training pairs from the dev split, on a tiny synthetic benchmark folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.medquad import data as medquad
from eval.medquad.pairs import build_pairs, write_pairs
from ingest.pairs import EvalQuestionGuard, load_pairs
from verbatim.settings import Settings

# A document longer than one chunk (256 tokens): its symptoms come first, its treatment last,
# so a treatment question has a nearest chunk that is not the first.
SYMPTOMS = " ".join(
    f"People with marble fever may have {what} on day {day} of the illness."
    for day, what in enumerate(["a high temperature", "headaches", "aching joints", "a rash on the arms", "chills",
                                "a sore throat", "red eyes", "night sweats", "a dry cough", "tiredness"] * 2, start=1)
)
TREATMENT = " ".join(
    f"Marble fever is treated with {what}, which a doctor may prescribe in week {week} of treatment."
    for week, what in enumerate(["rest and fluids", "antiviral drugs", "fever medicine", "pain relievers", "cooling baths",
                                 "oral rehydration salts", "antiviral tablets", "bed rest", "steroid cream"] * 2, start=1)
)
LONG_DOC = f"{SYMPTOMS}\n\n{TREATMENT}"
CORPUS = [
    {"id": "DOC_long", "title": "Marble fever", "text": LONG_DOC},
    {"id": "DOC_short", "title": "Glass cough", "text": "Glass cough is a dry cough caused by breathing in fine glass dust."},
    {"id": "DOC_other", "title": "Paper rash", "text": "Paper rash is an itchy rash caused by handling treated paper."},
]
DEV = [
    {"id": "q_1", "question": "What are the treatments for Marble fever ?", "relevant_ids": ["DOC_long"]},
    {"id": "q_2", "question": "What is (are) Glass cough ?", "relevant_ids": ["DOC_short"]},
    {"id": "q_3", "question": "What is (are) Stone itch ?", "relevant_ids": ["DOC_missing"]},
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "medquad"
    root.mkdir()
    (root / "corpus.jsonl").write_text("".join(json.dumps(row) + "\n" for row in CORPUS), encoding="utf-8")
    (root / "questions.dev.jsonl").write_text(
        "".join(json.dumps({**row, "split": "dev"}) + "\n" for row in DEV), encoding="utf-8"
    )
    # Test questions are never read: an unreadable file proves it.
    (root / "questions.test.jsonl").write_text("not json\n", encoding="utf-8")
    return root


def _settings(tmp_path: Path) -> Settings:
    return Settings.from_env(index_dir=tmp_path / "index")


def test_pairs_hold_the_nearest_chunk_of_a_relevant_document_and_pass_ingest_checks(folder, tmp_path, embedder):
    settings = _settings(tmp_path)
    built = build_pairs(folder, embedder, settings)
    assert built.questions == 3 and built.unanswerable == 1
    assert built.embedded_chunks >= 2  # the long document has several chunks to choose among
    pairs = {pair["id"]: pair for pair in built.pairs}
    assert sorted(pairs) == ["medquad-dev-q_1", "medquad-dev-q_2"]
    treatment = pairs["medquad-dev-q_1"]
    assert treatment["doc_id"] == "DOC_long"
    assert "treated with" in treatment["quote"] and "day 1 of" not in treatment["quote"]
    assert pairs["medquad-dev-q_2"]["quote"].startswith("Glass cough is a dry cough")

    canonical, chunks = _canonical(folder, embedder, settings)
    long_chunks = chunks["DOC_long"]
    assert len(long_chunks) > 1 and len(chunks["DOC_short"]) == 1
    similarity = embedder.encode_passages([chunk.text for chunk in long_chunks]) @ embedder.encode_queries([DEV[0]["question"]])[0]
    nearest = long_chunks[int(similarity.argmax())]
    assert (treatment["start"], treatment["end"]) == (nearest.start, nearest.end) != (long_chunks[0].start, long_chunks[0].end)

    path = tmp_path / "run" / "medquad-dev.pairs.jsonl"
    write_pairs(built.pairs, path)
    checked = load_pairs([path], canonical, guard=EvalQuestionGuard([]))
    assert not checked.rejected
    assert [pair.id for pair in checked.pairs] == ["medquad-dev-q_1", "medquad-dev-q_2"]


def _canonical(folder: Path, embedder, settings: Settings):
    from eval.medquad.pairs import document_chunks

    return document_chunks(folder / "corpus.jsonl", {row["id"] for row in CORPUS}, embedder, settings)


def test_a_pairs_file_must_be_named_as_pairs(tmp_path):
    with pytest.raises(ValueError, match="pairs.jsonl"):
        write_pairs([], tmp_path / "medquad-dev.jsonl")  # ingest would read it as documents


@pytest.mark.slow
def test_benchmark_index_is_adapted_on_the_pairs_and_a_base_index_is_not_reused(folder, tmp_path, embedder, monkeypatch):
    monkeypatch.setenv("VERBATIM_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.setenv("VERBATIM_DATA", str(tmp_path / "data"))
    built = build_pairs(folder, embedder, Settings.from_env(index_dir=tmp_path / "unused"))
    pairs = tmp_path / "run" / "medquad-dev.pairs.jsonl"
    # A pair whose document is not indexed (as in a subset index) is left out by ingest, and counted.
    stray = {**built.pairs[1], "id": "medquad-dev-q_9", "doc_id": "DOC_not_indexed"}
    write_pairs([*built.pairs, stray], pairs)
    lines = list(medquad.read_corpus_lines(folder).values())
    index = tmp_path / "medquad-index"

    base = medquad.ensure_index(lines, index, embedder, show_progress=False, source=folder / "corpus.jsonl")
    assert base.action == "built"
    assert medquad.index_format.read_manifest(index)["model"]["adapted"] is None

    adapted = medquad.ensure_index(lines, index, embedder, show_progress=False, source=folder / "corpus.jsonl", pairs=pairs)
    assert adapted.action == "built"  # the base index holds the same documents but not the adapted model
    assert (adapted.pairs, adapted.pairs_left_out, adapted.skipped) == (2, 1, 0)
    assert base.pairs == 0
    model = medquad.index_format.read_manifest(index)["model"]
    assert model["adapted"]["pairs"] == 2 and model["adapted"]["pairs_files"] == [str(pairs)]
    assert model["weights_hash"] != model["base_weights_hash"]

    again = medquad.ensure_index(lines, index, embedder, show_progress=False, source=folder / "corpus.jsonl", pairs=pairs)
    assert again.action == "reused"
    back = medquad.ensure_index(lines, index, embedder, show_progress=False, source=folder / "corpus.jsonl")
    assert back.action == "built" and medquad.index_format.read_manifest(index)["model"]["adapted"] is None
