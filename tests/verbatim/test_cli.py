"""``verbatim ask``: the terminal answer is the API's answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from verbatim.cli import main

REPO = Path(__file__).resolve().parents[2]

QUESTIONS = [
    "How much glutamine should I take for gut health?",
    "Can I take glutamine if I have liver disease?",
    "What is the capital of France?",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_ask_json_is_the_api_answer(client, corpus_settings, capsys, question):
    assert main(["ask", "--index", str(corpus_settings.index_dir), "--json", "--top-k", "2", question]) == 0
    printed = json.loads(capsys.readouterr().out)
    served = client.post("/api/ask", json={"question": question, "top_k": 2})
    assert served.status_code == 200
    assert printed == served.json()


def test_ask_prints_the_quote_its_source_and_the_confidence_in_words(client, corpus_settings, capsys):
    question = QUESTIONS[0]
    assert main(["ask", "--index", str(corpus_settings.index_dir), question]) == 0
    printed = capsys.readouterr().out
    served = client.post("/api/ask", json={"question": question}).json()
    assert f"A: {served['answer']}" in printed
    first = served["passages"][0]
    assert f"[{first['doc_id']} {first['start']}:{first['end']}]" in printed
    assert f"Confidence: {served['confidence']:.2f} (" in printed


def test_ask_refuses_an_empty_question(corpus_settings, capsys):
    assert main(["ask", "--index", str(corpus_settings.index_dir), "   "]) == 2
    assert "1 to 1000 characters" in capsys.readouterr().err


def test_version_in_one_place(capsys):
    import tomllib

    from verbatim import __version__

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"verbatim {__version__}"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" in project["dynamic"] and "version" not in project  # read from verbatim.__version__


def test_python_dash_m_verbatim_is_the_command():
    done = subprocess.run([sys.executable, "-m", "verbatim", "--version"], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("verbatim ")
