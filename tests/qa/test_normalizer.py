"""Question normalisation: idioms are rewritten only for sources that do not use them."""

from qa.normalizer import QuestionNormaliser
from qa.vocabulary import Vocabulary


def normalise(question: str, corpus_words: list[str]) -> str:
    return QuestionNormaliser(Vocabulary({word: [1, 1] for word in corpus_words})).run(question)


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
