"""Question normalisation before embedding: fix typos against the corpus vocabulary and expand
texting shorthand, so "how mutch glutamin shud i take" is embedded as "how much glutamine should
i take" (and idioms as the sources' words: "per day" as "daily", "on an empty stomach" as "away from
meals"). A misspelt word the sources never use is fixed against everyday English instead, and a
food they never name is followed by its food group when they name that ("does cheese (dairy)
have glutamine"). The question shown to the user is never changed; only what is embedded and
matched.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from qa.food_groups import FoodGroups
from qa.table_patterns import table_pattern
from qa.vocabulary import Vocabulary
from qa.word_specificity import english_correction
from verbatim.textutil import fold, is_common_word

# Texting shorthand and everyday idioms (a data file with its own header).
TABLES_PATH = Path(__file__).with_name("normalizer_tables.toml")


@dataclass(frozen=True)
class NormaliserTables:
    """The normaliser's word tables.

    Attributes:
        shorthand: Texting shorthand -> plain words ("" for a filler, which is dropped).
        phrases: ``(own word, idiom pattern, replacement)``, applied in order while the sources
            never use the idiom's own word.
    """

    shorthand: dict[str, str]
    phrases: tuple[tuple[str, re.Pattern[str], str], ...]


@lru_cache(maxsize=4)
def load_tables(path: Path = TABLES_PATH) -> NormaliserTables:
    """Read ``qa/normalizer_tables.toml``.

    Args:
        path: The tables file.

    Returns:
        The tables.
    """
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return NormaliserTables(
        shorthand={str(key): str(value) for key, value in raw["shorthand"].items()},
        phrases=tuple(
            (str(row["own_word"]), table_pattern(row, "pattern", "ignore_case"), str(row["replacement"]))
            for row in raw["phrases"]
        ),
    )


# A food the sources never name, followed by their word for its group: "cheese (dairy)".
FOOD_WITH_GROUP = re.compile(r"\b[A-Za-z]+ \(([a-z]+)\)")
# A word starts with a letter and may hold digits, so "b4" is one token.
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9'’/]*|[^A-Za-z]+")


class QuestionNormaliser:
    """Rewrites a question into the corpus's own spelling.

    Args:
        vocabulary: The corpus vocabulary (typo-tolerant lookup).
        food_groups: Food groups of foods the corpus never names (none: foods stay as typed).
        tables: Shorthand and idioms (default: ``qa/normalizer_tables.toml``).
    """

    def __init__(
        self, vocabulary: Vocabulary, food_groups: FoodGroups | None = None, tables: NormaliserTables | None = None
    ) -> None:
        self.vocabulary = vocabulary
        self.food_groups = food_groups
        self.tables = tables or load_tables()

    def run(self, question: str) -> str:
        """Normalised question text.

        Args:
            question: The question as typed.

        Returns:
            The text to embed and match; equal to the input when nothing needed fixing.
        """
        pieces = []
        text = question
        for own_word, pattern, replacement in self.tables.phrases:
            if own_word not in self.vocabulary.frequencies:
                text = pattern.sub(replacement, text)
        changed = text != question
        for token in _TOKEN.findall(text):
            if not token[0].isalpha():
                pieces.append(token)
                continue
            folded = fold(token)
            if folded in self.tables.shorthand:
                pieces.append(self.tables.shorthand[folded])
                changed = True
                continue
            # Only misspellings are rewritten: real English words stay as typed.
            misspelt = folded.isalpha() and folded not in self.vocabulary.frequencies and not is_common_word(folded)
            correction = self.vocabulary.correction(folded) if misspelt else None
            if misspelt and correction is None:
                # A slip on a word the sources never use ("natrually") still reads better fixed.
                correction = english_correction(folded)
            if correction is not None and correction != folded:
                pieces.append(correction)
                changed = True
            elif (group := self._food_group(folded, question)) is not None:
                pieces.append(f"{token} ({group})")  # the form FOOD_WITH_GROUP matches
                changed = True
            else:
                pieces.append(token)
        if not changed:
            return question
        return re.sub(r"\s{2,}", " ", "".join(pieces)).strip()

    def _food_group(self, word: str, question: str) -> str | None:
        """The sources' food group for a food they never name ("dairy" for "cheese")."""
        if self.food_groups is None or not word.isalpha():
            return None
        # Most words are no food: the table lookup goes before the vocabulary's.
        group = self.food_groups.group_of(word, question)
        return group if group is not None and self.vocabulary.correction(word) is None else None
