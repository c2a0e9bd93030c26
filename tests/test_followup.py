"""Follow-up questions resolved against the last turn (pure, no models)."""

import pytest

from streaming.rag.context import Context, answer_entity, names, question_entity, resolve_followup
from tools.language.corrections import make_query

CEO = Context(
    "who is the ceo of apple", "Apple Inc.", "Tim Cook has been the CEO of Apple since 2011."
)
CAPITAL = Context(
    "what is the capital of australia", "Australia", "Canberra is the capital of Australia."
)
OBAMA = Context(
    "When was Barack Obama born?", "Barack Obama", "Barack Obama was born on August 4, 1961."
)
NOLAN = Context("who directed oppenheimer", None,
                "Oppenheimer is a 2023 film directed by Christopher Nolan.")  # fmt: skip
FRANCE = Context("What is the capital of France?", "France", "Paris is the capital of France.")
SINGER = Context("Who is Taylor Swift?", "Taylor Swift", "Taylor Swift is an American singer.")

FOLLOWUPS = [
    # a pronoun stands for the answer of a "who" question asked through a role
    ("and when was he born?", CEO, "when was tim cook born"),
    ("How old is he?", CEO, "how old is tim cook"),
    ("where did he study", CEO, "where did tim cook study"),
    ("what is his net worth", CEO, "what is tim cook's net worth"),
    ("how old is he", NOLAN, "how old is christopher nolan"),
    # ... and for the question's own entity otherwise
    ("how old is she?", SINGER, "how old is taylor swift"),
    ("where was he born?", OBAMA, "where was barack obama born"),
    ("when was it founded?", CEO, "when was apple inc. founded"),
    ("who founded it?", NOLAN, "who founded oppenheimer"),
    ("and its population?", CAPITAL, "what is australia's population"),
    ("what about its population?", CAPITAL, "what is australia's population"),
    ("what about the population?", CAPITAL, "what is the population of australia"),
    # "what about X" asks the last question about X
    ("what about France?", CAPITAL, "what is the capital of france"),
    ("What about Germany?", FRANCE, "what is the capital of germany"),
    ("and Microsoft?", CEO, "who is the ceo of microsoft"),
    ("how about for New Zealand?", CAPITAL, "what is the capital of new zealand"),
    ("and in 2010?", CAPITAL, "what is the capital of australia in 2010"),
]
STANDALONE = [
    ("what is the capital of france", CAPITAL),
    ("Who directed Oppenheimer?", CEO),
    ("who sang let it be", CAPITAL),
    ("Who sang Let It Be?", CEO),
    ("is it true that the earth is flat", CAPITAL),
    ("how long does it take to fly to paris", CAPITAL),
    ("and who won the 2022 world cup?", CEO),
    ("when was he born", None),  # no last turn: nothing to resolve against
]


def _plain(text):
    return " ".join(text.lower().replace("?", " ").split())


@pytest.mark.parametrize("question,previous,standalone", FOLLOWUPS)
def test_followups_are_rewritten_into_standalone_questions(question, previous, standalone):
    assert _plain(resolve_followup(question, previous)) == standalone


@pytest.mark.parametrize("question,previous", STANDALONE)
def test_standalone_questions_are_left_alone(question, previous):
    assert resolve_followup(question, previous) == question


def test_a_chain_of_followups_carries_the_entity_on():
    first = resolve_followup("what about France?", CAPITAL)
    second = resolve_followup("and Germany?", Context(first, "France", "Paris."))
    assert _plain(second) == "what is the capital of germany"


def test_entities_come_from_the_graph_the_question_or_the_answer():
    assert question_entity("who is the ceo of apple", "Apple Inc.") == "Apple Inc."
    assert question_entity("Who directed Oppenheimer?") == "Oppenheimer"
    assert question_entity("who directed oppenheimer") is None
    assert answer_entity(CEO) == "Tim Cook"
    assert answer_entity(CAPITAL) == "Canberra"
    assert names("The CEO of Apple is Tim Cook, since 2011.") == ["CEO of Apple", "Tim Cook"]
    assert names("I'm not sure, but here is what I found.") == []


def test_the_rewritten_query_is_what_the_reflector_compares():
    """A speculative call on the bare follow-up ("born") is not the rewritten question's query."""
    bare, rewritten = (
        make_query("and when was he born?"),
        make_query(resolve_followup("and when was he born?", CEO)),
    )
    assert bare == "born" and rewritten == "tim cook born"


def test_a_person_is_a_full_name_from_the_answer():
    titanic = Context("who directed titanic", "Titanic",
                      "Titanic is a 1997 American romance and disaster film written and directed "
                      "by James Cameron.")  # fmt: skip
    assert _plain(resolve_followup("when was he born?", titanic)) == "when was james cameron born"
