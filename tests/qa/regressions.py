"""Known regressions, marked where they are tested so they stay visible (strict: a fix fails the
mark, and the mark must then be removed)."""

from __future__ import annotations

import pytest

# The embedder adapted to the corpus's training pairs (issue 21) answers these cases otherwise
# than the base model did; see docs/adaptation.md, "Known regressions".
ADAPTATION_REGRESSION = pytest.mark.xfail(
    strict=True,
    reason="changed by the embedder adapted to the corpus (issue 21; docs/adaptation.md, Known regressions)",
)

# The pair ranker (the training questions choose the sentence to quote, issue 21) answers these
# cases otherwise; see docs/quality-history.md (2026-12-07 afternoon).
PAIR_CHOICE_REGRESSION = pytest.mark.xfail(
    strict=True,
    reason="changed by the pair ranker's choice of the quoted sentence (issue 21; docs/quality-history.md, 2026-12-07 afternoon)",
)
