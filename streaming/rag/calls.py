"""What a lookup works with: a tool, one call and its state, a turn's outcome, merged evidence.

``first_sufficient`` is the answer's start rule: of a turn's chosen calls, the results
in hand as soon as a caller's test says they suffice (or all of them), and a task for the rest.
``hedged`` is the tail-latency rule: a call the answer waits for that is still out after
``hedge_s`` is sent a second time, and whichever request answers first (without error) wins.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from streaming.rag.reflector import CallView, restrict
from tools.language.text import content_words
from tools.result import Hit, SearchResult

log = logging.getLogger(__name__)
# the answer's test: do these hits suffice, while the composing tools named are still out?
Sufficient = Callable[[list[Hit], frozenset[str]], bool]


class Tool(Protocol):
    """What a call runs (``tools.plugin.ToolPlugin`` is one)."""

    @property
    def name(self) -> str: ...

    async def __call__(self, query: str, deadline_s: float = 3.0) -> SearchResult: ...


class ResultStore(Protocol):
    """Finished results shared across sessions (``streaming.server.result_cache.ScopedResults``)."""

    def get(self, tool: str, key: str) -> SearchResult | None: ...

    def put(self, tool: str, key: str, value: SearchResult) -> None: ...


@dataclass
class Call:
    id: str
    tool: str
    query: str
    key: str
    audio_ms: int
    speculative: bool
    turn: int
    task: asyncio.Task | None = None
    result: SearchResult | None = None
    state: str = "running"  # running | done | failed | cancelled
    used: bool = False
    fanout: str | None = None  # the completed name, for a fan-out candidate
    cached: bool = False  # answered from the shared result cache
    awaited: asyncio.Event = field(default_factory=asyncio.Event)  # the answer waits for it
    hedged: bool = False  # a second request was sent (``hedged``)
    store_key: str = ""  # the shared result store's key (``Plan.cache_key``)

    def view(self) -> CallView:
        ok = self.state == "running" or (
            self.state == "done" and bool(self.result and self.result.hits)
        )
        done = self.state == "done"
        return CallView(self.id, self.tool, self.query, self.key, self.audio_ms, ok, done)


@dataclass
class LookupOutcome:
    query: str
    hits: list[Hit]  # the evidence the answer starts with
    reused: bool
    tool_wait_ms: float  # from the final transcript until the answer could start
    stats: dict[str, Any] = field(default_factory=dict)
    audit: asyncio.Task | None = (
        None  # benchmarks: did the reused result differ from the final query's?
    )
    # when the answer started before every chosen call finished: all the evidence, later
    rest: asyncio.Task[list[Hit]] | None = None


def merge(hits: list[Hit]) -> list[Hit]:
    """Knowledge-graph facts first (they come first in the list), no duplicate sentences."""
    seen, out = set(), []
    for hit in hits:
        key = (hit.doc.id, hit.snippet)
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out


def hotwords(calls: list[Call], limit: int = 6) -> list[str]:
    """Names in this turn's finished results, newest call first: the entities tools named,
    then hit titles; the final ASR decode is biased toward them (retrieval-aware decoding)."""
    entities: list[str] = []
    titles: list[str] = []
    for call in reversed([c for c in calls if c.result]):
        assert call.result is not None
        entity = call.result.meta.get("entity")
        if entity:
            entities.append(entity)
        said = {w[:4] for w in content_words(call.query)}
        # a title only when the speech already named it, at least by a prefix ("austr"):
        # titles that merely match the question's other words ("capital" -> "Boston")
        # would pull the decode toward names nobody said
        titles += [
            h.doc.title
            for h in call.result.hits[:3]
            if {w[:4] for w in content_words(h.doc.title)} & said
        ]
    return list(dict.fromkeys(n for n in entities + titles if n))[:limit]


async def first_sufficient(
    chosen: list[Call],
    result: Callable[[Call], Awaitable[SearchResult]],
    sufficient: Sufficient | None,
    composes: Callable[[str], bool] = lambda tool: True,
) -> tuple[list[Hit], asyncio.Task[list[Hit]] | None]:
    """The evidence of ``chosen`` (in their order) once ``sufficient`` accepts what is in hand
    (told which of the tools still out may compose an answer), or once all are in; with a task
    for all of it when some calls were still out."""
    waits = {c.id: asyncio.ensure_future(result(c)) for c in chosen}

    def in_hand() -> list[Hit]:
        done = [waits[c.id] for c in chosen if waits[c.id].done()]
        return merge([h for w in done if not w.cancelled() for h in w.result().hits])

    while True:
        out = {c.tool for c in chosen if not waits[c.id].done()}
        if not out:
            return in_hand(), None
        hits = in_hand()
        pending = frozenset(t for t in out if composes(t))
        if sufficient is not None and hits and _accepts(sufficient, hits, pending):
            return hits, asyncio.create_task(_all(chosen, waits), name="lookup-rest")
        try:
            await asyncio.wait([w for w in waits.values() if not w.done()],
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        except asyncio.CancelledError:
            for w in waits.values():
                w.cancel()  # the awaiting wrappers only: the calls are shielded
            raise


def _accepts(sufficient: Sufficient, hits: list[Hit], out: frozenset[str]) -> bool:
    try:
        return bool(sufficient(hits, out))
    except Exception:  # a broken test costs the early start, never the answer
        log.exception("sufficiency test failed")
        return False


async def _all(chosen: list[Call], waits: dict[str, asyncio.Future[SearchResult]]) -> list[Hit]:
    results = await asyncio.gather(*(waits[c.id] for c in chosen))
    return merge([h for r in results for h in r.hits])


async def hedged(tool: Tool, call: Call, deadline_s: float, hedge_s: float) -> SearchResult:
    """``tool(call.query)``; once the answer waits for it (``call.awaited``) and it is still out
    ``hedge_s`` after it was sent, a second request races it within the same deadline (a tool's
    slow answers are mostly one slow request: "The Tail at Scale", Dean and Barroso)."""
    if hedge_s <= 0:
        return await tool(call.query, deadline_s)
    t0 = time.perf_counter()
    first = asyncio.ensure_future(tool(call.query, deadline_s))
    tasks = [first, asyncio.ensure_future(call.awaited.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if not first.done():
            await asyncio.wait([first], timeout=max(0.0, t0 + hedge_s - time.perf_counter()))
        left = deadline_s - (time.perf_counter() - t0)
        if first.done() or left <= 0:
            return await first
        call.hedged = True
        tasks.append(asyncio.ensure_future(tool(call.query, left)))
        racers = {first, tasks[-1]}
        while True:
            done, racers = await asyncio.wait(racers, return_when=asyncio.FIRST_COMPLETED)
            result = next(iter(done)).result()
            if not result.error or not racers:  # the first good answer, else the last one
                elapsed = (time.perf_counter() - t0) * 1000
                return SearchResult(result.query, result.hits, elapsed, result.error, result.meta)
    finally:
        for task in tasks:
            task.cancel()


async def audit_reuse(
    search: Tool, query: str, chosen: list[Call], keep: tuple[str, ...] | None, deadline_s: float
) -> bool:
    """Benchmarks only: run the final query anyway; did the reused documents differ?"""
    reused = [c.result for c in chosen if c.tool == search.name]
    if not reused or any(r is None for r in reused):
        return False
    used = [h.doc.id for r in reused if r is not None for h in restrict(r.hits, keep)]
    fresh = await search(query, deadline_s)
    ids = [h.doc.id for h in fresh.hits]
    return set(ids) != set(used) if keep else ids != used  # several calls: any order
