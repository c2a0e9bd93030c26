"""Tools as plugins: the lookup reads declarations, a partial is understood once, and a tool
with side effects never runs before the turn ends. Scripted tools, deterministic timelines."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from toolkit import plugins

from streaming.events import ToolCall, ToolReused
from streaming.rag.lookup import Lookup
from tools.language import understood
from tools.language.understood import Understood, understand
from tools.plugin import Plan, ToolPlugin, ToolSpec, answer_hit, timed
from tools.result import SearchResult

ROOT = Path(__file__).resolve().parents[1]


class Recorder:
    """A search backend that answers at once and remembers what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def __call__(self, query: str, deadline_s: float = 3.0) -> SearchResult:
        self.asked.append(query)
        return SearchResult(query, [], 1.0)


class Booking(ToolPlugin):
    """A tool with a side effect (it books a table): planned for any question naming a table."""

    spec = ToolSpec("book_table", "Book a restaurant table.", speculative=False, order=40)

    def __init__(self) -> None:
        self.booked: list[str] = []

    def plan(self, question: Understood) -> Plan | None:
        if "table" not in question.words:
            return None
        return Plan(self.name, question.query, question.key)

    async def run(self, query: str, deadline_s: float) -> SearchResult:
        self.booked.append(query)
        return timed(query, 0.0, [answer_hit(self.name, "Booking", "Your table is booked.")])


class Tides(ToolPlugin):
    """A read-only tool keyed by harbour: any question naming a harbour plans one call."""

    spec = ToolSpec("tides", "High and low tide times for a harbour.", order=30)

    def __init__(self) -> None:
        self.calls = 0

    def plan(self, question: Understood) -> Plan | None:
        found = re.search(r"\bharbou?r (\w+)", question.text.lower())
        return Plan(self.name, found.group(1), found.group(1)) if found else None

    async def run(self, query: str, deadline_s: float) -> SearchResult:
        self.calls += 1
        return timed(query, 0.0, [answer_hit(self.name, query, f"High tide at {query} is 6 am.")])


async def settle(lookup: Lookup) -> None:
    await lookup._flush()
    await asyncio.gather(*(c.task for c in lookup.calls if c.task), return_exceptions=True)


async def test_a_partial_is_understood_once():
    tools = plugins({"search": Recorder(), "kg": Recorder()}, lambda text: None)
    lookup = Lookup(tools, [].append, "triggered", completer=None)
    before = understood.PARSES["count"]
    lookup.on_partial("which harbour has the highest tides in wales", 1200)
    assert understood.PARSES["count"] - before == 1
    heard = understand("which harbour has the highest tides in wales today")
    before = understood.PARSES["count"]
    lookup.on_partial(heard, 1900)  # the session hands over what it understood
    await lookup.resolve(heard, 2100)
    assert understood.PARSES["count"] == before  # nothing re-derived it
    lookup.close()


async def test_a_tool_with_side_effects_runs_only_after_the_turn_ends():
    booking, search = Booking(), Recorder()
    events: list = []
    tools = {"book_table": booking, **plugins({"search": search})}
    lookup = Lookup(tools, events.append, "fixed-interval")
    for ms, text in [(600, "please book a table"), (1300, "please book a table for four")]:
        lookup.on_partial(text, ms)
    await settle(lookup)
    assert booking.booked == [] and search.asked  # the read-only search did run early
    outcome = await lookup.resolve("please book a table for four", 1500)
    assert booking.booked == [outcome.query]  # once, after the end of turn
    fired = [e for e in events if isinstance(e, ToolCall) and e.tool == "book_table"]
    assert len(fired) == 1 and not fired[0].speculative
    lookup.close()


async def test_a_new_read_only_tool_is_fired_early_and_reused():
    tides = Tides()
    events: list = []
    lookup = Lookup({"tides": tides}, events.append, "triggered")
    lookup.on_partial("when is high tide at harbour", 700)
    lookup.on_partial("when is high tide at harbour dover", 1400)
    lookup.on_partial("when is high tide at harbour dover tomorrow", 2100)  # same key: no call
    await settle(lookup)
    assert tides.calls == 1
    outcome = await lookup.resolve("when is high tide at harbour dover tomorrow", 2500)
    assert outcome.reused and tides.calls == 1
    assert any(isinstance(e, ToolReused) for e in events)
    assert outcome.hits[0].snippet == "High tide at dover is 6 am."
    lookup.close()


def test_a_spec_is_an_openai_style_function_declaration():
    schema = Tides.spec.schema()
    assert schema["type"] == "function"
    assert schema["function"]["name"] == "tides"
    assert schema["function"]["parameters"]["required"] == ["query"]


def test_the_pipeline_never_branches_on_a_tool_name():
    names = re.compile(r"""["'](kg|search|calculator)["']""")
    found = [
        f"{path.relative_to(ROOT)}:{i}"
        for path in (ROOT / "streaming").rglob("*.py")
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if names.search(line)
    ]
    assert found == []
