"""Knowledge-graph reasoning on the bundled KB: each kind, composed sentences, keys, the tool."""

import pytest

from streaming.eval.judge import judge
from tools.corpus import load_questions
from tools.kg.reason import reason
from tools.kg.tool import KgTool
from tools.kg.values import parse_date, parse_number, parse_query_time

QT = "03/15/2025, 10:00:00 PT"


def test_value_parsing():
    assert parse_date("16 December 1775") == (1775, 12, 16)
    assert parse_date("August 30, 1930") == (1930, 8, 30)
    assert parse_date("April 1994") == (1994, 4, None)
    assert parse_number("2.8 billion dollars") == 2.8e9
    assert parse_number("7 Academy Awards") == 7 and parse_number("1975") == 1975
    assert parse_number("second largest") > parse_number("fifth largest")
    assert parse_query_time(QT).isoformat() == "2025-03-15"


def test_multi_hop_restates_the_question(kg):
    r = reason(kg, "in what year was the author of pride and prejudice born", QT)
    assert r.kind == "multi_hop"
    assert r.text.startswith("Jane Austen, the author of Pride and Prejudice, was born")
    assert "1775" in r.text and {f.attribute for f in r.facts} == {"author", "born"}
    r = reason(kg, "where was the lead singer of the band queen born", QT)
    assert "Freddie Mercury" in r.text and "Zanzibar" in r.text


@pytest.mark.parametrize(
    "question, winner, loser",
    [
        ("which company was founded first apple or microsoft", "Microsoft", "Apple"),
        ("who is older lionel messi or cristiano ronaldo", "Cristiano Ronaldo", "Lionel Messi"),
        ("which is taller the eiffel tower or the statue of liberty", "Eiffel Tower", "Statue"),
        (
            "which team has won more nba titles the lakers or the celtics",
            "Boston Celtics",
            "Lakers",
        ),
    ],
)
def test_comparison_names_the_winner_first(kg, question, winner, loser):
    r = reason(kg, question, QT)
    assert r.kind == "comparison" and r.text.startswith(winner)
    assert r.text.index(winner) < r.text.index(loser)


def test_dates_against_the_query_time(kg):
    assert "94 years old" in reason(kg, "how old is warren buffett", QT).text
    assert "95 years old" in reason(kg, "how old is warren buffett", "09/01/2025, 10:00:00 PT").text
    assert "49 years ago" in reason(kg, "how many years ago was apple founded", QT).text
    assert "42 years old" in reason(kg, "how old was elvis presley when he died", QT).text
    assert reason(kg, "how many years did world war two last", QT).text.startswith(
        "World War II lasted 6"
    )


def test_counting_and_sums(kg):
    r = reason(kg, "how many members are in the korean boy band bts", QT)
    assert r.kind == "count" and "7 members" in r.text
    r = reason(kg, "how many super bowls have the patriots and steelers won combined", QT)
    assert r.kind == "sum" and " 12 " in r.text


@pytest.mark.parametrize(
    "question, says",
    [
        ("when did bob marley release the album thriller", "Thriller is by Michael Jackson"),
        ("why is sydney the capital of australia", "capital of Australia is Canberra, not Sydney"),
        ("in what year did tim cook found apple", "not Tim Cook"),
        ("when did meryl streep win her fifth academy award", "Meryl Streep has 3"),
    ],
)
def test_false_premise_is_rejected(kg, question, says):
    r = reason(kg, question, QT)
    assert r.kind == "false_premise" and r.text.startswith("Actually,") and says in r.text


@pytest.mark.parametrize(
    "question",
    [
        "what year did the beatles release abbey road",  # the premise holds
        "when did freddie mercury become the lead singer of queen",
        "who is the ceo of apple",  # one hop: the plain fact answers it
        "who directed the 2023 film oppenheimer",
        "what is the capital of",  # a partial
        "how old was lionel messi when argentina won the 2022 world cup final",  # no exact date
    ],
)
def test_no_reasoning_when_it_cannot_be_established(kg, question):
    assert reason(kg, question, QT) is None


def test_simple_questions_are_left_to_the_plain_facts(kg):
    """Reasoning speaks on at most a few simple questions, and rightly when it does."""
    simple = [q for q in load_questions() if q.question_type in ("simple", "simple_w_condition")]
    spoken = [(q, reason(kg, q.query, q.query_time)) for q in simple]
    spoken = [(q, r) for q, r in spoken if r is not None]
    assert len(spoken) <= 3
    assert all(
        judge(r.text, q.gold, q.question_type, question=q.query).outcome == "correct"
        for q, r in spoken
    )


def test_reasoned_answers_beat_the_hard_types(kg):
    by_type: dict[str, list[str]] = {}
    for q in load_questions():
        r = reason(kg, q.query, q.query_time)
        if r is not None:
            by_type.setdefault(q.question_type, []).append(
                judge(r.text, q.gold, q.question_type, question=q.query).outcome
            )
    for kind, at_least in (("false_premise", 15), ("comparison", 20), ("multi-hop", 8)):
        outcomes = by_type[kind]
        assert outcomes.count("correct") >= at_least, (kind, outcomes)
        assert outcomes.count("hallucinated") <= 2, (kind, outcomes)


def test_kg_key_tells_reasoned_questions_apart(kg):
    final = "in what year was the author of pride and prejudice born"
    partial = "in what year was the author of pride and prejudice"
    assert kg.kg_key(partial) != kg.kg_key(final)  # the partial's fact is not the answer
    assert kg.kg_key(final) == kg.kg_key(
        "uh in what year was the author of pride and prejudice born"
    )
    older = kg.kg_key("who is older lionel messi or cristiano ronaldo")
    younger = kg.kg_key("who is younger lionel messi or cristiano ronaldo")
    assert older is not None and younger is not None and older != younger
    assert "lionel messi" in older[0] and "cristiano ronaldo" in older[0]


async def test_the_tool_returns_the_reasoned_answer_first(kg, docs):
    tool = KgTool(kg, {d.id: d for d in docs}, query_time=QT)
    res = await tool("in what year was the author of pride and prejudice born")
    first, *rest = res.hits
    assert first.answer and first.snippet.startswith("Jane Austen, the author")
    assert rest and not any(h.answer for h in rest)
    assert any("1775" in h.snippet for h in rest) and res.meta["reasoning"] == "multi_hop"
    plain = await tool("who is the ceo of apple")
    assert plain.hits and not any(h.answer for h in plain.hits)
    assert plain.meta == {"entity": "Apple", "attribute": "ceo"}


def graph_of(facts):  # type: ignore[no-untyped-def]
    """A graph over invented (entity, attribute, value) facts, one sentence each."""
    from tools.corpus import Document
    from tools.kg.graph import KnowledgeGraph

    return KnowledgeGraph.build(
        [Document(f"d{i}", f[0], f"{f[0]} {f[1]} {f[2]}.", facts=(f,)) for i, f in enumerate(facts)]
    )


def test_a_past_role_of_someone_linked_to_the_entity_is_not_a_false_premise():
    """History is not a false premise: the founder who once ran the company stepped down; a
    stranger to it never did. Invented names, so no demo wording."""
    facts = (
        ("Quillsoft", "founder", "Ada Brennan"),
        ("Quillsoft", "ceo", "Marcus Ode"),
        ("Ada Brennan", "born", "1961"),
        ("Marcus Ode", "born", "1975"),
        ("Tomas Fell", "born", "1980"),
        ("Tomas Fell", "birthplace", "Oslo"),
    )
    graph = graph_of(facts)
    history = reason(graph, "when did ada brennan step down as the ceo of quillsoft", QT)
    assert history is None or history.kind != "false_premise"
    stranger = reason(graph, "why did tomas fell step down as the ceo of quillsoft", QT)
    assert stranger is not None and stranger.kind == "false_premise"
    assert "Marcus Ode" in stranger.text and "Tomas Fell" in stranger.text


def test_composed_sentences_are_english_without_guessed_pronouns():
    facts = (
        ("Mount Korr", "located_in", "Veldland"),
        ("Veldland", "largest_city", "Ostra"),
        ("Ilse Varga", "born", "3 March 1901"),
        ("Ilse Varga", "died", "9 June 1950"),
    )
    graph = graph_of(facts)
    hop = reason(graph, "what is the largest city of the country where mount korr is located", QT)
    assert hop is not None and "located in of" not in hop.text and "Ostra" in hop.text
    age = reason(graph, "how old was ilse varga when she died", QT)
    assert age is not None and "49 years old" in age.text
    assert not {"he", "she"} & set(age.text.lower().replace(",", " ").split())
