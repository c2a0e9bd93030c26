"""Question analysis (tools/question.py) and the answer-fit check (streaming/answer/fit.py)."""

from collections import Counter

import pytest

from streaming.answer.fit import fit
from tools.corpus import load_questions
from tools.language.question import analyze


@pytest.mark.parametrize(
    "question, qtype, answer_type",
    [
        ("who is the ceo of apple", "simple", "person"),
        ("what year was microsoft founded", "simple", "year"),
        ("when did the beatles break up", "simple", "date"),
        ("where is berkshire hathaway headquartered", "simple", "place"),
        ("what is the capital of australia", "simple", "place"),
        ("which company replaced intel in the dow in november 2024", "simple_w_condition",
         "organisation"),
        ("what is the largest city in canada by population", "simple_w_condition", "place"),
        ("which company was founded first apple or microsoft", "comparison", "other"),
        ("who is older tom hanks or denzel washington", "comparison", "person"),
        ("how many films are in the harry potter film series", "aggregation", "number"),
        ("how old is warren buffett", "post-processing", "number"),
        ("how many years after the godfather was the godfather part two released",
         "post-processing", "number"),
        ("who were the four members of the rock band led zeppelin", "set", "set"),
        ("in what year was the author of pride and prejudice born", "multi-hop", "year"),
        ("what currency is used in the country where the eiffel tower stands", "multi-hop",
         "other"),
        ("is paris the capital of france", "simple", "yesno"),
    ],
)  # fmt: skip
def test_type_and_expected_answer(question, qtype, answer_type):
    q = analyze(question)
    assert (q.qtype, q.answer_type) == (qtype, answer_type)


def test_entities_attribute_and_conditions():
    q = analyze("who won the wimbledon singles title for men in 2024")
    assert q.years == ("2024",) and "wimbledon singles" in q.entities and "won" in q.attribute
    q = analyze("which band formed earlier the rolling stones or led zeppelin")
    assert q.entities == ("rolling stones", "led zeppelin")  # "led" is a name here, not "led by"
    q = analyze("what is the largest city in canada")
    assert q.superlatives == ("largest",) and "canada" in q.entities
    assert analyze("which three movies have won eleven academy awards").numbers == ("11",)
    assert analyze("in what town was kurt cobain born").attribute == ("born",)  # "town": the kind
    assert analyze(
        "how many super bowls have the patriots and steelers won combined"
    ).needs_reasoning
    assert not analyze("how many olympic medals has simone biles won in total").needs_reasoning


def test_question_types_of_the_demo_set():
    """Measured 151/166 (91 %) on the labelled demo questions (false premises excluded: they
    cannot be told from the words); every type at least 75 %."""
    right, total = Counter(), Counter()
    for q in load_questions():
        if q.question_type != "false_premise":
            total[q.question_type] += 1
            right[q.question_type] += analyze(q.query).qtype == q.question_type
    assert sum(right.values()) / sum(total.values()) >= 0.88
    assert all(right[t] / total[t] >= 0.75 for t in total), {t: right[t] for t in total}


@pytest.mark.parametrize(
    "question, sentence, title, fits",
    [
        ("who is the ceo of apple", "Tim Cook is the chief executive officer of Apple.", "", True),
        ("who is the ceo of apple", "Apple is a technology company in Cupertino.", "", False),
        ("what year was microsoft founded", "Microsoft was founded on April 4, 1975.", "", True),
        ("what year was microsoft founded", "Microsoft was founded by Bill Gates.", "", False),
        ("who directed the 2023 film oppen hammer",
         "Barbie is a 2023 fantasy comedy film directed by Greta Gerwig.", "Barbie", False),
        ("who won the masters in 2024", "Scottie Scheffler won the Masters in 2024.", "", True),
        ("who won the masters in 2024", "Jon Rahm won the Masters in 2023.", "", False),
        ("how many films are in the harry potter series",
         "The Harry Potter series consists of eight films.", "", True),
        ("how many oceans does canada border", "Canada was formed on 1 July 1867.", "", False),
        ("in what year did tim cook found apple",
         "Apple was founded in 1976 by Steve Jobs and Steve Wozniak.", "Apple Inc.", False),
        ("who produced the album thriller", "It was produced by Quincy Jones.",
         "Thriller (album)", True),
    ],
)  # fmt: skip
def test_the_answer_must_fit_the_question(question, sentence, title, fits):
    assert (fit(analyze(question), sentence, title).confidence >= 0.55) is fits


def test_a_composed_kg_answer_may_reject_the_premise():
    q = analyze("when did bob marley release the album thriller")
    said = "Actually, Thriller is a Michael Jackson album, not a Bob Marley one."
    assert fit(q, said, "Thriller", answer=True).confidence > 0
    assert fit(q, said, "Thriller").confidence == 0  # read as a fact it holds no date


@pytest.mark.parametrize(
    "text, qtype",
    [
        ("who was the director of the film vertigo", "simple"),
        ("who is the author of the novel middlemarch", "simple"),
        ("where was the director of the film vertigo born", "multi-hop"),
        ("who is the wife of the director of the film vertigo", "multi-hop"),
        ("what is the home ground of the club nadia voss plays for", "multi-hop"),
    ],
)
def test_one_relation_of_one_entity_is_a_single_hop(text, qtype):
    assert analyze(text).qtype == qtype
