"""A damaged, partial or foreign index is refused at start-up with a message that says what to run.

Each test damages a copy of a real build of the seed corpus and starts the real answerer (and
the real app) on it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ingest.pipeline import run_ingest
from qa.pipeline import Answerer
from tests.web.live_server import free_port
from verbatim import index_format
from verbatim.index_format import IndexError_, IndexInvalidError, IndexMissingError
from verbatim.settings import Settings
from web.app import create_app

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def index_copy(corpus_settings, tmp_path) -> Settings:
    """Settings pointing at a private copy of the seed corpus index."""
    target = tmp_path / "index"
    shutil.copytree(corpus_settings.index_dir, target, ignore=shutil.ignore_patterns("ingest.lock"))
    return Settings.from_env(index_dir=target, corpus_dir=corpus_settings.corpus_dir)


def live(settings: Settings) -> Path:
    build = index_format.current_build(settings.index_dir)
    assert build is not None
    return build


def flip_byte(path: Path, offset_from_end: int = 1) -> None:
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def apply(build: Path) -> None:
        path = build / "manifest.json"
        manifest = json.loads(path.read_text(encoding="utf-8"))
        change(manifest)
        path.write_text(json.dumps(manifest), encoding="utf-8")

    return apply


def _set_model_hash(manifest: dict) -> None:
    manifest["model"]["weights_hash"] = "sha256:" + "0" * 64


def _set_model_name(manifest: dict) -> None:
    manifest["model"]["name"] = "sentence-transformers/all-mpnet-base-v2"


def _set_format(manifest: dict) -> None:
    manifest["format_version"] = index_format.FORMAT_VERSION + 1


def _overstate_chunks(manifest: dict) -> None:
    manifest["counts"]["chunks"] += 1


def _forge_checksum(manifest: dict) -> None:
    manifest["files"]["chunks.npz"]["sha256"] = "0" * 64


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "sentence-vectors-flipped": (lambda build: flip_byte(build / "sentence_vectors.npy"), "checksum differs"),
    "sentence-vectors-truncated": (lambda build: truncate(build / "sentence_vectors.npy"), "size differs"),
    "sentence-hubness-deleted": (lambda build: (build / "sentence_hubness.npy").unlink(), "missing"),
    "documents-truncated": (lambda build: truncate(build / "documents.json"), "size differs"),
    "documents-flipped": (lambda build: flip_byte(build / "documents.json", 5), "checksum differs"),
    "faiss-flipped": (lambda build: flip_byte(build / "chunks.faiss", 100), "checksum differs"),
    "faiss-deleted": (lambda build: (build / "chunks.faiss").unlink(), "missing"),
    "bm25-emptied": (lambda build: next((build / "bm25").iterdir()).write_bytes(b""), "size differs"),
    "manifest-truncated": (lambda build: truncate(build / "manifest.json"), "manifest"),
    "manifest-deleted": (lambda build: (build / "manifest.json").unlink(), "manifest"),
    "manifest-other-model-hash": (edit_manifest(_set_model_hash), "built with model"),
    "manifest-other-model": (edit_manifest(_set_model_name), "built with model"),
    "manifest-other-format": (edit_manifest(_set_format), "format"),
    "manifest-wrong-counts": (edit_manifest(_overstate_chunks), "manifest says"),
    "manifest-forged-checksum": (edit_manifest(_forge_checksum), "checksum differs"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_build_is_refused_with_what_to_run(index_copy, embedder, damage):
    apply, says = DAMAGE[damage]
    apply(live(index_copy))
    answerer = Answerer(index_copy, embedder=embedder)
    with pytest.raises(IndexInvalidError) as refused:
        answerer.warm_up()
    message = str(refused.value)
    assert f"verbatim ingest --index {index_copy.index_dir}" in message
    assert says in message


def test_app_start_up_fails_on_a_damaged_build(index_copy, embedder):
    flip_byte(live(index_copy) / "chunk_vectors.npy")
    app = create_app(index_copy, answerer=Answerer(index_copy, embedder=embedder))
    with pytest.raises(IndexInvalidError, match="verbatim ingest --index"), TestClient(app):
        pass


@pytest.mark.parametrize("pointer", ["../../etc", ".tmp-abc", "", "build-that-does-not-exist"])
def test_bad_current_pointer_is_refused(index_copy, embedder, pointer):
    (index_copy.index_dir / index_format.CURRENT_FILE).write_text(pointer + "\n", encoding="utf-8")
    with pytest.raises(IndexError_) as refused:
        Answerer(index_copy, embedder=embedder).warm_up()
    assert "verbatim ingest --index" in str(refused.value)


def test_empty_folder_says_to_build(tmp_path, embedder):
    settings = Settings.from_env(index_dir=tmp_path / "nothing-here")
    with pytest.raises(IndexMissingError, match="verbatim ingest --index"):
        Answerer(settings, embedder=embedder).warm_up()


def test_ingest_rebuilds_an_index_of_another_model_without_reusing_its_vectors(index_copy, embedder):
    edit_manifest(_set_model_hash)(live(index_copy))
    report = run_ingest(settings=index_copy, embedder=embedder, show_progress=False)
    assert report.status == "built", report.summary()
    assert report.reused == 0  # vectors of another model are never reused
    Answerer(index_copy, embedder=embedder).warm_up()


def _as_format_1(manifest: dict) -> None:
    manifest["format_version"] = 1
    del manifest["files"]["sentence_hubness.npy"]


def test_ingest_upgrades_an_older_format_without_embedding_again(index_copy, embedder):
    build = live(index_copy)
    (build / "sentence_hubness.npy").unlink()
    edit_manifest(_as_format_1)(build)
    with pytest.raises(IndexInvalidError, match="uses format 1"):
        Answerer(index_copy, embedder=embedder).warm_up()
    report = run_ingest(settings=index_copy, embedder=embedder, show_progress=False)
    assert report.status == "built", report.summary()
    assert report.embedded == 0 and report.reused > 0, report.summary()
    Answerer(index_copy, embedder=embedder).warm_up()


def test_ingest_rebuilds_a_damaged_build_instead_of_calling_it_up_to_date(index_copy, embedder):
    flip_byte(live(index_copy) / "sentences.npz")
    report = run_ingest(settings=index_copy, embedder=embedder, show_progress=False)
    assert report.status == "built", report.summary()
    Answerer(index_copy, embedder=embedder).warm_up()


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
        raise AssertionError(f"{command} did not stop on its own:\n{output[-2000:]}") from None
    return subprocess.CompletedProcess(command, process.returncode, output, "")


@pytest.mark.slow
def test_serve_refuses_a_damaged_build_and_exits(index_copy):
    flip_byte(live(index_copy) / "chunks.faiss", 100)
    started = time.monotonic()
    result = _run(
        [sys.executable, "-m", "verbatim.cli", "serve", "--index", str(index_copy.index_dir), "--port", str(free_port())],
        timeout=240,
    )
    assert result.returncode != 0
    assert f"verbatim ingest --index {index_copy.index_dir}" in result.stdout
    assert time.monotonic() - started < 240


@pytest.mark.slow
def test_ask_refuses_an_index_of_another_model(index_copy):
    edit_manifest(_set_model_hash)(live(index_copy))
    result = _run(
        [sys.executable, "-m", "verbatim.cli", "ask", "--index", str(index_copy.index_dir), "How much glutamine?"],
        timeout=240,
    )
    assert result.returncode == 1
    assert "built with model" in result.stdout
    assert f"verbatim ingest --index {index_copy.index_dir}" in result.stdout


@pytest.mark.parametrize("change", [_set_format, _set_model_name], ids=["other-format", "other-model"])
def test_ingest_never_calls_a_refused_build_up_to_date(index_copy, embedder, change):
    edit_manifest(change)(live(index_copy))
    report = run_ingest(settings=index_copy, embedder=embedder, show_progress=False)
    assert report.status == "built", report.summary()
    Answerer(index_copy, embedder=embedder).warm_up()


def test_manifest_that_is_not_an_object_is_refused(index_copy, embedder):
    (live(index_copy) / "manifest.json").write_text("[1, 2, 3]", encoding="utf-8")
    with pytest.raises(IndexInvalidError, match="verbatim ingest --index"):
        Answerer(index_copy, embedder=embedder).warm_up()
