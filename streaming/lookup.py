"""Per-session tool orchestration: turns transcripts into tool calls and results.

The ``final`` strategy (the cascaded baseline) queries once, after the end of turn.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tools.search import Hit, LocalSearchTool
from tools.text import normalize_query

from .events import Event, ToolCall, ToolResultEvent


@dataclass
class LookupOutcome:
    query: str
    hits: list[Hit]
    call_id: str
    reused: bool
    tool_wait_ms: float
    stats: dict = field(default_factory=dict)


class Lookup:
    _ids = itertools.count(1)

    def __init__(
        self,
        tool: LocalSearchTool,
        emit: Callable[[Event], None],
        strategy: str = "final",
        deadline_s: float = 3.0,
    ) -> None:
        self.tool = tool
        self.emit = emit
        self.strategy = strategy
        self.deadline_s = deadline_s

    def on_partial(self, text: str, audio_ms: int) -> None:
        """Speculative strategies fire here; the baseline waits for the final transcript."""

    def reset(self) -> None:
        """Forget the current turn's speculative state."""

    async def resolve(self, final_text: str, audio_ms: int) -> LookupOutcome:
        query = normalize_query(final_text) or final_text
        call_id = f"c{next(self._ids)}"
        self.emit(ToolCall(call_id, self.tool.name, query, False, audio_ms))
        t0 = time.perf_counter()
        result = await self.tool(final_text, self.deadline_s)
        wait_ms = (time.perf_counter() - t0) * 1000
        self.emit(
            ToolResultEvent(
                call_id,
                self.tool.name,
                round(result.elapsed_ms, 1),
                [h.as_dict() for h in result.hits],
                result.error,
            )
        )
        return LookupOutcome(
            query, result.hits, call_id, False, wait_ms, {"calls": 1, "cancelled": 0, "wasted": 0}
        )
