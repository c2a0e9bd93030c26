"""Knowledge-graph tool over the bundled knowledge base: building, parsing, lookup, the async tool.

Fast: no audio models, one in-memory graph per module.
"""

import asyncio
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tools.corpus import load_questions
from tools.kg.facts import KgQuery
from tools.kg.graph import KnowledgeGraph
from tools.kg.names import norm
from tools.kg.tool import KgTool
from tools.runtime.latency import LatencyProfile


@pytest.fixture(scope="module")
def tool(kg, docs):
    return KgTool(kg, {d.id: d for d in docs})


def contains(text: str, answer: str) -> bool:
    return f" {norm(answer)} " in f" {norm(text)} "


def answer(kg: KnowledgeGraph, text: str) -> tuple[str, str, list[str]] | None:
    q = kg.parse(text)
    return None if q is None else (q.entity, q.attribute, [f.value for f in kg.lookup(q)])


def test_build_from_bundled_kb(kg, tmp_path, docs):
    assert kg.entity_count >= 300
    assert kg.fact_count >= 1000
    path = tmp_path / "kg.sqlite"
    on_disk = KnowledgeGraph.build(docs, str(path))
    reopened = KnowledgeGraph(sqlite3.connect(path, check_same_thread=False))
    assert (reopened.entity_count, reopened.fact_count) == (kg.entity_count, kg.fact_count)
    assert on_disk.parse("capital of australia") == reopened.parse("capital of australia")


def test_facts_carry_their_source_sentence(kg):
    [fact] = kg.lookup(KgQuery("Apple", "ceo", 1.0))
    assert fact.value == "Tim Cook" and fact.doc_id == "finance-001"
    assert "Tim Cook" in fact.sentence and "Apple" in fact.sentence


@pytest.mark.parametrize(
    "question, entity, attribute, value",
    [
        ("what is the capital of australia", "Australia", "capital", "Canberra"),
        ("what is the capital of austria", "Austria", "capital", "Vienna"),
        ("who is the ceo of apple", "Apple", "ceo", "Tim Cook"),
        (
            "who became the chief executive of microsoft in february 2014",
            "Microsoft",
            "ceo",
            "Satya Nadella",
        ),  # fmt: skip
        ("who directed the 2023 film oppenheimer", "Oppenheimer", "director", "Christopher Nolan"),
        ("what year was the film casablanca released", "Casablanca", "release_year", "1942"),
        ("what year did the beatles release abbey road", "Abbey Road", "release_year", "1969"),
        (
            "where is berkshire hathaway headquartered",
            "Berkshire Hathaway",
            "headquarters",
            "Omaha, Nebraska",
        ),  # fmt: skip
        (
            "who won the wimbledon singles title for men in 2024",
            "Wimbledon",
            "2024_men_winner",
            "Carlos Alcaraz",
        ),  # fmt: skip
        (
            "which team won the super bowl played in february 2025",
            "Super Bowl",
            "lix_winner",
            "Philadelphia Eagles",
        ),  # fmt: skip
    ],
)
def test_parse_and_lookup_bundled_questions(kg, question, entity, attribute, value):
    got = answer(kg, question)
    assert got is not None and got[:2] == (entity, attribute)
    assert value in got[2]


@pytest.mark.parametrize(
    "question, value",
    [
        ("when was beyonce born", "1981"),  # "Beyoncé" without the accent
        ("where was beyonce born", "Houston, Texas"),
        ("when did abby road come out", "1969"),
        ("WHO DIRECTED THE DARK NIGHT", "Christopher Nolan"),
        ("what is the capital of new zeland", "Wellington"),
        ("um so who is the ceo of micro soft", "Satya Nadella"),
        ("who directed the godfather part two", "Francis Ford Coppola"),
        ("how tall is everest", "8849 metres"),
        ("what arena do the celtics play in", "TD Garden"),
    ],
)
def test_asr_spellings_still_resolve(kg, question, value):
    got = answer(kg, question)
    assert got is not None and value in got[2], got


def test_find_entities_prefers_exact_and_longer(kg):
    [(row, score)] = kg.find_entities("abby road")
    assert row.name == "Abbey Road" and 0.85 <= score < 1.0
    assert [r.name for r, _ in kg.find_entities("the new york yankees")] == ["New York Yankees"]
    assert kg.find_entities("the dark knight")[0] == (kg.find_entities("dark knight")[0][0], 1.0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "what is the",
        "what is the capital of",
        "what is the capital of austr",
        "what is the capital of austra",  # a word still being said is not fuzzily "Austria"
        "who is the ceo of",
        "who is the ceo of app",
        "tell me about apple",  # an entity but no attribute
        "who is the president of france",  # an attribute France does not have
    ],
)
def test_partial_or_unanswerable_text_parses_to_none(kg, text):
    assert kg.parse(text) is None
    assert kg.kg_key(text) is None


def test_kg_key_is_the_same_for_two_phrasings(kg):
    a = kg.kg_key("who's the ceo of apple")
    assert a == ("apple", "ceo")
    assert kg.kg_key("uh who is apple's chief executive") == a
    assert kg.kg_key("What is the capital of Australia?") == ("australia", "capital")
    assert kg.kg_key("capital of australia") == kg.kg_key("um what's australia's capital")
    assert kg.kg_key("who is the ceo of microsoft") != a


def test_same_name_is_resolved_by_attribute(kg):
    sank = answer(kg, "when did the titanic sink")
    released = answer(kg, "when was titanic released")
    assert sank is not None and sank[1] == "sank" and "15 April 1912" in sank[2]
    assert released is not None and released[1] == "release_year" and "1997" in released[2]


def test_relations_and_neighbors(kg):
    nolan = kg.neighbors("Christopher Nolan")
    assert ("director_of", "Oppenheimer") in [(a, e.name) for a, e in nolan]
    assert ("artist", "The Beatles") in [(a, e.name) for a, e in kg.neighbors("abbey road")]


def test_parse_is_deterministic_and_thread_safe(kg):
    questions = ["who is the ceo of apple", "when did abby road come out", "capital of austria"]
    expected = [kg.parse(q) for q in questions]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(kg.parse, questions * 20))
    assert got == expected * 20


async def test_tool_result_shape(tool, docs):
    res = await tool("what is the capital of australia")
    assert res.error is None and res.meta == {"entity": "Australia", "attribute": "capital"}
    [hit] = res.hits
    assert hit.score == 1.0 and hit.snippet == hit.doc.text and "Canberra" in hit.snippet
    source = next(d for d in docs if d.id == hit.doc.id)
    assert hit.doc.url == source.url and hit.doc.domain == "open" and hit.doc.title == "Australia"
    # three founders in one sentence make one hit
    founders = await tool("who founded apple")
    assert len(founders.hits) == 1 and "Wozniak" in founders.hits[0].snippet

    empty = await tool("what is the capital of")
    assert (empty.hits, empty.meta, empty.error) == ([], {}, None)


async def test_kg_answers_the_simple_bundled_questions(tool):
    questions = [q for q in load_questions() if q.question_type in ("simple", "simple_w_condition")]
    results = await asyncio.gather(*(tool(q.query) for q in questions))
    answered = [
        q.id
        for q, res in zip(questions, results, strict=True)
        if any(contains(h.snippet, g) for h in res.hits for g in q.gold)
    ]
    share = len(answered) / len(questions)
    print(f"KG answer share on simple questions: {len(answered)}/{len(questions)} = {share:.2f}")
    assert share >= 0.75  # measured 42/49 = 0.86 with the bundled data


async def test_deadline_exceeded(kg, docs):
    slow = KgTool(kg, {d.id: d for d in docs}, LatencyProfile.parse("fixed:0.2"))
    res = await slow("who is the ceo of apple", deadline_s=0.05)
    assert res.error == "deadline exceeded" and res.hits == []
    assert res.elapsed_ms < 200


async def test_cancellation_propagates(kg, docs):
    slow = KgTool(kg, {d.id: d for d in docs}, LatencyProfile.parse("fixed:0.2"))
    task = asyncio.create_task(slow("who is the ceo of apple"))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_errors_become_results(docs):
    class Broken:
        def parse(self, text):
            raise RuntimeError("graph is gone")

    res = await KgTool(Broken(), {d.id: d for d in docs})("who is the ceo of apple")  # type: ignore[arg-type]
    assert res.error == "graph is gone" and res.hits == [] and res.meta == {}


def _partials(limit=None):
    """Every word prefix of the bundled questions: what the parser sees while the user talks."""
    out = []
    for q in load_questions()[:limit]:
        words = q.query.split()
        out += [" ".join(words[:i]) for i in range(1, len(words) + 1)]
    return out


def test_memoized_parse_equals_the_uncached_parse(kg):
    uncached = KnowledgeGraph(kg.conn, parse_cache=0, fuzzy_cache=0)
    texts = _partials(60) + ["WHO DIRECTED THE DARK NIGHT", "when was Beyoncé born?",
                              "Apple's CEO, 1,000 times", "", "   ", "??"]  # fmt: skip
    kg.clear_caches()
    first = [kg.parse(t) for t in texts]
    again = [kg.parse(t) for t in texts]  # from the memo now
    assert first == again == [uncached.parse(t) for t in texts]
    # same tokens, same memo entry: case, accents and punctuation do not matter
    assert kg.parse("Capital of AUSTRALIA??") is kg.parse("capital of australia")


async def test_parse_through_the_executor_equals_inline(kg):
    from tools.runtime.offload import cpu_executor, off_loop

    texts = _partials(30)
    kg.clear_caches()
    off = await asyncio.gather(*(off_loop(kg.kg_key, t) for t in texts))
    kg.clear_caches()
    assert list(off) == [kg.kg_key(t) for t in texts]
    with ThreadPoolExecutor(2) as pool:
        assert [await off_loop(kg.kg_key, t, executor=pool) for t in texts] == list(off)
    assert cpu_executor() is cpu_executor()  # one shared pool per process
    name = await off_loop(lambda: threading.current_thread().name)
    assert name.startswith("streamrag-cpu")
