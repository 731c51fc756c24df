"""Does a word occur in the sources? Exact, by stem, or within a typo's distance."""

from __future__ import annotations

from collections.abc import Iterable

from verbatim.textutil import edit_distance_at_most, is_common_word, stem, typo_budget


def _consonants(word: str) -> str:
    return "".join(letter for letter in word if letter not in "aeiouy")


def _derived_forms(word: str) -> list[str]:
    """Adjective and noun forms the stemmer keeps apart in short words ("stable", "stability")."""
    if word.endswith("bility"):
        return [word[: -len("bility")] + "ble"]
    if word.endswith("ble"):
        return [word[: -len("ble")] + "bility"]
    return []


def _deletes(word: str) -> set[str]:
    return {word[:position] + word[position + 1 :] for position in range(len(word))}


class Vocabulary:
    """The corpus vocabulary with typo-tolerant lookup (SymSpell-style deletion index).

    Args:
        words: Folded words of the corpus -> ``[document frequency, occurrences]``.
    """

    def __init__(self, words: dict[str, list[int]]) -> None:
        self.frequencies = {word: counts[1] for word, counts in words.items()}
        self._word_for_stem: dict[str, str] = {}
        for word, _ in sorted(self.frequencies.items(), key=lambda item: -item[1]):
            self._word_for_stem.setdefault(stem(word), word)
        self.stems = set(self._word_for_stem)
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
            The corpus word it stands for: the word itself when the corpus uses it, the corpus's
            most frequent word of the same stem (or of its -ble / -bility form: "stable" stands for
            "stability"), or (for a word that is not itself common
            English) the most frequent corpus word within the typo budget (one edit up to 7
            letters, two beyond; a swap of adjacent letters is one edit), comparing both the word
            and its stem; among equally frequent ones the closest in length, then one differing
            only in vowels; None when there is none.
        """
        word_stem = stem(word)
        if word in self.frequencies:
            return word
        if word_stem in self._word_for_stem:
            return self._word_for_stem[word_stem]
        for form in _derived_forms(word):
            if form in self.frequencies:
                return form
            if (form_stem := stem(form)) in self._word_for_stem:
                return self._word_for_stem[form_stem]
        # A real English word ("taste", "banned") is not a misspelling of a similar corpus word.
        if not word.isalpha() or is_common_word(word):
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
        words = {candidate if candidate in self.frequencies else self._word_for_stem.get(candidate, candidate) for candidate in close}
        if not words:
            return None
        skeleton = _consonants(word)
        # Ties go to a vowel-only slip ("tyme" -> "time", not "type"), then alphabetical order, so
        # the answer never depends on set iteration order.
        return min(
            words,
            key=lambda candidate: (
                -self.frequencies.get(candidate, 0),
                abs(len(candidate) - len(word)),
                _consonants(candidate) != skeleton,
                candidate,
            ),
        )

    def uncovered(self, terms: Iterable[str]) -> list[str]:
        """The terms that do not occur in the corpus, even allowing for typos."""
        return [term for term in terms if self.correction(term) is None]
