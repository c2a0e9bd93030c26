"""Document search as a tool plugin: any search backend (BM25 in-process, the HTTP service,
a SearxNG-style API, one question's own pages) behind one declaration.

Ranked: an earlier call covers the final question when the local ranking gives the same top
documents, and a one-word partial is not worth an early call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tools.language.understood import Understood
from tools.plugin import Plan, ToolContext, ToolPlugin, ToolProvider, ToolSpec
from tools.result import SearchResult

Backend = Callable[[str, float], Awaitable[SearchResult]]

SPEC = ToolSpec(
    name="search",
    description="Search the document collection; returns the best passages for a query.",
    match="ranked",
    fanout=True,
    order=20,
)


class SearchTool(ToolPlugin):
    spec = SPEC

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def plan(self, question: Understood) -> Plan | None:
        return Plan(self.name, question.query, question.key) if question.query else None

    async def run(self, query: str, deadline_s: float) -> SearchResult:
        return await self.backend(query, deadline_s)


class SearchProvider(ToolProvider):
    def for_session(self, ctx: ToolContext) -> list[ToolPlugin]:
        return [SearchTool(ctx.search)] if ctx.search is not None else []
