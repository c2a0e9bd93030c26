"""The result cache shared across sessions: TTL and size bounds, scoped keys, zero tool wait for
a question asked again in another session (two Lookups; two websocket sessions)."""

import asyncio

from toolkit import plugins

from streaming.client.connection import VoiceClient
from streaming.events import ToolCall, ToolResultEvent
from streaming.rag.lookup import Lookup
from streaming.server.result_cache import ResultCache
from tools.corpus import Document
from tools.result import Hit, SearchResult


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_entries_expire_after_the_ttl_and_the_oldest_go_first():
    clock = Clock()
    cache = ResultCache(ttl_s=10, size=2, clock=clock)
    cache.put("a", 1)
    clock.now = 5
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    clock.now = 10.5
    assert cache.get("a") is None and cache.get("c") == 3  # "a" was stored at 0
    assert len(cache) == 1
    off = ResultCache(ttl_s=10, size=0)
    off.put("a", 1)
    assert off.get("a") is None


def test_scopes_keep_evidence_and_dates_apart():
    cache = ResultCache()
    cache.scoped(None, None).put("search", "capit australia", "server's")
    assert cache.scoped("q1", None).get("search", "capit australia") is None
    assert cache.scoped(None, "03/15/2025").get("search", "capit australia") is None
    assert cache.scoped(None, None).get("search", "capit australia") == "server's"


class CountingTool:
    """Latency injection: each call waits for the gate; counts the calls that reached it."""

    name = "search"

    def __init__(self):
        self.started: list[str] = []
        self.gate = asyncio.Event()

    async def __call__(self, query, deadline_s=3.0):
        self.started.append(query)
        await self.gate.wait()
        return SearchResult(query, [Hit(Document(query, query, query), 1.0, query)], 250.0)


async def test_a_question_asked_again_in_another_session_has_no_tool_wait():
    shared, tool = ResultCache().scoped(None, None), CountingTool()
    first_events, second_events = [], []
    first = Lookup(plugins({"search": tool}), first_events.append, "triggered", results=shared)
    second = Lookup(plugins({"search": tool}), second_events.append, "triggered", results=shared)
    first.reset()
    resolving = asyncio.create_task(first.resolve("What is the capital of Australia?", 3000))
    tool.gate.set()
    one = await resolving
    tool.gate.clear()  # from here on a call to the tool would never return
    second.reset()
    two = await second.resolve("what's the capital of australia", 2000)
    assert tool.started == ["capital australia"]  # one call for two sessions
    assert [h.doc.id for h in two.hits] == [h.doc.id for h in one.hits]
    results = [e for e in second_events if isinstance(e, ToolResultEvent)]
    assert [r.elapsed_ms for r in results] == [0.0]
    assert two.stats["cache_hits"] == 1 and one.stats["cache_hits"] == 0
    assert [e.speculative for e in second_events if isinstance(e, ToolCall)] == [False]


async def test_failed_results_are_not_shared():
    shared = ResultCache().scoped(None, None)

    async def broken(query, deadline_s=3.0):
        return SearchResult(query, [], 1.0, "deadline exceeded")

    broken.name = "search"
    lookup = Lookup(plugins({"search": broken}), [].append, "final", results=shared)
    await lookup.resolve("capital of australia", 1000)
    assert shared.get("search", "australia capit") is None
    assert len(shared.cache) == 0


async def test_two_websocket_sessions_share_results(engine):
    """On a server of its own: the shared one's cache holds what earlier tests asked (the KG
    key of "the capital of australia" among them), whatever the order tests run in."""
    from streaming.server.app import bound_port, start_server

    runner = await start_server(engine, "127.0.0.1", 0)
    url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
    question = "which city is the capital of australia"
    try:
        async with VoiceClient(url) as client:
            first = await client.ask_text(question)
        async with VoiceClient(url) as client:
            second = await client.ask_text(question)
    finally:
        await runner.cleanup()
    one, two = first.of("tool_result"), second.of("tool_result")
    assert one and all(r["elapsed_ms"] > 0 for r in one)  # the first paid for its calls
    assert len(two) == len(one) and all(r["elapsed_ms"] == 0 for r in two)
    by_tool = lambda rs: [(r["tool"], r["results"]) for r in sorted(rs, key=lambda r: r["tool"])]  # noqa: E731
    assert by_tool(two) == by_tool(one)  # the same results (arrival order follows latency)
    answer = lambda log: log.first("turn_metrics")["metrics"]["answer"]  # noqa: E731
    assert answer(second) == answer(first) and "Canberra" in answer(second)
