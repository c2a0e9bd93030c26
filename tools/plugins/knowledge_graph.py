"""The knowledge graph as a tool plugin: facts, and answers composed by reasoning over them.

Exact: an earlier call covers the final question only with the same entity and attribute.
It composes: a composed answer outranks every other, so the answer waits while it is out.
Planning parses the question against the graph's names (CPU work: run off the loop).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tools.kg.tool import KgTool
from tools.language.understood import Understood
from tools.plugin import Plan, ToolContext, ToolPlugin, ToolProvider, ToolSpec
from tools.result import SearchResult
from tools.runtime.latency import LatencyProfile, derived_seed

KgParse = Callable[[str], "tuple[str, ...] | None"]
Backend = Callable[[str, float], Awaitable[SearchResult]]

SPEC = ToolSpec(
    name="kg",
    description="Look up facts about an entity and reason over them (two hops, comparisons, "
    "ages and spans, counts, false premises).",
    parameters={
        "type": "object",
        "properties": {"question": {"type": "string"}},
        "required": ["question"],
    },
    composes=True,
    plan_cost="cpu",
    fanout=True,
    order=10,
)


class KnowledgeGraphTool(ToolPlugin):
    spec = SPEC

    def __init__(
        self, backend: Backend, parse: KgParse, subject: Callable[[str], str | None] | None = None
    ) -> None:
        self.backend, self.parse, self._subject = backend, parse, subject

    def plan(self, question: Understood) -> Plan | None:
        parsed = self.parse(question.text)
        if parsed is None:
            return None
        key = "|".join(parsed)
        # its reasoning reads the whole question, so results are shared by key and words
        return Plan(self.name, question.text, key, f"{key}#{question.key}")

    async def run(self, query: str, deadline_s: float) -> SearchResult:
        return await self.backend(query, deadline_s)

    def subject(self, text: str) -> str | None:
        return self._subject(text) if self._subject is not None else None


def _entity(kg) -> Callable[[str], str | None]:  # type: ignore[no-untyped-def]
    def subject(text: str) -> str | None:
        parsed = kg.parse(text)
        return parsed.entity if parsed is not None else None

    return subject


class KnowledgeGraphProvider(ToolProvider):
    def for_session(self, ctx: ToolContext) -> list[ToolPlugin]:
        if ctx.kg is None or ctx.evidence_id:  # Task 1 sessions read their own pages only
            return []
        cfg = ctx.config
        backend = KgTool(
            ctx.kg,
            dict(ctx.docs_by_id),
            LatencyProfile.parse(cfg.kg_latency),
            derived_seed(cfg.seed, ctx.seed, "kg"),
            ctx.query_time,
        )
        return [KnowledgeGraphTool(backend, ctx.kg.kg_key, _entity(ctx.kg))]
