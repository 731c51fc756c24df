"""Food groups: the table's generator on a miniature WordNet, and how questions use the table."""

from pathlib import Path

import pytest

from qa.food_groups import FoodGroups, build_table, load_food_groups, write_table

# WordNet's data.noun / index.noun formats: offset, lexicographer file (13 noun.food, 05
# noun.animal, 08 noun.body), kind, lemma count (hex), lemmas with their ids, pointers ("@" is a
# hypernym), then the gloss.
DATA_NOUN = """\
  1 This is a miniature WordNet for tests.
00000001 13 n 01 food 0 000 | any substance eaten
00000002 13 n 02 dairy_product 0 milk_product 0 001 @ 00000001 n 0000 | food from milk
00000003 13 n 01 cheese 0 001 @ 00000002 n 0000 | a solid food made from milk
00000004 13 n 01 meat 0 001 @ 00000001 n 0000 | the flesh of animals
00000005 13 n 01 cut 0 001 @ 00000004 n 0000 | a piece of meat
00000006 13 n 01 steak 0 001 @ 00000005 n 0000 | a slice of meat
00000007 13 n 01 sirloin 0 001 @ 00000006 n 0000 | a cut of steak
00000008 13 n 01 tenderloin 0 001 @ 00000007 n 0000 | four kind-of steps below meat
00000009 08 n 01 heart 0 000 | the organ that pumps blood
00000010 13 n 01 heart 0 001 @ 00000004 n 0000 | the heart of an animal eaten as meat
00000011 05 n 01 turkey 0 000 | a large bird
00000012 13 n 01 turkey 0 001 @ 00000004 n 0000 | the flesh of a turkey
00000013 08 n 01 organ 0 000 | a part of the body
00000014 13 n 01 organs 0 001 @ 00000004 n 0000 | organs eaten as meat
"""
INDEX_NOUN = """\
  1 index
cheese n 1 1 @ 1 0 00000003
cut n 1 1 @ 1 0 00000005
heart n 2 1 @ 2 0 00000009 00000010
meat n 1 1 @ 1 0 00000004
organ n 1 0 1 0 00000013
organs n 1 1 @ 1 0 00000014
sirloin n 1 1 @ 1 0 00000007
steak n 1 1 @ 1 0 00000006
tenderloin n 1 1 @ 1 0 00000008
turkey n 2 1 @ 2 0 00000011 00000012
"""


@pytest.fixture
def wordnet(tmp_path: Path) -> Path:
    (tmp_path / "data.noun").write_text(DATA_NOUN, encoding="latin-1")
    (tmp_path / "index.noun").write_text(INDEX_NOUN, encoding="latin-1")
    return tmp_path


def test_the_table_names_each_food_s_groups_up_to_three_kind_of_steps_away(wordnet):
    table = build_table(wordnet)
    assert table["cheese"] == ("dairy",)  # "dairy_product" reads "dairy"
    assert table["steak"] == ("meat",)
    assert table["sirloin"] == ("meat",)
    assert "tenderloin" not in table  # four steps
    assert table["turkey"] == ("meat",)  # the animal sense first is its source
    assert "heart" not in table  # the organ sense comes first
    assert "organs" not in table  # first the plural of "organ"
    assert "meat" not in table and "food" not in table


def test_the_written_table_reads_back_with_the_license(wordnet, tmp_path):
    table = build_table(wordnet)
    path = tmp_path / "groups.tsv"
    path.write_text(write_table(table, "WordNet Release 3.0\n\nWordNet 3.0 Copyright 2006"), encoding="utf-8")
    assert "# WordNet 3.0 Copyright 2006" in path.read_text(encoding="utf-8")
    assert load_food_groups(path) == table


@pytest.fixture(scope="module")
def groups() -> FoodGroups:
    corpus = {"meat", "poultry", "dairy", "legumes", "grains"}
    return FoodGroups(load_food_groups(), lambda word: word if word in corpus else None)


@pytest.mark.parametrize(
    ("word", "question", "group"),
    [
        ("cheese", "does cheese have glutamine?", "dairy"),
        ("chicken", "is there glutamine in chicken", "poultry"),
        ("lentils", "do lentils contain glutamine", "legumes"),  # plural food, plural group
        ("rice", "can I get glutamine from rice", "grains"),
        ("steak", "do steak and eggs have it", "meat"),
    ],
)
def test_a_food_reads_as_its_group_in_the_sources(groups, word, question, group):
    assert groups.group_of(word, question) == group


@pytest.mark.parametrize(
    ("word", "question"),
    [
        ("halal", "Is L-glutamine halal?"),  # not a question about what foods supply
        ("spinach", "is there glutamine in spinach"),  # vegetables: not a group these sources name
        ("milk", "does almond milk contain glutamine"),  # almond milk is no dairy
        ("heart", "is glutamine in heart medicine"),  # first of all an organ
    ],
)
def test_a_word_that_is_no_food_of_a_named_group_stays_unknown(groups, word, question):
    assert groups.group_of(word, question) is None
