"""Does a word occur in the sources? Exact, by stem, or within a typo's distance."""

from __future__ import annotations

from collections.abc import Iterable

from qa.word_specificity import zipf
from verbatim.textutil import edit_distance_at_most, stem, typo_budget

REAL_WORD_ZIPF = 2.5  # words at least this frequent in English are taken as spelt on purpose


def _deletes(word: str) -> set[str]:
    return {word[:position] + word[position + 1 :] for position in range(len(word))}


class Vocabulary:
    """The corpus vocabulary with typo-tolerant lookup (SymSpell-style deletion index).

    Args:
        words: Folded words of the corpus -> ``[document frequency, occurrences]``.
    """

    def __init__(self, words: dict[str, list[int]]) -> None:
        self.frequencies = {word: counts[1] for word, counts in words.items()}
        self.stems = {stem(word) for word in words}
        self._deletion_index: dict[str, set[str]] | None = None

    def _index(self) -> dict[str, set[str]]:
        """Every corpus word and stem under each of its one-letter deletions (built on first use)."""
        if self._deletion_index is None:
            index: dict[str, set[str]] = {}
            for word in (*self.frequencies, *self.stems):
                if len(word) >= 3 and word.isalpha():
                    for variant in {word, *_deletes(word)}:
                        index.setdefault(variant, set()).add(word)
            self._deletion_index = index
        return self._deletion_index

    def correction(self, word: str) -> str | None:
        """The corpus word (or stem) a possibly misspelt word stands for.

        Args:
            word: A folded word from a question.

        Returns:
            The word itself when known (exactly or by stem); otherwise, for a word that is not
            itself common English, the most frequent corpus word or stem within the typo budget
            (one edit up to 7 letters, two beyond; a swap of adjacent letters is one edit),
            comparing both the word and its stem; or None.
        """
        word_stem = stem(word)
        if word in self.frequencies or word_stem in self.stems:
            return word
        # A real English word ("taste", "banned") is not a misspelling of a similar corpus word.
        if not word.isalpha() or zipf(word) >= REAL_WORD_ZIPF:
            return None
        index = self._index()
        close: set[str] = set()
        for form in {word, word_stem}:
            budget = typo_budget(form)
            if budget == 0:
                continue
            probes = {form, *_deletes(form)}
            if budget >= 2:
                probes |= {variant for deleted in _deletes(form) for variant in _deletes(deleted)}
            candidates = {candidate for probe in probes for candidate in index.get(probe, ())}
            close |= {candidate for candidate in candidates if edit_distance_at_most(form, candidate, budget)}
        if not close:
            return None
        return max(close, key=lambda candidate: (self.frequencies.get(candidate, 0), -abs(len(candidate) - len(word))))

    def uncovered(self, terms: Iterable[str]) -> list[str]:
        """The terms that do not occur in the corpus, even allowing for typos."""
        return [term for term in terms if self.correction(term) is None]
