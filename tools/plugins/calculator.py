"""A calculator as a tool plugin: arithmetic, unit conversions and date questions, spoken.

Read-only, local and instant, so it runs while the user still speaks. It claims a question only
when the whole question parses as one of its forms ("what is twelve times thirteen", "how many
feet in a mile", "how many days until christmas"); anything else plans None, since a wrong
answer said aloud is worse than none. The plan's query is a canonical expression that parses
back to the same answer, so partials and the final question share one call; date questions
carry their "today" in it. Parsing never evaluates user text as code.
"""

from __future__ import annotations

import datetime as dt
import re
import time

from tools.language.understood import Understood
from tools.plugin import Plan, ToolContext, ToolPlugin, ToolProvider, ToolSpec, answer_hit, timed
from tools.plugins import calc_dates, calc_math, calc_units
from tools.plugins.calc_base import Solution, words
from tools.result import SearchResult

SPEC = ToolSpec(
    name="calculator",
    description='Compute spoken arithmetic ("twelve times thirteen", "15 percent of 80", '
    '"the square root of 144"), convert units (length, mass, volume, speed, time, '
    "temperature) and answer date questions (days until Christmas, the date in 30 days, the "
    "day of the week) against the question's date.",
    parameters={
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": 'The calculation in words, e.g. "12 times 13".',
            }
        },
        "required": ["expression"],
    },
    speculative=True,
    match="exact",
    composes=True,
    plan_cost="cheap",
    order=5,
)
# "9/11", "24/7", "7-11": names and dates more often than sums
_AMBIGUOUS = re.compile(r"\d[/x-]\d")
MAX_WORDS = 60  # longer is not one calculation (and keeps the parser's recursion shallow)
_QUERY_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})")


def query_date(query_time: str | None) -> dt.date:
    """The date of CRAG's "03/15/2025, 10:00:00 PT"; today when None or unreadable."""
    m = _QUERY_DATE.match(query_time or "")
    if m:
        try:
            return dt.date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
        except ValueError:
            pass
    return dt.date.today()


def solve(text: str, today: dt.date) -> Solution | None:
    """``text`` solved as a date question, a unit conversion or arithmetic; else None."""
    toks, today = calc_dates.split_as_of(words(text), today)
    if not toks or len(toks) > MAX_WORDS:
        return None
    return calc_dates.solve(toks, today) or calc_units.solve(toks) or calc_math.solve(toks)


class CalculatorTool(ToolPlugin):
    spec = SPEC

    def __init__(self, query_time: str | None = None) -> None:
        self.query_time = query_time

    @property
    def today(self) -> dt.date:
        return query_date(self.query_time)

    def plan(self, question: Understood) -> Plan | None:
        if _AMBIGUOUS.search(question.text):
            return None
        try:
            found = solve(question.text, self.today)
        except Exception:  # a parser bug: no plan, the other tools answer
            found = None
        if found is None:
            return None
        return Plan(self.name, found.expression, found.expression)

    async def run(self, query: str, deadline_s: float) -> SearchResult:
        t0 = time.perf_counter()
        try:
            found = solve(query, self.today)
        except Exception as e:  # a parser bug must not fail the turn
            return timed(query, t0, [], error=f"calculator: {type(e).__name__}: {e}")
        if found is None:
            return timed(query, t0, [], error="calculator: not a calculation")
        hit = answer_hit(self.name, found.title, found.sentence)
        return timed(query, t0, [hit], expression=found.expression, value=found.value)


class CalculatorProvider(ToolProvider):
    def for_session(self, ctx: ToolContext) -> list[ToolPlugin]:
        return [CalculatorTool(ctx.query_time)]
