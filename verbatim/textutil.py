"""Word-level text handling shared by ingest (BM25, vocabulary) and qa (queries, overlap).

One tokenizer for both sides guarantees a question and a passage are cut the same way.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import Stemmer

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)

# Lucene's English stop words: dropped from the BM25 index and from queries.
BM25_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)

# Words that carry no topic of their own in a question (a data file with its own header).
FUNCTION_WORDS_PATH = Path(__file__).with_name("function_words.txt")


@lru_cache(maxsize=1)
def function_words(path: Path = FUNCTION_WORDS_PATH) -> frozenset[str]:
    """The function words: question words, auxiliaries, pronouns, fillers of casual speech.

    Args:
        path: The word file (``verbatim/function_words.txt``).

    Returns:
        The words (folded, as written in the file).
    """
    words_in_file = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words_in_file += line.split("#", 1)[0].split()
    return frozenset(words_in_file)

_stemmer_local = None


def _stemmer() -> Stemmer.Stemmer:
    global _stemmer_local
    if _stemmer_local is None:
        _stemmer_local = Stemmer.Stemmer("english")
    return _stemmer_local


def fold(text: str) -> str:
    """Lower-case and strip accents so "Crohn’s" and "crohn's" compare equal."""
    text = text.lower().replace("’", "'")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> list[str]:
    """Split text into folded word tokens (letters and digits; inner apostrophes kept).

    Args:
        text: Any text.

    Returns:
        The words, lower-cased, in order.
    """
    return _WORD.findall(fold(text))


def word_runs(text: str) -> list[int]:
    """For each word of :func:`words`, the number of the stretch of text it belongs to.

    Words separated only by spaces or hyphens share a stretch; punctuation starts a new one
    ("I take Accutane, glutamine?" -> accutane and glutamine in different stretches).

    Args:
        text: Any text.

    Returns:
        One stretch number per word, non-decreasing.
    """
    folded = fold(text)
    runs, run, previous_end = [], 0, None
    for match in _WORD.finditer(folded):
        if previous_end is not None and folded[previous_end : match.start()].strip(" -"):
            run += 1
        runs.append(run)
        previous_end = match.end()
    return runs


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball-stem one folded word (cached: vocabularies repeat)."""
    return _stemmer().stemWord(word.replace("'", ""))


# Zipf frequency from which a string is an English word rather than noise in wordfreq's
# table ("boxe" and "taxe" sit near 1.6; "glutamine" is 2.5, "migraine" 3.3).
_ENGLISH_WORD_ZIPF = 2.0


@lru_cache(maxsize=100_000)
def zipf(word: str) -> float:
    """Zipf frequency of a folded English word in wordfreq's bundled table (0 when unknown)."""
    from wordfreq import zipf_frequency

    return float(zipf_frequency(word, "en"))


# Words at least this frequent in English are taken as spelt on purpose: "taste" is not a
# misspelling of "waste", "relation" not of "reaction".
REAL_WORD_ZIPF = 2.5


def is_common_word(word: str) -> bool:
    """Whether a folded word is ordinary English (and so never corrected as a typo)."""
    return zipf(word) >= REAL_WORD_ZIPF


def light_stem(word: str) -> str:
    """Strip only inflection ("kidneys" -> "kidney", "cancers" -> "cancer", "prescribed" ->
    "prescrib"), unlike Snowball, which also merges "medical" with "medications".

    Args:
        word: A folded word.

    Returns:
        The word without a plural, past-tense or -ing ending; a plural in -es keeps its e when
        the singular is an English word ("migraines" -> "migraine", like "migraine" itself;
        "churches" -> "church").
    """
    word = word.replace("'", "")
    if word.endswith("es") and not word.endswith(("ies", "sses")) and len(word) >= 5 and zipf(word[:-1]) >= _ENGLISH_WORD_ZIPF:
        return word[:-1]
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + keep
    return word


def bm25_terms(text: str) -> list[str]:
    """Terms indexed by BM25: stemmed words without Lucene stop words.

    Args:
        text: A passage or a question.

    Returns:
        Stemmed terms in order (duplicates kept, as BM25 counts them).
    """
    return [stem(word) for word in words(text) if word not in BM25_STOPWORDS]


def key_terms(text: str) -> list[str]:
    """The content words of a question (no function words, no one-letter tokens).

    Args:
        text: A question.

    Returns:
        Folded, unstemmed words that carry its topic, in order, without repeats.
    """
    seen: dict[str, None] = {}
    for word in words(text):
        if len(word) < 2 and not word.isdigit():
            continue
        if word in function_words():
            continue
        seen.setdefault(word, None)
    return list(seen)


def edit_distance_at_most(a: str, b: str, limit: int) -> bool:
    """Whether ``a`` and ``b`` are within ``limit`` edits, counting a swap of two adjacent
    letters as one edit (optimal string alignment distance), as typists make them.

    Args:
        a: First word.
        b: Second word.
        limit: Largest distance accepted.

    Returns:
        True when ``b`` can be reached from ``a`` with ``limit`` edits or fewer.
    """
    if abs(len(a) - len(b)) > limit:
        return False
    if a == b:
        return True
    width = len(b) + 1
    before_previous: list[int] | None = None
    previous = list(range(width))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, width):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if before_previous is not None and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, before_previous[j - 2] + 1)
            current[j] = value
        if min(current) > limit:
            return False
        before_previous, previous = previous, current
    return previous[-1] <= limit


def typo_budget(word: str) -> int:
    """Edits tolerated when matching a word typed by a user (none for short words)."""
    if len(word) <= 3:
        return 0
    if len(word) <= 7:
        return 1
    return 2
