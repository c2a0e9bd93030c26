"""Per-session tool orchestration: executes the predictor's actions and resolves each turn.

Owns the calls: deadlines (inside each tool), cancellation, a parallelism bound, and a cache by
normalized query. At end of turn it asks the reflector for the earliest sufficient speculative
call; only when there is none does it issue the final query (and the user waits for it).

The knowledge-graph parse and the local sufficiency check are CPU work (difflib, BM25) that must
not stall the event loop every session shares, so they run in an executor. Partials still take
effect strictly in arrival order: one whose parse is not known yet queues, and so does every
partial after it, until a worker task has parsed it off the loop; then each is applied exactly as
before (same predictor, same actions, same events). ``resolve`` first waits for that queue.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Protocol

from streaming.events import Event, ToolCall, ToolCancelled, ToolResultEvent, ToolReused
from streaming.rag.predictor import (
    CallView,
    Fire,
    KgKey,
    KgParser,
    Predictor,
    apply_corrections,
    make_query,
    query_key,
    reflect,
)
from tools.offload import off_loop
from tools.search import Hit, SearchResult
from tools.text import content_words

log = logging.getLogger(__name__)


class Tool(Protocol):
    name: str

    async def __call__(self, query: str, deadline_s: float = 3.0) -> SearchResult: ...


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

    def view(self) -> CallView:
        ok = self.state == "running" or (
            self.state == "done" and bool(self.result and self.result.hits)
        )
        return CallView(self.id, self.tool, self.query, self.key, self.audio_ms, ok)


@dataclass
class LookupOutcome:
    query: str
    hits: list[Hit]
    reused: bool
    tool_wait_ms: float
    stats: dict[str, Any] = field(default_factory=dict)
    audit: asyncio.Task | None = (
        None  # benchmarks: did the reused result differ from the final query's?
    )


class Lookup:
    _ids = itertools.count(1)

    def __init__(
        self,
        tools: dict[str, Tool],
        emit: Callable[[Event], None],
        strategy: str = "final",
        deadline_s: float = 3.0,
        kg_parse: KgParser | None = None,
        same_results: Callable[[str, str], bool] | None = None,
        max_parallel: int = 4,
        audit: bool = False,
        cache_size: int = 256,
        executor: Executor | None = None,
    ) -> None:
        self.tools = tools
        self.emit = emit
        self.strategy = strategy
        self.deadline_s = deadline_s
        self.kg_parse = kg_parse if "kg" in tools else None
        self.same_results = same_results
        self.max_parallel = max_parallel
        self.audit = audit
        self.cache_size = cache_size
        self.executor = executor  # None: the process's shared pool (tools.search.cpu_executor)
        # The predictor never parses itself: it reads the parse the worker already made.
        self.predictor = Predictor(strategy, self._known_parse if self.kg_parse else None)
        self.calls: list[Call] = []
        self.turn = 0
        self._parsed: OrderedDict[str, KgKey | None] = OrderedDict()  # corrected text -> parse
        self._pending: deque[tuple[str, int]] = deque()  # partials waiting for their parse
        self._worker: asyncio.Task | None = None

    # --- while the user speaks -------------------------------------------------------------
    def reset(self) -> None:
        """A new turn: forget the predictor's state; cancel what is still running."""
        self._drop_pending()
        for call in self.calls:
            if call.state == "running":
                self._cancel(call, "new turn")
        self.predictor.reset()
        self.turn += 1
        done = [c for c in self.calls if c.state == "done"]
        self.calls = done[-self.cache_size :]

    def on_partial(self, text: str, audio_ms: int) -> None:
        """Apply a partial now if nothing needs parsing, else queue it behind the parse."""
        if not self._pending and self._parse_text(text) is None:
            self._apply(text, audio_ms)
            return
        self._pending.append((text, audio_ms))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(self.turn), name="lookup-partials")

    def _parse_text(self, text: str) -> str | None:
        """The text the predictor will hand the KG parser for this partial, when that parse is
        still unknown; None when the predictor will not parse (or the parse is memoized)."""
        if self.kg_parse is None or self.predictor.strategy == "final" or not make_query(text):
            return None  # the predictor returns before parsing
        corrected = apply_corrections(text)
        return None if corrected in self._parsed else corrected

    def _apply(self, text: str, audio_ms: int) -> None:
        for action in self.predictor.on_partial(text, audio_ms):
            self._execute(action)

    async def _work(self, turn: int) -> None:
        """Parse queued partials off the loop, in order, applying each as soon as it is parsed."""
        while self._pending and turn == self.turn:
            text, audio_ms = self._pending[0]
            corrected = self._parse_text(text)
            if corrected is not None:
                await self._parse_off_loop(corrected)
                if turn != self.turn:  # reset (or closed) while parsing: the turn is gone
                    return
            self._pending.popleft()
            try:
                self._apply(text, audio_ms)
            except Exception:  # no caller to raise to: log it, keep the later partials going
                log.exception("applying a partial failed")

    async def _flush(self) -> None:
        """Wait until every partial received so far has been applied."""
        while (worker := self._worker) is not None and not worker.done():
            await asyncio.wait({worker})  # neither cancels the worker nor raises its errors

    def _drop_pending(self) -> None:
        self._pending.clear()
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        self._worker = None

    # --- the knowledge-graph parse, memoized, off the loop ----------------------------------
    def _remember(self, text: str, parsed: KgKey | None) -> KgKey | None:
        self._parsed[text] = parsed
        self._parsed.move_to_end(text)
        while len(self._parsed) > self.cache_size:
            self._parsed.popitem(last=False)
        return parsed

    async def _parse_off_loop(self, text: str) -> KgKey | None:
        if text in self._parsed:
            return self._parsed[text]
        assert self.kg_parse is not None
        try:
            parsed = await off_loop(self.kg_parse, text, executor=self.executor)
        except Exception:  # a broken parser costs the KG call, never the session
            log.exception("kg parse failed")
            parsed = None
        return self._remember(text, parsed)

    def _known_parse(self, text: str) -> KgKey | None:
        """The predictor's parser: the memoized parse (inline only if it is missing)."""
        if text in self._parsed:
            return self._parsed[text]
        assert self.kg_parse is not None
        return self._remember(text, self.kg_parse(text))

    def _execute(self, action: Fire) -> None:
        if action.tool not in self.tools:
            return
        if action.supersedes is not None:
            for call in self._running(action.tool):
                if call.key == action.supersedes and call.speculative:
                    self._cancel(call, "superseded")
        if self._cached(action.tool, action.key) is not None:
            return
        running = [c for c in self._running() if c.speculative]
        if len(running) >= self.max_parallel:
            self._cancel(min(running, key=lambda c: c.audio_ms), "parallel bound")
        self._fire(action.tool, action.query, action.key, action.audio_ms, speculative=True)

    def hotwords(self, limit: int = 6) -> list[str]:
        """Names in this turn's finished results, newest call first: KG entities, then hit
        titles; the final ASR decode is biased toward them (retrieval-aware decoding)."""
        names: list[str] = []
        for call in reversed([c for c in self.calls if c.turn == self.turn and c.result]):
            assert call.result is not None
            entity = call.result.meta.get("entity")
            found = [entity] if entity else []
            said = {w[:4] for w in content_words(call.query)}
            # a title only when the speech already named it, at least by a prefix ("austr"):
            # titles that merely match the question's other words ("capital" -> "Boston")
            # would pull the decode toward names nobody said
            found += [
                h.doc.title
                for h in call.result.hits[:3]
                if {w[:4] for w in content_words(h.doc.title)} & said
            ]
            names += [n for n in found if n and n not in names]
        return names[:limit]

    def peek(self, text: str) -> list[Hit] | None:
        """Evidence already in hand for ``text`` (completed sufficient calls only), without
        firing or cancelling anything; None when any needed tool has no such result yet."""
        text = apply_corrections(text)
        query = make_query(text)
        if not query:
            return None
        plans = [("search", query, query_key(query))]
        kg = self._known_parse(text) if self.kg_parse else None  # memoized by the partials
        if kg is not None:
            plans.insert(0, ("kg", text, "|".join(kg)))
        hits: list[Hit] = []
        for tool, tool_query, tool_key in plans:
            if tool not in self.tools:
                continue
            done = [c.view() for c in self.calls if c.state == "done"]
            same = self.same_results if tool == "search" else None
            view = reflect(tool, tool_query, tool_key, done, same)
            if view is None:
                return None
            call = next(c for c in self.calls if c.id == view.id)
            assert call.result is not None
            hits += call.result.hits
        return _merge(hits)

    # --- at end of turn --------------------------------------------------------------------
    async def resolve(self, final_text: str, audio_ms: int) -> LookupOutcome:
        t0 = time.perf_counter()
        await self._flush()  # the calls of every partial so far are in place, as before
        final_text = apply_corrections(final_text)
        query = make_query(final_text) or final_text
        key = query_key(query)
        chosen: list[Call] = []
        plans = [("search", query, key)]
        kg = await self._parse_off_loop(final_text) if self.kg_parse else None
        if kg is not None:
            plans.insert(0, ("kg", final_text, "|".join(kg)))
        reused_ids = []
        for tool, tool_query, tool_key in plans:
            if tool not in self.tools:
                continue
            view = await self._reflect(
                tool,
                tool_query,
                tool_key,
                [c.view() for c in self.calls],
                self.same_results if tool == "search" else None,
            )
            if view is not None:
                call = next(c for c in self.calls if c.id == view.id)
                self.emit(ToolReused(call.id, call.query, tool_query))
                reused_ids.append(call.id)
            else:
                call = self._fire(tool, tool_query, tool_key, audio_ms, speculative=False)
            call.used = True
            chosen.append(call)
        for call in self._running():
            if call not in chosen:
                self._cancel(call, "not needed at end of turn")
        results = await asyncio.gather(*(self._result(c) for c in chosen))
        wait_ms = (time.perf_counter() - t0) * 1000
        hits = _merge([h for r in results for h in r.hits])
        stats = self._stats(reused_ids)
        audit = None
        if self.audit and reused_ids and "search" in self.tools:  # off the critical path
            audit = asyncio.create_task(self._audit(query, chosen))
        return LookupOutcome(query, hits, bool(reused_ids), wait_ms, stats, audit)

    async def _reflect(
        self,
        tool: str,
        query: str,
        key: str,
        views: list[CallView],
        same: Callable[[str, str], bool] | None,
    ) -> CallView | None:
        """``reflect``, in the executor when it would run the local check (a BM25 search)."""
        ordered = sorted((v for v in views if v.tool == tool and v.ok), key=lambda v: v.audio_ms)
        if same is None or tool != "search" or not ordered or ordered[0].key == key:
            return reflect(tool, query, key, views, None)  # decided by keys alone
        return await off_loop(reflect, tool, query, key, views, same, executor=self.executor)

    def _stats(self, reused_ids: list[str]) -> dict[str, Any]:
        turn = [c for c in self.calls if c.turn == self.turn]
        speculative = [c for c in turn if c.speculative]
        return {
            "calls": len(turn),
            "speculative_calls": len(speculative),
            "cancelled": sum(c.state == "cancelled" for c in turn),
            "wasted": sum(not c.used and c.state != "cancelled" for c in speculative),
            "reuse": ",".join(reused_ids) if reused_ids else "fresh",
        }

    async def _audit(self, query: str, chosen: list[Call]) -> bool:
        """Benchmarks only: run the final query anyway; did the reused result differ?"""
        reused = next((c for c in chosen if c.tool == "search"), None)
        if reused is None or reused.result is None:
            return False
        fresh = await self.tools["search"](query, self.deadline_s)
        return [h.doc.id for h in fresh.hits] != [h.doc.id for h in reused.result.hits]

    # --- calls -----------------------------------------------------------------------------
    def _running(self, tool: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.state == "running" and (tool is None or c.tool == tool)]

    def _cached(self, tool: str, key: str) -> Call | None:
        for call in self.calls:
            if call.tool == tool and call.key == key and call.state in ("running", "done"):
                return call
        return None

    def _fire(self, tool: str, query: str, key: str, audio_ms: int, speculative: bool) -> Call:
        call = Call(f"c{next(self._ids)}", tool, query, key, audio_ms, speculative, self.turn)
        self.calls.append(call)
        self.emit(ToolCall(call.id, tool, query, speculative, audio_ms))
        call.task = asyncio.create_task(self._run(call), name=f"tool-{call.id}")
        return call

    async def _run(self, call: Call) -> SearchResult:
        result = await self.tools[call.tool](call.query, self.deadline_s)
        call.result = result
        call.state = "failed" if result.error else "done"
        self.emit(
            ToolResultEvent(
                call.id,
                call.tool,
                round(result.elapsed_ms, 1),
                [h.as_dict() for h in result.hits],
                result.error,
            )
        )
        return result

    async def _result(self, call: Call) -> SearchResult:
        if call.result is not None:
            return call.result
        assert call.task is not None
        try:
            return await asyncio.shield(call.task)
        except asyncio.CancelledError:
            if call.state == "cancelled":
                return SearchResult(call.query, [], 0.0, "cancelled")
            raise

    def _cancel(self, call: Call, reason: str) -> None:
        if call.state != "running":
            return
        call.state = "cancelled"
        if call.task is not None:
            call.task.cancel()
        self.emit(ToolCancelled(call.id, reason))

    def close(self) -> None:
        self._drop_pending()
        for call in self._running():
            self._cancel(call, "session closed")


def _merge(hits: list[Hit]) -> list[Hit]:
    """Knowledge-graph facts first (they come first in the list), no duplicate sentences."""
    seen, out = set(), []
    for hit in hits:
        key = (hit.doc.id, hit.snippet)
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out
