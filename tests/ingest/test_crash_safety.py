"""Nothing is lost: a killed ingest leaves the previous index intact, the next run cleans up and
resumes, and a running server switches to a new build without one failed request.

``verbatim ingest`` runs as a real subprocess and is killed with SIGKILL: once from outside
while it embeds, and at exact points of writing and committing by a SIGKILL it sends itself
(the wrapper below replaces one function by "write, then die"; the pipeline itself is unchanged).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from ingest.pipeline import run_ingest
from qa.pipeline import Answerer
from tests.web.live_server import serve_in_thread
from verbatim import index_format
from verbatim.settings import Settings
from web.app import create_app

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = [
    "How much glutamine should I take for gut health?",
    "Who should avoid glutamine?",
    "Can I take glutamine if I have liver disease?",
    "What did the 2023 systematic review find?",
]
NEW_DOCUMENT = (
    "Glutamine and Sleep\n\n"
    "Some athletes take glutamine in the evening. "
    "A small pilot study gave 7 grams of glutamine at bedtime to night-shift nurses. "
    "The nurses reported falling asleep faster, but the study had no placebo group.\n"
)
NEW_QUESTION = "Did the night-shift nurses fall asleep faster with glutamine at bedtime?"

# Runs `verbatim ingest` with one function replaced by a version that SIGKILLs the process.
CRASH_RUNNER = r"""
import os, signal, sys
from verbatim import index_format
from ingest import embed_cache

point = sys.argv[1]

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

def after(function):
    def run_then_die(*args, **kwargs):
        function(*args, **kwargs)
        die()
    return run_then_die

if point == "embedding":  # after the first shard of vectors is saved
    embed_cache.EmbeddingCache._write_shard = after(embed_cache.EmbeddingCache._write_shard)
elif point == "writing":  # data files partly written: FAISS index not yet
    import faiss
    faiss.write_index = die
elif point == "before-manifest":  # every data file written, manifest not
    write_build = index_format.write_build
    def write_without_manifest(temp, contents):
        index_format.sha256_file = die
        write_build(temp, contents)
    index_format.write_build = write_without_manifest
elif point == "before-rename":  # complete temporary build, not yet renamed into place
    index_format.commit_build = die
elif point == "before-current":  # renamed into builds/, CURRENT still names the old build
    os.rename = after(os.rename)
elif point == "before-cleanup":  # CURRENT switched, old builds and resume shards not yet cleaned
    index_format._prune_old_builds = die
else:
    raise SystemExit(f"unknown crash point {point}")

from verbatim.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _answers(settings: Settings, embedder) -> list[tuple]:
    answerer = Answerer(settings, embedder=embedder)
    answerer.warm_up()
    result = []
    for question in QUESTIONS:
        answer = answerer.run(question)
        result.append((answer.abstained, answer.answer, answer.answer_doc_id, answer.answer_start, answer.answer_end))
    return result


def _temporaries(index_dir: Path) -> list[Path]:
    folder = index_format.builds_dir(index_dir)
    return [path for path in folder.iterdir() if path.name.startswith(index_format.TEMP_PREFIX)] if folder.exists() else []


def _extra_documents(folder: Path, count: int, sentences: int, seed: int = 0) -> None:
    """Plain-text documents of distinct sentences (so every one must be embedded)."""
    words = [
        "glutamine", "amino", "acid", "muscle", "recovery", "gut", "lining", "immune", "cells", "barrier",
        "dose", "grams", "daily", "athletes", "patients", "study", "trial", "placebo", "fatigue", "sleep",
        "stress", "protein", "powder", "capsule", "kidney", "liver", "adults", "evening", "weeks", "effect",
    ]
    rnd = random.Random(seed)
    for number in range(count):
        lines = [f"Generated Note {number}", ""]
        body = []
        for sentence in range(sentences):
            body.append(f"Note {number} line {sentence} says " + " ".join(rnd.choice(words) for _ in range(12)) + ".")
        lines.append(" ".join(body))
        (folder / f"generated-{number:04d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def previous(tmp_path, embedder):
    """An index of the seed corpus (the build that must survive), its answers and a new corpus."""
    corpus = tmp_path / "corpus"
    shutil.copytree(REPO / "corpus", corpus)
    settings = Settings.from_env(index_dir=tmp_path / "index", corpus_dir=corpus)
    assert run_ingest([corpus], settings=settings, embedder=embedder, show_progress=False).status == "built"
    (corpus / "sleep.txt").write_text(NEW_DOCUMENT, encoding="utf-8")
    return {
        "settings": settings,
        "corpus": corpus,
        "current": (settings.index_dir / index_format.CURRENT_FILE).read_text(),
        "answers": _answers(settings, embedder),
    }


def _assert_previous_index_intact(previous, embedder) -> None:
    settings = previous["settings"]
    assert (settings.index_dir / index_format.CURRENT_FILE).read_text() == previous["current"]
    index_format.load_build(settings.index_dir, embedder.name, None)  # the index names its own model
    assert _answers(settings, embedder) == previous["answers"]


def _run_killed(point: str, previous) -> subprocess.CompletedProcess:
    settings = previous["settings"]
    command = [sys.executable, "-c", CRASH_RUNNER, point, "ingest", str(previous["corpus"]), "--index", str(settings.index_dir)]
    result = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == -signal.SIGKILL, f"{point}: exit {result.returncode}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
@pytest.mark.parametrize("point", ["embedding", "writing", "before-manifest", "before-rename", "before-current"])
def test_sigkill_keeps_the_previous_index_and_the_next_run_recovers(previous, embedder, point):
    _run_killed(point, previous)
    settings = previous["settings"]
    if point in ("writing", "before-manifest", "before-rename"):
        assert _temporaries(settings.index_dir), "the killed run left its temporary build behind"

    _assert_previous_index_intact(previous, embedder)

    report = run_ingest([previous["corpus"]], settings=settings, embedder=embedder, show_progress=False)
    assert report.status == "built" and report.documents == 3, report.summary()
    assert _temporaries(settings.index_dir) == [], "the next run removes stale temporaries"
    answerer = Answerer(settings, embedder=embedder)
    answerer.warm_up()
    answer = answerer.run(NEW_QUESTION)
    assert answer.answer_doc_id == "sleep", "the new document answers after recovery"


@pytest.mark.slow
def test_sigkill_after_the_switch_serves_the_new_build(previous, embedder):
    _run_killed("before-cleanup", previous)
    settings = previous["settings"]
    assert (settings.index_dir / index_format.CURRENT_FILE).read_text() != previous["current"]
    contents = index_format.load_build(settings.index_dir, embedder.name, None)  # the index names its own model
    assert len(contents.documents) == 3
    report = run_ingest([previous["corpus"]], settings=settings, embedder=embedder, show_progress=False)
    assert report.status == "up-to-date", report.summary()


@pytest.mark.slow
def test_sigkill_from_outside_while_embedding_then_resume(previous, embedder):
    settings = previous["settings"]
    _extra_documents(previous["corpus"], count=100, sentences=30)  # ~3,000 new sentences
    shards = index_format.cache_dir(settings.index_dir)
    command = [sys.executable, "-m", "verbatim.cli", "ingest", str(previous["corpus"]), "--index", str(settings.index_dir)]
    process = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while not any(shards.rglob("shard-*.npz")):
            assert process.poll() is None, "ingest ended before it saved any embeddings"
            assert time.monotonic() < deadline, "ingest saved no embeddings in time"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL

    _assert_previous_index_intact(previous, embedder)

    report = run_ingest([previous["corpus"]], settings=settings, embedder=embedder, show_progress=False)
    assert report.status == "built" and report.documents == 103, report.summary()
    # The seed corpus has ~210 texts: anything above that came from the killed run's shards.
    assert report.reused >= 2048, report.summary()
    assert not any(shards.rglob("shard-*.npz")), "shards are deleted once a build commits"
    assert _temporaries(settings.index_dir) == []


@pytest.mark.slow
def test_server_keeps_serving_during_ingest_and_reload_switches_without_a_failed_request(previous, embedder):
    settings = Settings.from_env(
        index_dir=previous["settings"].index_dir, corpus_dir=previous["corpus"], admin_token="reload-token"
    )
    app = create_app(settings, answerer=Answerer(settings, embedder=embedder))
    failures: list[str] = []
    served = {"before": 0, "after": 0}
    phase = ["before"]
    stop = threading.Event()

    def hammer(url: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            number = 0
            while not stop.is_set():
                number += 1
                try:
                    if number % 3:
                        response = client.post("/api/ask", json={"question": QUESTIONS[number % len(QUESTIONS)]})
                        ok = response.status_code == 200 and "answer" in response.json()
                    else:
                        response = client.get("/healthz")
                        ok = response.status_code == 200
                except httpx.HTTPError as error:
                    failures.append(f"{type(error).__name__}: {error}")
                    continue
                if not ok:
                    failures.append(f"{response.status_code}: {response.text[:200]}")
                served[phase[0]] += 1

    with serve_in_thread(app) as url:
        workers = [threading.Thread(target=hammer, args=(url,), daemon=True) for _ in range(2)]
        for worker in workers:
            worker.start()
        command = [sys.executable, "-m", "verbatim.cli", "ingest", str(previous["corpus"]), "--index", str(settings.index_dir)]
        ingest = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        while ingest.poll() is None:  # the old build is served while the new one is written
            assert httpx.get(f"{url}/healthz", timeout=60).json()["documents"] == 2
            time.sleep(0.5)
        assert ingest.returncode == 0, ingest.stdout.read()
        assert httpx.get(f"{url}/healthz", timeout=60).json()["documents"] == 2  # until reloaded

        reload = httpx.post(f"{url}/api/admin/reload", headers={"Authorization": "Bearer reload-token"}, timeout=300)
        assert reload.status_code == 200, reload.text
        assert reload.json()["status"] == "reloaded" and reload.json()["documents"] == 3
        phase[0] = "after"
        answer = httpx.post(f"{url}/api/ask", json={"question": NEW_QUESTION}, timeout=60).json()
        time.sleep(2.0)
        stop.set()
        for worker in workers:
            worker.join(timeout=60)

    assert failures == []
    assert served["before"] > 0 and served["after"] > 0
    assert not answer["abstained"] and answer["passages"][0]["doc_id"] == "sleep"
