"""Stream-RAG prediction as pure logic: understood partial transcripts in, tool calls out.

Nothing here touches a model, a socket or a clock: tests drive it with scripted
``(audio_ms, text)`` timelines. ``Lookup`` executes the actions. The predictor reads only the
tools' declarations (``ToolSpec``) and the plans their planners made, never a tool's name.

- ``final``: no speculation, every call waits for the end of turn.
- ``fixed-interval``: a call at every partial whose plan changed (run in parallel, cached).
- ``triggered``: only a meaningful change: a ranked tool (text retrieval) needs at least
  ``min_words`` search words; an exact tool (a parse) fires whenever its key changes.
Neither cancels an earlier call: the final may still confirm it, and it lands first. A tool
that is not ``speculative`` (side effects) is never fired here, only at the end of turn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tools.language.understood import Understood, understand
from tools.plugin import Plan, ToolSpec


@dataclass(frozen=True)
class Fire:
    plan: Plan
    audio_ms: int

    @property
    def tool(self) -> str:
        return self.plan.tool

    @property
    def query(self) -> str:
        return self.plan.query

    @property
    def key(self) -> str:
        return self.plan.key


@dataclass
class Predictor:
    """Decides, per partial hypothesis, which tool calls to fire."""

    strategy: str = "final"
    plans: Callable[[Understood], list[Plan]] | None = None  # every tool's plan, in order
    specs: Mapping[str, ToolSpec] = field(default_factory=dict)
    min_words: int = 2
    _last: dict[str, str] = field(default_factory=dict)

    def reset(self) -> None:
        self._last.clear()

    def on_partial(self, question: Understood | str, audio_ms: int) -> list[Fire]:
        if isinstance(question, str):
            question = understand(question)
        if self.strategy == "final" or not question.query or self.plans is None:
            return []
        few = self.strategy == "triggered" and len(question.words) < self.min_words
        actions = []
        for plan in self.plans(question):
            spec = self.specs.get(plan.tool)
            if spec is None or not spec.speculative or (few and spec.match == "ranked"):
                continue
            if plan.key != self._last.get(plan.tool):
                actions.append(Fire(plan, audio_ms))
                self._last[plan.tool] = plan.key
        return actions
