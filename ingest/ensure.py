"""The first run's index: build the default corpus's index when the index folder has none.

``verbatim serve``, ``verbatim eval`` and ``verbatim bench`` call :func:`ensure_index` before they
load an index, so ``make run`` works on a fresh clone.
"""

from __future__ import annotations

import sys

from ingest.pipeline import run_ingest
from verbatim.index_format import IndexInvalidError, current_build
from verbatim.settings import Settings


def ensure_index(settings: Settings) -> bool:
    """Build the default corpus's index when the index folder has none (first run).

    Args:
        settings: Index folder and corpus.

    Returns:
        Whether an index is available afterwards.
    """
    # Any committed build counts, even a damaged one: start-up then refuses it with a message,
    # rather than silently replacing another corpus's index with the default corpus.
    try:
        if current_build(settings.index_dir) is not None:
            return True
    except IndexInvalidError:
        return True
    print(f"No index in {settings.index_dir}; building it from {settings.corpus_dir} ...", file=sys.stderr)
    report = run_ingest(settings=settings)
    print(report.summary(), file=sys.stderr)
    return report.ok
