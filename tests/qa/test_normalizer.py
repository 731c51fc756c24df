"""Question normalisation: idioms and foods are rewritten only for sources that do not use them."""

from qa.food_groups import FoodGroups, load_food_groups
from qa.normalizer import QuestionNormaliser
from qa.vocabulary import Vocabulary


def normalise(question: str, corpus_words: list[str]) -> str:
    vocabulary = Vocabulary({word: [1, 1] for word in corpus_words})
    return QuestionNormaliser(vocabulary, FoodGroups(load_food_groups(), vocabulary.correction)).run(question)


def test_an_idiom_reads_as_plain_words_when_the_sources_lack_its_own_word():
    words = ["take", "glutamine", "away", "from", "meals"]
    assert normalise("take glutamine on an empty stomach?", words) == "take glutamine away from meals?"
    assert normalise("does glutamine go bad", words) == "does glutamine degrade"
    assert normalise("how much glutamine per day", words) == "how much glutamine daily"


def test_an_idiom_the_sources_use_is_kept_as_typed():
    words = ["take", "glutamine", "on", "an", "empty", "stomach", "per", "day", "bad"]
    assert normalise("take glutamine on an empty stomach?", words) == "take glutamine on an empty stomach?"
    assert normalise("how much glutamine per day", words) == "how much glutamine per day"
    assert normalise("does glutamine go bad", words) == "does glutamine go bad"


def test_a_food_the_sources_never_name_is_followed_by_their_word_for_its_group():
    words = ["glutamine", "does", "have", "meat", "dairy", "legumes"]
    assert normalise("does cheese have glutamine?", words) == "does cheese (dairy) have glutamine?"
    assert normalise("do Lentils have glutamine", words) == "do Lentils (legumes) have glutamine"
    # The sources name the food itself, or not its group: nothing to add.
    assert normalise("does cheese have glutamine?", [*words, "cheese"]) == "does cheese have glutamine?"
    assert normalise("does rice have glutamine?", words) == "does rice have glutamine?"
    # Not a question about what foods supply.
    assert normalise("Is L-glutamine halal?", words) == "Is L-glutamine halal?"
