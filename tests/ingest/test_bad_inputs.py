"""Bad ingest inputs are skipped with a reason; a failed run loses nothing; unchanged is a no-op.

Every test runs the real pipeline (real model, real FAISS) on small files made in a temp folder.
"""

from __future__ import annotations

import codecs
import os
import shutil
from pathlib import Path

import pytest

from ingest.loader import decode, looks_binary, read_sources
from ingest.pipeline import run_ingest
from qa.pipeline import Answerer
from verbatim import index_format
from verbatim.cli import main as verbatim_main
from verbatim.settings import Settings

REPO = Path(__file__).resolve().parents[2]
GOOD_TEXT = (
    "Glutamine and Sleep\n\n"
    "Glutamine is an amino acid found in eggs and beef. "
    "Some people take 5 grams of glutamine before bed to support recovery.\n"
)
QUESTION = "How much glutamine should I take for gut health?"


def _reason(report, name: str) -> str:
    reasons = [item.reason for item in report.skipped if Path(item.source.split(":")[0]).name == name]
    assert reasons, f"{name} is not among the skipped: {report.summary()}"
    return reasons[0]


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings.from_env(index_dir=tmp_path / "index", corpus_dir=tmp_path / "corpus")


@pytest.fixture
def corpus(tmp_path) -> Path:
    """A private copy of the seed corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(REPO / "corpus", target)
    return target


def test_each_bad_file_is_skipped_with_its_reason(tmp_path, settings, embedder):
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_text(" \n\t\n  \n")
    (folder / "image.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8)
    (folder / "nul.txt").write_bytes(b"\x00" * 4096)
    (folder / "large.txt").write_text("Glutamine. " * 200_000)
    (folder / "report.pdf").write_bytes(b"%PDF-1.4")
    (folder / "notes").write_text("no suffix")
    (folder / "records.jsonl").write_text('not json\n{"id": "r1"}\n{"id": "r2", "text": "   "}\n')
    (folder / "good.txt").write_text(GOOD_TEXT)
    loop = folder / "loop.txt"
    os.symlink(loop, loop)  # a path that exists in the listing but cannot be read
    small = Settings.from_env(index_dir=settings.index_dir, max_file_bytes=1024 * 1024)

    report = run_ingest([folder, tmp_path / "missing.txt"], settings=small, embedder=embedder, show_progress=False)

    assert report.status == "built" and report.documents == 1, report.summary()
    assert _reason(report, "empty.txt") == "empty file"
    assert _reason(report, "blank.md") == "empty file"
    assert _reason(report, "image.txt") == "binary file, not text"
    assert _reason(report, "nul.txt") == "binary file, not text"
    assert "over the" in _reason(report, "large.txt") and "limit" in _reason(report, "large.txt")
    assert "unsupported file type '.pdf'" in _reason(report, "report.pdf")
    assert "unsupported file type" in _reason(report, "notes")
    assert _reason(report, "missing.txt") == "no such file or folder"
    assert _reason(report, "loop.txt").startswith("unreadable:")
    jsonl = [item.reason for item in report.skipped if "records.jsonl" in item.source]
    assert sorted(jsonl) == ["not a JSON object", "record has no 'text'", "record has no 'text'"]
    summary = report.summary()
    assert "empty.txt: empty file" in summary and "image.txt: binary file, not text" in summary


def test_unreadable_file_has_a_reason(tmp_path):
    loop = tmp_path / "loop.txt"
    os.symlink(loop, loop)
    (skipped,) = read_sources([loop], max_bytes=1024)
    assert skipped.reason.startswith("unreadable:")
    assert "symbolic links" in skipped.reason


def test_size_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("VERBATIM_MAX_FILE_MB", "0.5")
    assert Settings.from_env().max_file_bytes == 512 * 1024
    monkeypatch.delenv("VERBATIM_MAX_FILE_MB")
    assert Settings.from_env().max_file_bytes == 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("data", "encoding", "expected"),
    [
        ("Café glutamine — 5 g".encode(), "utf-8", "Café glutamine — 5 g"),
        (codecs.BOM_UTF8 + "Café glutamine".encode(), "utf-8-sig", "Café glutamine"),
        ("Café glutamine – “5 g”".encode("cp1252"), "utf-8+cp1252", "Café glutamine – “5 g”"),
        ("Café ".encode() + "glutamine – 5 g".encode("cp1252"), "utf-8+cp1252", "Café glutamine – 5 g"),
        (codecs.BOM_UTF16_LE + "Glutamine in UTF-16.\nÜber Glutamin.".encode("utf-16-le"), "utf-16", "Glutamine in UTF-16.\nÜber Glutamin."),
        (codecs.BOM_UTF16_BE + "Glutamine big-endian.".encode("utf-16-be"), "utf-16", "Glutamine big-endian."),
        (
            b'<html><head><meta charset="iso-8859-1"></head><body><p>Gr\xfc\xdfe: Glutamin</p></body></html>',
            "iso-8859-1",
            '<html><head><meta charset="iso-8859-1"></head><body><p>Grüße: Glutamin</p></body></html>',
        ),
    ],
    ids=["utf-8", "utf-8-bom", "cp1252", "mixed-utf8-cp1252", "utf-16-le-bom", "utf-16-be-bom", "declared-latin-1"],
)
def test_non_utf8_text_is_decoded(data, encoding, expected):
    assert not looks_binary(data)
    assert decode(data) == (expected, encoding)


def test_utf16_file_is_ingested_not_called_binary(tmp_path, settings, embedder):
    path = tmp_path / "utf16.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + GOOD_TEXT.encode("utf-16-le"))
    report = run_ingest([path], settings=settings, embedder=embedder, show_progress=False)
    assert report.status == "built" and report.documents == 1, report.summary()
    (document,) = index_format.load_build(settings.index_dir, embedder.name, embedder.weights_hash).documents
    assert document.encoding == "utf-16"
    assert "5 grams of glutamine" in document.text


def test_nothing_ingestible_exits_non_zero_and_keeps_the_index(tmp_path, corpus, settings, embedder, capsys):
    assert run_ingest([corpus], settings=settings, embedder=embedder, show_progress=False).status == "built"
    before = Answerer(settings, embedder=embedder)
    before.warm_up()
    expected = before.run(QUESTION)
    live = (settings.index_dir / index_format.CURRENT_FILE).read_text()

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "empty.txt").write_bytes(b"")
    (junk / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    status = verbatim_main(["ingest", str(junk), "--index", str(settings.index_dir)])
    printed = capsys.readouterr().out

    assert status == 1
    assert "Nothing could be ingested" in printed and "the previous index is unchanged" in printed
    assert "empty.txt: empty file" in printed and "binary.txt: binary file, not text" in printed
    assert (settings.index_dir / index_format.CURRENT_FILE).read_text() == live
    after = Answerer(settings, embedder=embedder)
    after.warm_up()
    answer = after.run(QUESTION)
    assert (answer.answer, answer.answer_doc_id, answer.answer_start) == (
        expected.answer, expected.answer_doc_id, expected.answer_start
    )


def test_nothing_ingestible_into_an_empty_folder_writes_no_index(tmp_path, settings, embedder):
    (tmp_path / "empty.txt").write_bytes(b"")
    report = run_ingest([tmp_path / "empty.txt"], settings=settings, embedder=embedder, show_progress=False)
    assert report.status == "failed" and not report.ok
    assert "no index was written" in report.message
    assert index_format.current_build(settings.index_dir) is None


def test_unchanged_is_a_no_op_and_each_change_rebuilds(corpus, settings, embedder):
    def ingest():
        return run_ingest([corpus], settings=settings, embedder=embedder, show_progress=False)

    first = ingest()
    assert first.status == "built" and first.documents == 2
    build = index_format.current_build(settings.index_dir)

    again = ingest()
    assert again.status == "up-to-date" and again.message == "Index up to date; nothing to do."
    assert index_format.current_build(settings.index_dir) == build

    (corpus / "sleep.txt").write_text(GOOD_TEXT)  # added
    added = ingest()
    assert added.status == "built" and added.documents == 3
    assert added.reused > 0 and added.embedded < added.reused  # old texts are not embedded again

    (corpus / "sleep.txt").write_text(GOOD_TEXT.replace("5 grams", "10 grams"))  # changed
    changed = ingest()
    assert changed.status == "built" and changed.documents == 3
    contents = index_format.load_build(settings.index_dir, embedder.name, None)  # the corpus has pairs: its own model
    assert any("10 grams" in document.text for document in contents.documents)

    (corpus / "sleep.txt").unlink()  # removed
    removed = ingest()
    assert removed.status == "built" and removed.documents == 2
    assert ingest().status == "up-to-date"


@pytest.mark.parametrize("module", ["verbatim/textutil.py", "ingest/indexers.py", "ingest/loader.py", "ingest/chunker.py"])
def test_a_change_to_the_code_behind_the_build_makes_it_stale(monkeypatch, module):
    # An edited tokenizer or indexer must not leave a build of the old code calling itself up to date.
    from ingest import pipeline

    before = pipeline.pipeline_hash()
    edited = Path(pipeline.__file__).parents[1] / module
    original = Path.read_bytes

    def read_bytes(path):
        data = original(path)
        return data + b"\n# edited\n" if Path(path).resolve() == edited.resolve() else data

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    assert pipeline.pipeline_hash() != before
