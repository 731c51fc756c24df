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

from qa.food_groups import FoodGroups
from qa.vocabulary import Vocabulary
from qa.word_specificity import english_correction
from verbatim.textutil import fold, is_common_word

# Texting shorthand -> plain words; fillers map to "" and are dropped.
SHORTHAND = {
    "u": "you", "ur": "your", "r": "are", "w": "with", "w/": "with", "b4": "before", "pls": "please",
    "plz": "please", "thx": "thanks", "ppl": "people", "tho": "though", "gonna": "going to",
    "wanna": "want to", "gotta": "have to", "kinda": "kind of", "sorta": "sort of", "abt": "about",
    "bc": "because", "cuz": "because", "coz": "because", "smth": "something", "rn": "right now",
    "ya": "you", "yr": "year", "yrs": "years", "wks": "weeks", "wk": "week", "hrs": "hours",
    "mins": "minutes", "shud": "should", "wat": "what", "wats": "what is", "wen": "when", "im": "i am",
    "dont": "do not", "doesnt": "does not", "cant": "cannot", "wont": "will not", "isnt": "is not",
    "lol": "", "lmao": "", "tbh": "", "ngl": "", "haha": "", "omg": "", "yo": "", "hmm": "", "fr": "",
    "lowkey": "", "legit": "", "bruh": "", "btw": "",
}
# Everyday idioms -> plain words ("5-15 grams daily", "away from meals", "degrades in liquid
# form"), used only while the sources never use the idiom's own word ("per", "empty", "bad"):
# sources that say "on an empty stomach" keep matching it as typed.
PHRASES = (
    ("per", re.compile(r"\bper day\b", re.IGNORECASE), "daily"),
    ("empty", re.compile(r"\b(?:on )?(?:an |a )?empty stomach\b", re.IGNORECASE), "away from meals"),
    ("bad", re.compile(r"\b(?:go|goes|going|gone|went) bad\b", re.IGNORECASE), "degrade"),
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
    """

    def __init__(self, vocabulary: Vocabulary, food_groups: FoodGroups | None = None) -> None:
        self.vocabulary = vocabulary
        self.food_groups = food_groups

    def run(self, question: str) -> str:
        """Normalised question text.

        Args:
            question: The question as typed.

        Returns:
            The text to embed and match; equal to the input when nothing needed fixing.
        """
        pieces = []
        text = question
        for own_word, pattern, replacement in PHRASES:
            if own_word not in self.vocabulary.frequencies:
                text = pattern.sub(replacement, text)
        changed = text != question
        for token in _TOKEN.findall(text):
            if not token[0].isalpha():
                pieces.append(token)
                continue
            folded = fold(token)
            if folded in SHORTHAND:
                pieces.append(SHORTHAND[folded])
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
