"""Per-session tool orchestration: executes the predictor's actions and resolves each turn.

Owns the calls: deadlines (inside each tool), cancellation, a parallelism bound, and a cache by
normalized query. At end of turn it asks the reflector for the earliest sufficient speculative
call; only when there is none does it issue the final query (and the user waits for it).

It reads only the tools' declarations (``tools.plugin.ToolSpec``), never a tool's name. A CPU-heavy
planner (the knowledge graph's parse) and the local sufficiency check (BM25) must not stall the
event loop every session shares, so they run in an executor. Partials still take effect strictly
in arrival order: one whose plans are not known yet queues, and so does every partial after it,
until a worker task has planned it off the loop; then each is applied exactly as before (same
predictor, same actions, same events). ``resolve`` first waits for that queue.

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
from collections.abc import Callable, Mapping
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
from streaming.rag.planner import Planner
from streaming.rag.predictor import Fire, Predictor
from streaming.rag.reflector import CallView, TopIds, choose, restrict, usable
from streaming.rag.settings import ToolSettings
from tools.language.understood import Understood, understand
from tools.plugin import Plan, ToolPlugin
from tools.result import Hit, SearchResult
from tools.runtime.offload import off_loop

log = logging.getLogger(__name__)
DEFAULTS = ToolSettings()  # the server's own defaults (streaming/server/config.py reads them too)
__all__ = ["Call", "Lookup", "LookupOutcome", "Tool"]


class Lookup:
    _ids = itertools.count(1)

    def __init__(
        self,
        tools: Mapping[str, ToolPlugin],
        emit: Callable[[Event], None],
        strategy: str = DEFAULTS.strategy,
        deadline_s: float = DEFAULTS.tool_deadline_ms / 1000,
        top_ids: TopIds | None = None,
        max_parallel: int = DEFAULTS.max_parallel_calls,
        audit: bool = False,
        cache_size: int = 256,
        executor: Executor | None = None,
        completer: Completer | None = None,
        fanout: int = DEFAULTS.fanout,
        call_budget: int = DEFAULTS.call_budget,
        results: ResultStore | None = None,
        hedge_s: float = DEFAULTS.hedge_after_ms / 1000,
    ) -> None:
        self.tools = dict(tools)
        self.specs = {name: tool.spec for name, tool in self.tools.items()}
        self.emit = emit
        self.strategy = strategy
        self.deadline_s = deadline_s
        self.top_ids = top_ids  # our own corpus's ranking: the ranked tools' local check
        self.max_parallel = max_parallel
        self.audit = audit
        self.cache_size = cache_size
        self.executor = (
            executor  # None: the process's shared pool (tools.runtime.offload.cpu_executor)
        )
        self.completer = completer if fanout > 0 and strategy != "final" else None
        self.fanout = fanout
        self.call_budget = call_budget  # speculative tool calls per turn; 0: no bound
        self.results = results
        self.hedge_s = hedge_s  # a call the answer waits for, out this long: sent again
        self._spent = self._budget_hits = 0
        # The predictor never plans itself: it reads the plans the worker already made.
        self.planner = Planner(self.tools, cache_size, executor)
        self.predictor = Predictor(strategy, self.planner.plans, self.specs)
        self.calls: list[Call] = []
        self.turn = 0
        self._pending: deque[tuple[Understood, int, bool]] = deque()  # partials awaiting plans
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

    def on_partial(self, text: Understood | str, audio_ms: int, tail: str = "") -> None:
        """Apply a partial now if nothing needs planning off the loop, else queue it behind
        that. ``tail``: the ASR's unstable end of the hypothesis (its last word may change)."""
        question = text if isinstance(text, Understood) else understand(text)
        unstable = is_unstable(question.raw, tail)
        if not self._pending and not self._unplanned(question, unstable):
            self._apply(question, audio_ms, unstable)
            return
        self._pending.append((question, audio_ms, unstable))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work(self.turn), name="lookup-partials")

    def _unplanned(self, question: Understood, unstable: bool) -> list[Understood]:
        """The questions this partial will plan (its own, the fan-out's) whose costly plans are
        still unknown; none when nothing will be planned."""
        if self.predictor.strategy == "final" or not question.query:
            return []  # the predictor returns before planning
        candidates = fanout_texts(self.completer, question.text, unstable, self.fanout)
        texts = [question] + [question.rewritten(t) for t, _ in candidates]
        return [q for q in texts if not self.planner.known(q)]

    def _apply(self, question: Understood, audio_ms: int, unstable: bool = False) -> None:
        actions = self.predictor.on_partial(question, audio_ms)
        for action in actions:
            self._execute(action)
        if any(self.specs[a.tool].match == "ranked" for a in actions):  # a new query: hedge
            self._fan_out(question, audio_ms, unstable)  # its last word

    def _fan_out(self, question: Understood, audio_ms: int, unstable: bool) -> None:
        """Fire the completions of the partial's last word, in parallel, without evicting a
        call (only into free parallel slots) and leaving budget for one more call per tool."""
        candidates = fanout_texts(self.completer, question.text, unstable, self.fanout)
        for plan, name in fanout_plans(candidates, question, self.planner.plans, self.specs):
            if not self.specs[plan.tool].speculative or not plan.query:
                continue
            if self._cached(plan.tool, plan.key) is None:
                running = [c for c in self._running() if c.speculative]
                if self.call_budget and self._spent + len(self.tools) >= self.call_budget:
                    self._budget_hits += 1
                elif len(running) < self.max_parallel:
                    self._fire(plan, audio_ms, speculative=True).fanout = name

    async def _work(self, turn: int) -> None:
        """Plan queued partials off the loop, in order, applying each as soon as it is planned."""
        while self._pending and turn == self.turn:
            question, audio_ms, unstable = self._pending[0]
            for unplanned in self._unplanned(question, unstable):
                await self.planner.prepare(unplanned)
                if turn != self.turn:  # reset (or closed) while planning: the turn is gone
                    return
            self._pending.popleft()
            try:
                self._apply(question, audio_ms, unstable)
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
        self._fire(action.plan, action.audio_ms, speculative=True)

    def hotwords(self, limit: int = 6) -> list[str]:
        """Names in this turn's finished results, newest first (retrieval-aware decoding)."""
        # not fan-out candidates: a name the speaker may not have said must not bias the ASR
        return hotwords([c for c in self.calls if c.turn == self.turn and not c.fanout], limit)

    def peek(self, text: Understood | str) -> list[Hit] | None:
        """Evidence already in hand for ``text`` (completed sufficient calls only), without
        firing or cancelling anything; None when any needed tool has no such result yet."""
        question = text if isinstance(text, Understood) else understand(text)
        if not question.query:
            return None
        hits: list[Hit] = []
        for plan in self.planner.plans(question):  # costly plans memoized by the partials
            done = [c.view() for c in self.calls if c.state == "done"]
            views = choose(plan.tool, plan.query, plan.key, done, self._ranking(plan.tool))
            if not views:
                return None
            calls = self._calls_of(views)
            keep = self._keep(plan.query, calls)
            for call in calls:
                assert call.result is not None
                hits += restrict(call.result.hits, keep)
        return merge(hits)

    # --- at end of turn --------------------------------------------------------------------
    async def resolve(
        self, final: Understood | str, audio_ms: int, sufficient: Sufficient | None = None
    ) -> LookupOutcome:
        """The evidence for the final transcript: reused speculative calls, else fresh ones.

        Without ``sufficient`` it waits for every chosen call. With it, it returns as soon as
        ``sufficient(hits in hand, composing tools still out)`` says yes (or all are in); the
        outcome's ``rest`` then resolves to all the evidence, and the calls still out keep
        running."""
        t0 = time.perf_counter()
        await self._flush()  # the calls of every partial so far are in place, as before
        question = final if isinstance(final, Understood) else understand(final)
        query = question.query or question.text
        chosen: list[Call] = []
        await self.planner.prepare(question)
        reused_ids, keep, ranked = [], None, None
        for plan in self.planner.plans(question):
            views = await self._choose(plan, [c.view() for c in self.calls])
            calls = self._calls_of(views)
            for call in calls:
                self.emit(ToolReused(call.id, call.query, plan.query))
                reused_ids.append(call.id)
            if self.specs[plan.tool].match == "ranked":
                keep, ranked = self._keep(plan.query, calls), plan.tool
            if not calls:
                calls = [self._fire(plan, audio_ms, speculative=False)]
            for call in calls:
                call.used = True
                call.awaited.set()  # a slow request may now be hedged
            chosen += calls
        for call in self._running():
            if call not in chosen:
                self._cancel(call, "not needed at end of turn")

        async def result(call: Call) -> SearchResult:  # several calls: the final's documents only
            found = await self._result(call)
            if keep is None or call.tool != ranked:
                return found
            return dataclasses.replace(found, hits=restrict(found.hits, keep))

        composes = self._composes
        hits, rest = await first_sufficient(chosen, result, sufficient, composes)
        wait_ms = (time.perf_counter() - t0) * 1000
        stats = self._stats(reused_ids)
        stats["covering"] = sum(c.tool == ranked for c in chosen) if keep else 0
        stats["early_start"] = ",".join(sorted(c.tool for c in chosen if c.result is None))
        audit = None
        if self.audit and reused_ids and ranked is not None:  # off the critical path
            audit = asyncio.create_task(
                audit_reuse(self.tools[ranked], query, chosen, keep, self.deadline_s)
            )
        return LookupOutcome(query, hits, bool(reused_ids), wait_ms, stats, audit, rest)

    def _composes(self, tool: str) -> bool:
        return self.specs[tool].composes

    def _ranking(self, tool: str) -> TopIds | None:
        """The local ranking check, for a ranked tool only."""
        return self.top_ids if self.specs[tool].match == "ranked" else None

    async def subject(self, text: str) -> str | None:
        """The entity ``text`` asks about, from the first tool that can tell (off the loop)."""
        for tool in self.tools.values():
            try:
                found = await off_loop(tool.subject, text, executor=self.executor)
            except Exception:  # no entity costs a follow-up, never the turn
                log.exception("%s could not tell the subject", tool.name)
                continue
            if found:
                return found
        return None

    async def _choose(self, plan: Plan, views: list[CallView]) -> list[CallView]:
        """The reflector's choice, in the executor when it runs the local check (BM25)."""
        tool, query, key = plan.tool, plan.query, plan.key
        ordered = usable(tool, views)
        exact = ordered and ordered[0].key == key and ordered[0].done
        ranking = self._ranking(tool)
        if ranking is None or not ordered or exact:
            return choose(tool, query, key, views, None)  # decided by keys alone
        return await off_loop(choose, tool, query, key, views, ranking, executor=self.executor)

    def _calls_of(self, views: list[CallView]) -> list[Call]:
        ids = {v.id for v in views}
        return [c for c in self.calls if c.id in ids]

    def _keep(self, query: str, calls: list[Call]) -> tuple[str, ...] | None:
        """When several calls of a ranked tool cover the final query: its top-k ids, to keep
        only those."""
        ranked = [c for c in calls if self._ranking(c.tool) is not None]
        return self.top_ids(query) if len(ranked) > 1 and self.top_ids is not None else None

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

    def _fire(self, plan: Plan, audio_ms: int, speculative: bool) -> Call:
        tool, query = plan.tool, plan.query
        call = Call(f"c{next(self._ids)}", tool, query, plan.key, audio_ms, speculative, self.turn)
        call.store_key = plan.cache_key
        self.calls.append(call)
        self.emit(ToolCall(call.id, tool, query, speculative, audio_ms))
        shared = self.results.get(tool, call.store_key) if self.results else None
        if shared is not None:  # another session's result: in hand at once, no tool wait
            call.cached = True
            self._finish(call, shared, 0.0)
            return call
        self._spent += speculative
        call.task = asyncio.create_task(self._run(call), name=f"tool-{call.id}")
        return call

    async def _run(self, call: Call) -> SearchResult:
        result = await hedged(self.tools[call.tool], call, self.deadline_s, self.hedge_s)
        if self.results is not None and not result.error:
            self.results.put(call.tool, call.store_key, result)
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
