"""Per-session tool orchestration: executes the predictor's actions and resolves each turn.

Owns the calls: deadlines (inside each tool), cancellation, a parallelism bound, and a cache by
normalized query. At end of turn it asks the reflector for the earliest sufficient speculative
call; only when there is none does it issue the final query (and the user waits for it).

The knowledge-graph parse and the local sufficiency check are CPU work (difflib, BM25) that must
not stall the event loop every session shares, so they run in an executor. Partials still take
effect strictly in arrival order: one whose parse is not known yet queues, and so does every
partial after it, until a worker task has parsed it off the loop; then each is applied exactly as
before (same predictor, same actions, same events). ``resolve`` first waits for that queue.

Three ways to wait less (docs/decisions.md, "Fan-out, sufficiency, shared cache"):
- fan-out: a partial ending in an unfinished or unstable name ("capital of Austr") also fires
  the names it may complete to (``fanout.py``), within a per-turn budget of speculative calls;
- sufficiency: ``resolve`` returns as soon as the caller's test accepts the evidence in hand
  (a KG fact while the search is still out), with a task for the rest;
- a result store shared by sessions: a call whose result is there is answered at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from streaming.events import Event, ToolCall, ToolCancelled, ToolResultEvent, ToolReused
from streaming.rag.calls import (
    Call,
    LookupOutcome,
    ResultStore,
    Sufficient,
    Tool,
    audit_reuse,
    first_sufficient,
    hedged,
    hotwords,
    merge,
)
from streaming.rag.fanout import Completer, fanout_plans, fanout_texts, is_unstable
from streaming.rag.parses import ParseMemo
from streaming.rag.predictor import (
    Fire,
    KgParser,
    Predictor,
    apply_corrections,
    make_query,
    query_key,
    tool_plans,
)
from streaming.rag.reflector import CallView, TopIds, choose, restrict, usable
from tools.offload import off_loop
from tools.search import Hit, SearchResult

log = logging.getLogger(__name__)
__all__ = ["Call", "Lookup", "LookupOutcome", "Tool"]


class Lookup:
    _ids = itertools.count(1)

    def __init__(
        self,
        tools: dict[str, Tool],
        emit: Callable[[Event], None],
        strategy: str = "final",
        deadline_s: float = 3.0,
        kg_parse: KgParser | None = None,
        top_ids: TopIds | None = None,
        max_parallel: int = 4,
        audit: bool = False,
        cache_size: int = 256,
        executor: Executor | None = None,
        completer: Completer | None = None,
        fanout: int = 2,
        call_budget: int = 0,
        results: ResultStore | None = None,
        hedge_s: float = 0.0,
    ) -> None:
        self.tools = tools
        self.emit = emit
        self.strategy = strategy
        self.deadline_s = deadline_s
        self.kg_parse = kg_parse if "kg" in tools else None
        self.top_ids = top_ids  # our own corpus's ranking: the reflector's local check
        self.max_parallel = max_parallel
        self.audit = audit
        self.cache_size = cache_size
        self.executor = executor  # None: the process's shared pool (tools.search.cpu_executor)
        self.completer = completer if fanout > 0 and strategy != "final" else None
        self.fanout = fanout
        self.call_budget = call_budget  # speculative tool calls per turn; 0: no bound
        self.results = results
        self.hedge_s = hedge_s  # a call the answer waits for, out this long: sent again
        self._spent = self._budget_hits = 0
        # The predictor never parses itself: it reads the parse the worker already made.
        self._parses = ParseMemo(self.kg_parse, cache_size, executor) if self.kg_parse else None
        self._known_parse = self._parses.known if self._parses else None
        self.predictor = Predictor(strategy, self._known_parse)
        self.calls: list[Call] = []
        self.turn = 0
        self._pending: deque[tuple[str, int, bool]] = deque()  # partials awaiting a parse
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
        self._spent = self._budget_hits = 0
        done = [c for c in self.calls if c.state == "done"]
        self.calls = done[-self.cache_size :]

    def on_partial(self, text: str, audio_ms: int, tail: str = "") -> None:
        """Apply a partial now if nothing needs parsing, else queue it behind the parse.
        ``tail``: the ASR's unstable end of the hypothesis (its last word may still change)."""
        unstable = is_unstable(text, tail)
        if not self._pending and not self._parse_texts(text, unstable):
            self._apply(text, audio_ms, unstable)
            return
        self._pending.append((text, audio_ms, unstable))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(self.turn), name="lookup-partials")

    def _parse_texts(self, text: str, unstable: bool) -> list[str]:
        """The texts this partial will hand the KG parser (the predictor's, the fan-out's)
        whose parse is still unknown; none when nothing will be parsed (or all are memoized)."""
        if self._parses is None or self.predictor.strategy == "final" or not make_query(text):
            return []  # the predictor returns before parsing
        corrected = apply_corrections(text)
        candidates = fanout_texts(self.completer, corrected, unstable, self.fanout)
        texts = [corrected] + [t for t, _ in candidates]
        return [t for t in texts if t not in self._parses]

    def _apply(self, text: str, audio_ms: int, unstable: bool = False) -> None:
        actions = self.predictor.on_partial(text, audio_ms)
        for action in actions:
            self._execute(action)
        if any(a.tool == "search" for a in actions):  # a new query: hedge its last word
            self._fan_out(apply_corrections(text), audio_ms, unstable)

    def _fan_out(self, corrected: str, audio_ms: int, unstable: bool) -> None:
        """Fire the completions of the partial's last word, in parallel, without evicting a
        call (only into free parallel slots) and leaving budget for one more call per tool."""
        candidates = fanout_texts(self.completer, corrected, unstable, self.fanout)
        for tool, query, key, name in fanout_plans(candidates, self._known_parse):
            if tool in self.tools and query and self._cached(tool, key) is None:
                running = [c for c in self._running() if c.speculative]
                if self.call_budget and self._spent + len(self.tools) >= self.call_budget:
                    self._budget_hits += 1
                elif len(running) < self.max_parallel:
                    self._fire(tool, query, key, audio_ms, speculative=True).fanout = name

    async def _work(self, turn: int) -> None:
        """Parse queued partials off the loop, in order, applying each as soon as it is parsed."""
        while self._pending and turn == self.turn:
            text, audio_ms, unstable = self._pending[0]
            for corrected in self._parse_texts(text, unstable):
                await self._parses.off_loop(corrected)  # type: ignore[union-attr]
                if turn != self.turn:  # reset (or closed) while parsing: the turn is gone
                    return
            self._pending.popleft()
            try:
                self._apply(text, audio_ms, unstable)
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

    def _execute(self, action: Fire) -> None:
        if action.tool not in self.tools:
            return
        # A superseded call keeps running: the final may still confirm it, and it lands before
        # the call replacing it (a request sent is paid for; only the parallel bound cancels).
        if self._cached(action.tool, action.key) is not None:
            return
        if self.call_budget and self._spent >= self.call_budget:
            self._budget_hits += 1  # this turn's speculation is spent: the final query decides
            return
        running = [c for c in self._running() if c.speculative]
        if len(running) >= self.max_parallel:
            self._cancel(min(running, key=lambda c: c.audio_ms), "parallel bound")
        self._fire(action.tool, action.query, action.key, action.audio_ms, speculative=True)

    def hotwords(self, limit: int = 6) -> list[str]:
        """Names in this turn's finished results, newest first (retrieval-aware decoding)."""
        # not fan-out candidates: a name the speaker may not have said must not bias the ASR
        return hotwords([c for c in self.calls if c.turn == self.turn and not c.fanout], limit)

    def peek(self, text: str) -> list[Hit] | None:
        """Evidence already in hand for ``text`` (completed sufficient calls only), without
        firing or cancelling anything; None when any needed tool has no such result yet."""
        text = apply_corrections(text)
        query = make_query(text)
        if not query:
            return None
        kg = self._known_parse(text) if self._known_parse else None  # memoized by partials
        hits: list[Hit] = []
        for tool, tool_query, tool_key in tool_plans(text, kg, query):
            if tool not in self.tools:
                continue
            done = [c.view() for c in self.calls if c.state == "done"]
            views = choose(tool, tool_query, tool_key, done, self.top_ids)
            if not views:
                return None
            calls = self._calls_of(views)
            keep = self._keep(tool_query, calls)
            for call in calls:
                assert call.result is not None
                hits += restrict(call.result.hits, keep)
        return merge(hits)

    # --- at end of turn --------------------------------------------------------------------
    async def resolve(
        self, final_text: str, audio_ms: int, sufficient: Sufficient | None = None
    ) -> LookupOutcome:
        """The evidence for the final transcript: reused speculative calls, else fresh ones.

        Without ``sufficient`` it waits for every chosen call. With it, it returns as soon as
        ``sufficient(hits in hand, tools still out)`` says yes (or all are in); the outcome's
        ``rest`` then resolves to all the evidence, and the calls still out keep running."""
        t0 = time.perf_counter()
        await self._flush()  # the calls of every partial so far are in place, as before
        final_text = apply_corrections(final_text)
        query = make_query(final_text) or final_text
        chosen: list[Call] = []
        kg = await self._parses.off_loop(final_text) if self._parses else None
        reused_ids, keep = [], None
        for tool, tool_query, tool_key in tool_plans(final_text, kg, query):
            if tool not in self.tools:
                continue
            views = await self._choose(tool, tool_query, tool_key, [c.view() for c in self.calls])
            calls = self._calls_of(views)
            for call in calls:
                self.emit(ToolReused(call.id, call.query, tool_query))
                reused_ids.append(call.id)
            if tool == "search":
                keep = self._keep(tool_query, calls)
            if not calls:
                calls = [self._fire(tool, tool_query, tool_key, audio_ms, speculative=False)]
            for call in calls:
                call.used = True
                call.awaited.set()  # a slow request may now be hedged
            chosen += calls
        for call in self._running():
            if call not in chosen:
                self._cancel(call, "not needed at end of turn")

        async def result(call: Call) -> SearchResult:  # several calls: the final's documents only
            found = await self._result(call)
            if keep is None or call.tool != "search":
                return found
            return dataclasses.replace(found, hits=restrict(found.hits, keep))

        hits, rest = await first_sufficient(chosen, result, sufficient)
        wait_ms = (time.perf_counter() - t0) * 1000
        stats = self._stats(reused_ids)
        stats["covering"] = sum(c.tool == "search" for c in chosen) if keep else 0
        stats["early_start"] = ",".join(sorted(c.tool for c in chosen if c.result is None))
        audit = None
        if self.audit and reused_ids and "search" in self.tools:  # off the critical path
            audit = asyncio.create_task(
                audit_reuse(self.tools["search"], query, chosen, keep, self.deadline_s)
            )
        return LookupOutcome(query, hits, bool(reused_ids), wait_ms, stats, audit, rest)

    async def _choose(
        self, tool: str, query: str, key: str, views: list[CallView]
    ) -> list[CallView]:
        """The reflector's choice, in the executor when it runs the local check (BM25)."""
        ordered = usable(tool, views)
        exact = ordered and ordered[0].key == key and ordered[0].done
        if self.top_ids is None or tool != "search" or not ordered or exact:
            return choose(tool, query, key, views, None)  # decided by keys alone
        return await off_loop(choose, tool, query, key, views, self.top_ids, executor=self.executor)

    def _calls_of(self, views: list[CallView]) -> list[Call]:
        ids = {v.id for v in views}
        return [c for c in self.calls if c.id in ids]

    def _keep(self, query: str, calls: list[Call]) -> tuple[str, ...] | None:
        """When several search calls cover the final query: its top-k ids, to keep only those."""
        search = [c for c in calls if c.tool == "search"]
        return self.top_ids(query) if len(search) > 1 and self.top_ids is not None else None

    def _stats(self, reused_ids: list[str]) -> dict[str, Any]:
        turn = [c for c in self.calls if c.turn == self.turn]
        speculative = [c for c in turn if c.speculative]
        return {
            "calls": len(turn),
            "speculative_calls": len(speculative),
            "cancelled": sum(c.state == "cancelled" for c in turn),
            "wasted": sum(not c.used and c.state != "cancelled" for c in speculative),
            "reuse": ",".join(reused_ids) if reused_ids else "fresh",
            "fanout": sum(c.fanout is not None for c in turn),
            "fanout_used": sum(c.fanout is not None and c.used for c in turn),
            "budget_hits": self._budget_hits,
            "cache_hits": sum(c.cached for c in turn),
            "hedged": sum(c.hedged for c in turn),
        }

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
        shared = self.results.get(tool, self._store_key(call)) if self.results else None
        if shared is not None:  # another session's result: in hand at once, no tool wait
            call.cached = True
            self._finish(call, shared, 0.0)
            return call
        self._spent += speculative
        call.task = asyncio.create_task(self._run(call), name=f"tool-{call.id}")
        return call

    @staticmethod
    def _store_key(call: Call) -> str:
        """The shared cache's key: the normalized query; for the KG also the question's words
        (its reasoning reads the whole question, not only the entity and attribute)."""
        if call.tool == "kg":
            return f"{call.key}#{query_key(make_query(call.query))}"
        return call.key

    async def _run(self, call: Call) -> SearchResult:
        result = await hedged(self.tools[call.tool], call, self.deadline_s, self.hedge_s)
        if self.results is not None and not result.error:
            self.results.put(call.tool, self._store_key(call), result)
        return self._finish(call, result, result.elapsed_ms)

    def _finish(self, call: Call, result: SearchResult, elapsed_ms: float) -> SearchResult:
        call.result = result
        call.state = "failed" if result.error else "done"
        self.emit(
            ToolResultEvent(
                call.id,
                call.tool,
                round(elapsed_ms, 1),
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
