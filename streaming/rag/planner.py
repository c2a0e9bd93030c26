"""Every tool's plan for a question, in the tools' declared order.

A cheap planner runs inline. A CPU-heavy one (``ToolSpec.plan_cost == "cpu"``: the knowledge
graph's parse) must not stall the event loop every session shares: its plans are made in the
executor and memoized (LRU by the question's text), so the predictor only reads plans already
known. A planner that raises costs its tool's call, never the session.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from concurrent.futures import Executor

from tools.language.understood import Understood
from tools.plugin import Plan, ToolPlugin
from tools.runtime.offload import off_loop

log = logging.getLogger(__name__)


class Planner:
    def __init__(
        self, tools: Mapping[str, ToolPlugin], size: int = 256, executor: Executor | None = None
    ) -> None:
        ordered = sorted(tools.values(), key=lambda t: t.spec.order)
        self.cheap = [t for t in ordered if t.spec.plan_cost != "cpu"]
        self.costly = [t for t in ordered if t.spec.plan_cost == "cpu"]
        self._order = {t.name: t.spec.order for t in ordered}
        self.size, self.executor = size, executor
        self._memo: OrderedDict[str, tuple[Plan, ...]] = OrderedDict()  # text -> costly plans

    def known(self, question: Understood) -> bool:
        """True when no planning for ``question`` is left to do off the loop."""
        return not self.costly or question.text in self._memo

    async def prepare(self, question: Understood) -> None:
        """Make the costly plans of ``question`` in the executor (unless memoized)."""
        if not self.known(question):
            plans = await off_loop(_plans, self.costly, question, executor=self.executor)
            self._remember(question.text, plans)

    def plans(self, question: Understood) -> list[Plan]:
        """Every tool's plan for ``question``, lowest ``order`` first (costly plans made inline
        only if ``prepare`` did not make them)."""
        if not self.known(question):
            self._remember(question.text, _plans(self.costly, question))
        costly = self._memo.get(question.text, ())
        found = [*costly, *_plans(self.cheap, question)]
        return sorted(found, key=lambda p: self._order[p.tool])

    def _remember(self, text: str, plans: tuple[Plan, ...]) -> None:
        self._memo[text] = plans
        self._memo.move_to_end(text)
        while len(self._memo) > self.size:
            self._memo.popitem(last=False)


def _plans(tools: list[ToolPlugin], question: Understood) -> tuple[Plan, ...]:
    out = []
    for tool in tools:
        try:
            plan = tool.plan(question)
        except Exception:
            log.exception("planning a %s call failed", tool.name)
            continue
        if plan is not None:
            out.append(plan)
    return tuple(out)
