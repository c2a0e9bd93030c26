"""The calculator plugin: spoken arithmetic, unit conversions and dates, what it refuses, and
that the answerer speaks its composed sentence. Pure and fast: no models, no server."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streaming.answer.answerer import Answerer
from tools.language.understood import understand
from tools.plugin import ToolContext
from tools.plugins import calc_math
from tools.plugins.calc_base import Cursor, fmt, number, spell, words
from tools.plugins.calc_units import UNITS
from tools.plugins.calculator import (
    SPEC,
    CalculatorProvider,
    CalculatorTool,
    query_date,
    solve,
)

QUERY_TIME = "03/15/2025, 10:00:00 PT"  # a Saturday
TODAY = dt.date(2025, 3, 15)


def value(question: str) -> object:
    found = solve(question, TODAY)
    assert found is not None, question
    return found.value


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spoken, expected",
    [
        ("seven", 7),
        ("forty two", 42),
        ("one hundred forty four", 144),
        ("a hundred and five", 105),
        ("twelve hundred", 1200),
        ("two thousand twenty five", 2025),
        ("three million four hundred thousand", 3_400_000),
        ("three point one four", Fraction("3.14")),
        ("1,500", 1500),
        ("2.5 million", 2_500_000),
    ],
)
def test_number_words(spoken: str, expected: int | Fraction) -> None:
    c = Cursor(words(spoken))
    assert number(c) == expected and c.done()


def test_spell_and_format() -> None:
    assert spell(Fraction(144)) == "one hundred forty four"
    assert spell(Fraction("2.05")) == "two point zero five"
    assert fmt(Fraction(1024)) == ("1,024", True)
    assert fmt(Fraction(17, 4)) == ("4.25", True)
    assert fmt(Fraction(10, 3)) == ("3.3333", False)
    assert fmt(Fraction(1, 7000))[0] == "0.0001429"


# --- arithmetic ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, expected, sentence",
    [
        ("What is twelve times thirteen?", 156, "12 times 13 is 156."),
        ("what's 15 percent of 80", 12, "15 percent of 80 is 12."),
        ("square root of one hundred forty four", 12, "The square root of 144 is 12."),
        ("two to the power of ten", 1024, "2 to the power of 10 is 1,024."),
        ("17 divided by 4", 4.25, "17 divided by 4 is 4.25."),
        ("what is 3 plus 4 times 2", 11, "3 plus 4 times 2 is 11."),
        ("what is (3 plus 4) times 2", 14, "(3 plus 4) times 2 is 14."),
        ("what is 10 divided by 3", 10 / 3, "10 divided by 3 is about 3.3333."),
        ("calculate 2 to the third power", 8, "2 to the power of 3 is 8."),
        ("what is 5 factorial", 120, "5 factorial is 120."),
        ("the cube root of 27", 3, "The cube root of 27 is 3."),
        ("what is 0.1 plus 0.2", 0.3, "0.1 plus 0.2 is 0.3."),
        ("what is 7 minus 10", -3, "7 minus 10 is negative 3."),
        ("what does 2 plus 2 equal", 4, "2 plus 2 is 4."),
        ("what is 12 × 13", 156, "12 times 13 is 156."),
        ("how much is 15 percent of 80", 12, "12 is 15 percent of 80."),
    ],
)
def test_arithmetic(question: str, expected: float, sentence: str) -> None:
    found = solve(question, TODAY)
    assert found is not None
    assert found.value == pytest.approx(expected)
    assert found.sentence == sentence


def test_arithmetic_without_a_value_is_refused() -> None:
    for question in (
        "what is 1 divided by 0",
        "what is the square root of negative one",
        "what is 2 to the power of 100",  # too large to say
        "what is 99 factorial",
        "what is minus 3 squared",  # -9 or 9: ambiguous spoken
    ):
        assert solve(question, TODAY) is None, question


@settings(max_examples=60, deadline=None)
@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_sums_and_products_of_small_integers(a: int, b: int) -> None:
    assert value(f"what is {a} plus {b}") == a + b
    assert value(f"{a} times {b}") == a * b


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 999_999), st.integers(0, 999_999))
def test_sums_in_number_words(a: int, b: int) -> None:
    assert value(f"what is {spell(Fraction(a))} plus {spell(Fraction(b))}") == a + b


_NUMS = st.builds(calc_math.Num, st.integers(0, 10**4).map(Fraction))
_NUMS |= st.builds(calc_math.Num, st.integers(0, 10**4).map(lambda n: Fraction(n, 100)))


def _trees(children: st.SearchStrategy) -> st.SearchStrategy:
    binary = st.tuples(st.sampled_from("+-*/^"), children, children)
    unary = st.tuples(st.sampled_from(["neg", "sqrt", "cbrt", "sq", "cube", "fact"]), children)
    percent = st.tuples(st.just("%"), _NUMS, children)
    return st.one_of(binary, unary, percent).map(lambda t: calc_math.Op(t[0], tuple(t[1:])))


@settings(max_examples=200, deadline=None)
@given(st.recursive(_NUMS, _trees, max_leaves=6).filter(lambda n: isinstance(n, calc_math.Op)))
def test_rendering_parses_back(node: calc_math.Node) -> None:
    assert calc_math.parse(words(calc_math.render(node))) == node


# --- conversions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, expected, sentence",
    [
        ("what is 100 degrees celsius in fahrenheit", 212,
         "100 degrees Celsius is 212 degrees Fahrenheit."),
        ("how many degrees fahrenheit is 100 degrees celsius", 212,
         "100 degrees Celsius is 212 degrees Fahrenheit."),
        ("minus 40 celsius in fahrenheit", -40,
         "Minus 40 degrees Celsius is minus 40 degrees Fahrenheit."),
        ("what is 0 kelvin in celsius", -273.15, "0 kelvins is minus 273.15 degrees Celsius."),
        ("how many feet are there in a mile", 5280, "1 mile is 5,280 feet."),
        ("convert 5 miles to km", 8.04672, "5 miles is about 8.0467 kilometers."),
        ("5 miles is how many kilometers", 8.04672, "5 miles is about 8.0467 kilometers."),
        ("how many ounces in a pound", 16, "1 pound is 16 ounces."),
        ("what is 70 kg in pounds", 154.3236, "70 kilograms is about 154.3236 pounds."),
        ("how many liters in a gallon", 3.785411784, "1 US gallon is about 3.7854 liters."),
        ("what is 60 mph in km/h", 96.56064,
         "60 miles per hour is about 96.5606 kilometers per hour."),
        ("how many seconds in a day", 86400, "1 day is 86,400 seconds."),
        ("how many grams in 2 kilograms", 2000, "2 kilograms is two thousand grams."),
        ("what is the boiling point of water in fahrenheit", 212,
         "The boiling point of water at sea level is 212 degrees Fahrenheit."),
        ("what's the freezing point of water in celsius", 0,
         "The freezing point of water at sea level is 0 degrees Celsius."),
        ("freezing point of water in fahrenheit", 32,
         "The freezing point of water at sea level is 32 degrees Fahrenheit."),
        ("at what temperature does water boil in kelvin", 373.15,
         "The boiling point of water at sea level is 373.15 kelvins."),
    ],
)  # fmt: skip
def test_conversions(question: str, expected: float, sentence: str) -> None:
    found = solve(question, TODAY)
    assert found is not None
    assert found.value == pytest.approx(expected, rel=1e-6)
    assert found.sentence == sentence


def test_every_unit_says_its_own_name_back() -> None:
    """A canonical expression names units by their spoken labels: each must parse."""
    for unit in UNITS:
        assert unit.key(Fraction(1)) in unit.aliases and unit.key(Fraction(2)) in unit.aliases


# --- dates --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question, expected, sentence",
    [
        ("how many days until christmas", 285, "There are 285 days until Christmas."),
        ("how many days are left until new year's day", 292,
         "There are 292 days until New Year's Day."),
        ("how long until halloween", 230, "There are 230 days until Halloween."),
        ("how many days since new year's day", 73, "It has been 73 days since New Year's Day."),
        ("how many days until march 15", 0, "There are 0 days until March 15, 2025: it is today."),
        ("how many days are there between march 1 and april 15", 45,
         "There are 45 days between March 1 and April 15, 2025."),
        ("how many days between december 1 and january 15", 45,
         "There are 45 days between December 1, 2025 and January 15, 2026."),
        ("what day of the week is it", "2025-03-15", "Today is Saturday, March 15, 2025."),
        ("what's today's date", "2025-03-15", "Today is Saturday, March 15, 2025."),
        ("what year is it", 2025, "It is 2025."),
        ("what date is it in 30 days", "2025-04-14",
         "In 30 days, it will be Monday, April 14, 2025."),
        ("what is the date in 2 weeks", "2025-03-29",
         "In 2 weeks, it will be Saturday, March 29, 2025."),
        ("what date was it 10 days ago", "2025-03-05",
         "It was Wednesday, March 5, 2025, 10 days ago."),
        ("what day of the week is christmas", "Thursday", "Christmas 2025 is a Thursday."),
        ("what day of the week was july 20 1969", "Sunday", "July 20, 1969 was a Sunday."),
    ],
)  # fmt: skip
def test_dates_against_the_query_time(question: str, expected: object, sentence: str) -> None:
    found = solve(question, TODAY)
    assert found is not None
    assert (found.value, found.sentence) == (expected, sentence)


def test_query_date() -> None:
    assert query_date(QUERY_TIME) == TODAY
    assert query_date(None) == dt.date.today()
    assert query_date("sometime soon") == dt.date.today()


def test_a_date_expression_carries_its_today() -> None:
    """Another session (another day) reading the same expression gets the same answer."""
    found = solve("how many days until christmas", TODAY)
    assert found is not None and found.expression.endswith("as of march 15 2025")
    assert solve(found.expression, dt.date(2031, 1, 1)) == found


# --- refusals -----------------------------------------------------------------------------

NOT_MATH = [
    "how many moons does jupiter have",
    "what is the population of france",
    "who is the ceo of apple",
    "how tall is mount everest",
    "when was the eiffel tower built",
    "how many people live in tokyo",
    "how many times has brazil won the world cup",
    "what is seven eleven",
    "who won super bowl 50",
    "what is the power of love",
    "how many feet tall is the statue of liberty",
    "what is the boiling point of mercury",
    "what year did world war 2 end",
    "how many weeks in a year",
    "how many days until my birthday",
    "what day is christmas",
    "how many pounds is 100 dollars",
    "what is 5",
    "what is 4 times",
    "",
]


@pytest.mark.parametrize("question", NOT_MATH)
def test_non_math_questions_plan_nothing(question: str) -> None:
    assert solve(question, TODAY) is None
    assert CalculatorTool(QUERY_TIME).plan(understand(question)) is None


@pytest.mark.parametrize("question", ["what is 9/11", "what's 24/7", "what is 7-11"])
def test_slashes_and_dashes_between_digits_are_not_sums(question: str) -> None:
    assert CalculatorTool(QUERY_TIME).plan(understand(question)) is None


# --- the plugin ---------------------------------------------------------------------------


def test_spec() -> None:
    assert (SPEC.name, SPEC.match, SPEC.plan_cost, SPEC.order) == (
        "calculator",
        "exact",
        "cheap",
        5,
    )
    assert SPEC.speculative and SPEC.composes
    assert SPEC.schema()["function"]["parameters"]["required"] == ["expression"]


def test_provider_builds_one_tool_with_the_query_time() -> None:
    tools = CalculatorProvider().for_session(ToolContext(config=None, query_time=QUERY_TIME))
    assert len(tools) == 1 and isinstance(tools[0], CalculatorTool)
    assert tools[0].today == TODAY


def test_spoken_variants_share_one_key() -> None:
    tool = CalculatorTool(QUERY_TIME)
    plans = [tool.plan(understand(q)) for q in ("what is twelve times thirteen", "12 times 13")]
    assert plans[0] is not None and plans[0] == plans[1]
    assert (plans[0].tool, plans[0].query, plans[0].key) == (
        "calculator",
        "12 times 13",
        "12 times 13",
    )


async def test_plan_then_run() -> None:
    tool = CalculatorTool(QUERY_TIME)
    plan = tool.plan(understand("what's the square root of one hundred forty four"))
    assert plan is not None
    result = await tool.run(plan.query, 1.0)
    assert result.error is None and len(result.hits) == 1
    hit = result.hits[0]
    assert hit.answer and hit.snippet == "The square root of 144 is 12."
    assert result.meta == {"expression": "the square root of 144", "value": 12}


async def test_run_never_raises() -> None:
    tool = CalculatorTool(QUERY_TIME)
    for query in ("what is the population of france", "", "((((((", "1 divided by 0"):
        result = await tool.run(query, 1.0)
        assert result.error and not result.hits
    deep = "(" * 500 + "1 plus 1" + ")" * 500
    assert (await tool.run(deep, 1.0)).error


@pytest.mark.parametrize(
    "question",
    [
        "what is twelve times thirteen",
        "what's 15 percent of 80",
        "what is the square root of one hundred forty four",
        "how much is 15 percent of 80",
        "what is 100 degrees celsius in fahrenheit",
        "how many feet in a mile",
        "how many grams in 2 kilograms",
        "what is the boiling point of water in fahrenheit",
        "how many days until christmas",
        "how many days are there between march 1 and april 15",
        "what day of the week is it",
        "what year is it",
        "what date is it in 30 days",
    ],
)
async def test_the_answerer_speaks_the_calculators_sentence(question: str) -> None:
    tool = CalculatorTool(QUERY_TIME)
    plan = tool.plan(understand(question))
    assert plan is not None
    result = await tool.run(plan.query, 1.0)
    _, chosen = Answerer(None).choose(question, result.hits)
    assert chosen and chosen[0].text == result.hits[0].snippet
    assert chosen[0].confidence > 0
