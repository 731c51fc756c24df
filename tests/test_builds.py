"""The fixtures' shared steps (``tests/builds.py``), used directly on a one-document folder."""

from __future__ import annotations

from tests.builds import app_client, built_settings, warm_answerer

DOCUMENT = """Fizzlewort lozenge guide

Fizzlewort lozenge basics
Fizzlewort lozenges are a made-up sweet used only to test the fixtures' helpers.
The usual fizzlewort lozenge dose is two lozenges after dinner.
Fizzlewort lozenges keep for a year in a sealed tin.
"""


def test_build_answer_and_serve_one_folder(tmp_path_factory, embedder):
    sources = tmp_path_factory.mktemp("builds-docs")
    (sources / "fizzlewort.txt").write_text(DOCUMENT, encoding="utf-8")
    settings = built_settings(tmp_path_factory, embedder, sources, prefix="builds-")
    assert settings.corpus_dir == sources
    assert settings.index_dir.name.startswith("builds-index") and settings.data_dir.name.startswith("builds-data")

    answerer = warm_answerer(settings, embedder)
    answer = answerer.run("What is the usual fizzlewort lozenge dose?")
    assert not answer.abstained and "two lozenges after dinner" in answer.answer

    with app_client(settings, answerer) as client:
        health = client.get("/healthz").json()
        assert health["status"] == "ok" and health["documents"] == 1
        assert client.get("/readyz").json() == {"ready": True}
