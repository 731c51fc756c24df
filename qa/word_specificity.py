"""How specific a word is in general English, from the wordfreq package's bundled statistics.

A word the sources never use matters more when it is specific ("creatine", "trimester") than
when it is common ("better", "really"): the first usually names what the question is about.
Specificity is ``6 - Zipf frequency`` clipped to 0..4 (Zipf 6 is "time", Zipf 2 is a rare term;
words wordfreq does not know count as fully specific).
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=100_000)
def zipf(word: str) -> float:
    """Zipf frequency of a folded English word (0 when unknown)."""
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en"))


def specificity(word: str) -> float:
    """0 for everyday words up to 4 for rare or unknown terms."""
    return min(4.0, max(0.0, 6.0 - zipf(word)))


# Words at least this frequent in English are taken as spelt on purpose: "taste" is not a
# misspelling of "waste", "relation" not of "reaction".
REAL_WORD_ZIPF = 2.5


def is_common_word(word: str) -> bool:
    """Whether a folded word is ordinary English (and so never corrected as a typo)."""
    return zipf(word) >= REAL_WORD_ZIPF
