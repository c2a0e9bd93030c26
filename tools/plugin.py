"""One declaration per tool, the base class every tool implements, and what tools are built from.

A tool plugin says everything the pipeline needs to call it, early or late, without any stage
knowing its name (pipecat's ``FunctionSchema``, LiveKit's ``@function_tool``, MCP's tool
annotations; none of those run a tool before the turn ends, so ours also declares what makes an
early call safe and useful):

- ``ToolSpec``: name, description, JSON Schema arguments; ``speculative`` (read-only and
  idempotent: may run while the user still speaks); ``match`` (``exact``: an earlier call covers
  the final question only with the same key; ``ranked``: also when a local ranking gives the
  same top documents, and only a query of several words is worth an early call); ``composes``
  (its result may be a composed answer that outranks every other, so an answer found elsewhere
  waits while it is out); ``plan_cost`` (``cpu``: planning runs off the event loop, memoized);
  ``fanout``; ``order`` (plans and evidence, lowest first).
- ``ToolPlugin``: ``plan`` (a question -> the call to make, or None) and ``run`` (the call, with a
  deadline; never raises: an error is a result). Optional: ``subject`` (the entity a question is
  about, for follow-ups).
- ``ToolProvider``: builds one session's plugins from a ``ToolContext``; ``start``/``close``
  hold process-wide resources (a connection to an MCP server). ``tools/registry.py`` lists them.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tools.corpus import Document
from tools.language.understood import Understood
from tools.result import Hit, SearchResult

Match = Literal["exact", "ranked"]


@dataclass(frozen=True, eq=False)
class ToolSpec:
    """What a tool is and how the pipeline may call it."""

    name: str
    description: str
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        }
    )
    speculative: bool = True  # read-only and idempotent: may run before the turn ends
    match: Match = "exact"
    composes: bool = False  # may return a composed answer; other answers wait for it
    plan_cost: Literal["cheap", "cpu"] = "cheap"
    fanout: bool = False  # also plan for the completions of an unfinished last name
    order: int = 50  # plans and evidence: lowest first

    def schema(self) -> dict[str, Any]:
        """The OpenAI / MCP style function declaration."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": dict(self.parameters),
            },
        }


@dataclass(frozen=True)
class Plan:
    """One call a tool would make for a question."""

    tool: str
    query: str  # what the call sends
    key: str  # equal keys fetch the same result (dedupe, reuse)
    store_key: str = ""  # the cross-session result store's key; default ``key``

    @property
    def cache_key(self) -> str:
        return self.store_key or self.key


class ToolPlugin(ABC):
    """A tool the pipeline may call: declared once (``spec``), planned, run."""

    spec: ToolSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @abstractmethod
    def plan(self, question: Understood) -> Plan | None:
        """The call to make for ``question``, or None (blocking when ``plan_cost`` is cpu)."""

    @abstractmethod
    async def run(self, query: str, deadline_s: float) -> SearchResult:
        """Run one call within ``deadline_s``; errors come back in the result, never raised."""

    async def __call__(self, query: str, deadline_s: float = 3.0) -> SearchResult:
        return await self.run(query, deadline_s)

    def subject(self, text: str) -> str | None:
        """The entity ``text`` asks about, when this tool knows (blocking allowed)."""
        return None


@dataclass
class ToolContext:
    """What one session's tools are built from (the server's config and shared resources)."""

    config: Any  # the server's settings
    seed: str = ""  # the session's own latency draws
    query_time: str | None = None  # CRAG's "03/15/2025, 10:00:00 PT": dates "now"
    evidence_id: str | None = None  # CRAG Task 1: only this question's own pages
    search: Any = None  # the session's search backend (an async ``(query, deadline)`` tool)
    kg: Any = None  # the knowledge graph, when the server has one
    docs_by_id: Mapping[str, Document] = field(default_factory=dict)


class ToolProvider:
    """Builds tool plugins: process-wide ``start``/``close``, per-session ``for_session``."""

    async def start(self, config: Any) -> None:
        return None

    def for_session(self, ctx: ToolContext) -> list[ToolPlugin]:
        return []

    async def close(self) -> None:
        return None


def answer_hit(tool: str, title: str, text: str, url: str = "") -> Hit:
    """A composed answer as evidence: said as it is, ahead of every other sentence."""
    return Hit(Document(f"{tool}:answer", title, text, url), 1.0, text, answer=True)


def text_hit(tool: str, title: str, text: str, url: str = "", score: float = 1.0) -> Hit:
    """A passage a tool returned, for the reader to pick sentences from."""
    return Hit(Document(f"{tool}:{title}", title, text, url), score, text)


def timed(
    query: str, t0: float, hits: list[Hit], error: str | None = None, **meta: Any
) -> SearchResult:
    """A result stamped with the time since ``t0`` (``time.perf_counter``)."""
    return SearchResult(query, hits, (time.perf_counter() - t0) * 1000, error, dict(meta))
