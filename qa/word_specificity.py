"""How specific a word is in general English, from the wordfreq package's bundled statistics.

A word the sources never use matters more when it is specific ("creatine", "trimester") than
when it is common ("better", "really"): the first usually names what the question is about.
Specificity is ``6 - Zipf frequency`` clipped to 0..4 (Zipf 6 is "time", Zipf 2 is a rare term;
words wordfreq does not know count as fully specific). A misspelt everyday word ("natrually")
is not a rare term: :func:`english_correction` finds the word it stands for. A question whose
words are common in another language and rare in English is in that language
(:func:`other_language`), which is why the sources, in English, never mention them.
"""

from __future__ import annotations

from functools import lru_cache

from qa.tunables import TUNABLES
from verbatim.textutil import zipf


def specificity(word: str) -> float:
    """0 for everyday words up to 4 for rare or unknown terms."""
    return min(4.0, max(0.0, 6.0 - zipf(word)))


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _one_edit_away(word: str) -> set[str]:
    """Every string one deletion, swap of neighbours, replacement or insertion away."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {left + right[1:] for left, right in splits if right}
    swaps = {left + right[1] + right[0] + right[2:] for left, right in splits if len(right) > 1}
    replaces = {left + letter + right[1:] for left, right in splits if right for letter in _LETTERS}
    inserts = {left + letter + right for left, right in splits for letter in _LETTERS}
    return (deletes | swaps | replaces | inserts) - {word}


@lru_cache(maxsize=20_000)
def nearest_everyday_word(word: str) -> str | None:
    """The most frequent everyday English word one edit away from a word.

    Typists' slips are one edit in the vast majority of cases, so one edit is all this allows;
    looking the ~500 candidates up in wordfreq's table costs well under a millisecond.

    Args:
        word: A folded word.

    Returns:
        That word (a swap of adjacent letters is one edit), or None for short, very long or
        non-alphabetic words and when no everyday word is that close.
    """
    if not 4 <= len(word) <= TUNABLES.vocabulary.max_typo_word or not word.isalpha() or not word.isascii():
        return None
    from wordfreq import get_frequency_dict

    frequencies = get_frequency_dict("en")
    threshold = 10 ** (TUNABLES.vocabulary.everyday_zipf - 9)
    close = [candidate for candidate in _one_edit_away(word) if frequencies.get(candidate, 0.0) >= threshold]
    if not close:
        return None
    return max(close, key=lambda candidate: (frequencies[candidate], candidate))


def english_correction(word: str) -> str | None:
    """The everyday English word a misspelt word most likely stands for.

    Args:
        word: A folded word.

    Returns:
        :func:`nearest_everyday_word`, for words wordfreq does not know (slang such as "swole"
        is meant, not mistyped); None for the words it knows.
    """
    if zipf(word) > 0:
        return None
    return nearest_everyday_word(word)


def typo_tolerant_specificity(word: str) -> float:
    """Specificity of the word a user meant: a misspelt everyday word is as specific as the word.

    Args:
        word: A folded word.

    Returns:
        0 to 4, as :func:`specificity`.
    """
    return specificity(english_correction(word) or word)


# Languages a question may be written in instead of the sources' English (wordfreq's names).
OTHER_LANGUAGES = {"es": "Spanish", "fr": "French", "de": "German", "it": "Italian", "pt": "Portuguese", "nl": "Dutch"}


@lru_cache(maxsize=20_000)
def _foreign_zipf(word: str, language: str) -> float:
    from wordfreq import zipf_frequency

    # The small lists (about 30,000 words each) know every word common enough to count here and
    # cost 18 MB for the six languages; the large ones cost 220 MB.
    return zipf_frequency(word, language, wordlist="small")


def load_language_tables() -> None:
    """Read the other languages' word tables now rather than in the first request that needs them."""
    for code in OTHER_LANGUAGES:
        _foreign_zipf("the", code)


def other_language(words: list[str]) -> str | None:
    """The language a question is written in when that is not English.

    Args:
        words: The question's folded words.

    Returns:
        The language's English name ("Spanish") when most of the words, and at least two, are
        common in it and far rarer in English; None for English (and for a foreign name or two in
        an English question).
    """
    votes: dict[str, int] = {}
    for word in words:
        english = zipf(word)
        scores = {code: _foreign_zipf(word, code) for code in OTHER_LANGUAGES}
        code = max(scores, key=lambda name: scores[name])
        if scores[code] >= TUNABLES.vocabulary.foreign_min_zipf and scores[code] - english >= TUNABLES.vocabulary.foreign_margin:
            votes[code] = votes.get(code, 0) + 1
    if not votes:
        return None
    code = max(votes, key=lambda name: votes[name])
    if votes[code] >= 2 and sum(votes.values()) * 2 >= len(words):
        return OTHER_LANGUAGES[code]
    return None
