"""Hedged calls: a call the answer waits for that is still out after the hedge delay is sent
again, and the first good answer wins; calls nobody waits for are never hedged."""

from __future__ import annotations

import asyncio

from toolkit import plugins

from streaming.rag.calls import Call, hedged
from streaming.rag.lookup import Lookup
from tests.test_answer import INDEX
from tools.result import SearchResult


class FirstRequestHangs:
    """Fault injection: the first request never answers (until the test lets it); later ones
    answer at once from the test corpus."""

    name = "search"

    def __init__(self) -> None:
        self.requests = 0
        self.release = asyncio.Event()

    async def __call__(self, query: str, deadline_s: float = 3.0) -> SearchResult:
        self.requests += 1
        if self.requests == 1:
            await self.release.wait()
            return SearchResult(query, [], 0.0, "too late")
        return SearchResult(query, INDEX.search(query), 1.0)


def a_call(query: str = "capital of australia") -> Call:
    return Call("c1", "search", query, query, 0, False, 0)


async def test_a_slow_request_the_answer_waits_for_is_sent_again():
    tool, call = FirstRequestHangs(), a_call()
    call.awaited.set()
    result = await hedged(tool, call, deadline_s=30, hedge_s=0.01)
    assert tool.requests == 2 and call.hedged
    assert not result.error and "Canberra" in " ".join(h.snippet for h in result.hits)


async def test_a_call_nobody_waits_for_is_not_hedged_until_it_is_awaited():
    tool, call = FirstRequestHangs(), a_call()
    task = asyncio.ensure_future(hedged(tool, call, deadline_s=30, hedge_s=0.01))
    await asyncio.sleep(0.1)  # time passes (well past the hedge delay); nobody awaits it
    assert tool.requests == 1 and not call.hedged
    call.awaited.set()  # the end of turn chose it
    result = await task
    assert tool.requests == 2 and call.hedged and result.hits


async def test_hedging_off_and_fast_answers_send_one_request():
    tool, call = FirstRequestHangs(), a_call()
    tool.requests = 1  # every request answers at once
    call.awaited.set()
    assert (await hedged(tool, call, 30, hedge_s=0.0)).hits and tool.requests == 2
    assert (await hedged(tool, a_call(), 30, hedge_s=5.0)).hits and tool.requests == 3


async def test_the_end_of_turn_hedges_its_slow_call_and_reports_it():
    tool = FirstRequestHangs()
    lookup = Lookup(plugins({"search": tool}), lambda e: None, "final", deadline_s=30, hedge_s=0.01)
    outcome = await lookup.resolve("what is the capital of australia", 1000)
    assert tool.requests == 2 and outcome.stats["hedged"] == 1
    assert "Canberra" in " ".join(h.snippet for h in outcome.hits)
