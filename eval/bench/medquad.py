"""Where the bench finds MedQuAD: its questions, a deterministic corpus subset, its built index.

The benchmark data stays outside the repository (``--medquad-data``, read-only); the built
index is a separate folder (``--medquad-index``). When either is missing the MedQuAD parts of
the bench are reported as skipped, with the reason and the command that would provide them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eval.stats import sample
from verbatim import index_format


@dataclass(frozen=True)
class MedQuAD:
    """Paths of the MedQuAD data and index.

    Attributes:
        data_dir: Folder with ``corpus.jsonl`` and ``questions.dev.jsonl``.
        index_dir: Folder of a built index of ``corpus.jsonl``.
    """

    data_dir: Path
    index_dir: Path

    @property
    def corpus(self) -> Path:
        """The corpus file (one document per line)."""
        return self.data_dir / "corpus.jsonl"

    @property
    def dev_questions(self) -> Path:
        """The dev questions (the test split is kept for scoring)."""
        return self.data_dir / "questions.dev.jsonl"

    def data_problem(self) -> str | None:
        """Why the data cannot be used (None when it can)."""
        for path in (self.corpus, self.dev_questions):
            if not path.is_file():
                return f"{path} not found (pass --medquad-data DIR)"
        return None

    def index_problem(self) -> str | None:
        """Why the built index cannot be used (None when it can)."""
        try:
            if index_format.current_build(self.index_dir) is None:
                raise index_format.IndexMissingError(str(self.index_dir))
        except index_format.IndexError_:
            return (
                f"no MedQuAD index in {self.index_dir}; build it with: verbatim ingest {self.corpus} "
                f"--index {self.index_dir} --max-file-mb 100 (or pass --medquad-index DIR)"
            )
        return None


def sample_questions(path: Path, count: int) -> list[str]:
    """A deterministic sample of questions from a MedQuAD questions file (the MedQuAD
    benchmark's rule, :func:`eval.stats.sample`).

    Args:
        path: ``questions.dev.jsonl``.
        count: Questions wanted (all of them when the file has fewer).

    Returns:
        Question texts: the first ``count`` in SHA-256 order of their ids.
    """
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row["question"] for row in sample(rows, count, key=lambda row: str(row["id"]))]


def write_subset(corpus: Path, documents: int, target: Path) -> int:
    """Copy the first ``documents`` lines of a JSONL corpus (a deterministic subset).

    Args:
        corpus: ``corpus.jsonl``.
        documents: Lines to keep.
        target: File to write (must end in ``.jsonl`` to be ingested as records).

    Returns:
        Lines written.
    """
    written = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with corpus.open(encoding="utf-8") as source, target.open("w", encoding="utf-8") as output:
        for line in source:
            if written >= documents:
                break
            if line.strip():
                output.write(line if line.endswith("\n") else line + "\n")
                written += 1
    return written
