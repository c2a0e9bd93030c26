"""The knowledge graph as an async tool: parse off the loop, simulated latency, a deadline."""

from __future__ import annotations

import asyncio
import logging
import random
import time

from .corpus import Document
from .kg import Fact, KgQuery, KnowledgeGraph
from .latency import LatencyProfile
from .offload import off_loop
from .search import Hit, SearchResult

log = logging.getLogger(__name__)


class KgTool:
    """Async knowledge-graph tool with a simulated latency and a deadline. Never raises."""

    name = "kg"

    def __init__(
        self,
        kg: KnowledgeGraph,
        docs_by_id: dict[str, Document],
        latency: LatencyProfile = LatencyProfile(),  # noqa: B008 (frozen, so safe to share)
        seed: int | None = None,
    ) -> None:
        self.kg, self.docs_by_id, self.latency = kg, docs_by_id, latency
        self._rng = random.Random(seed) if seed is not None else None

    async def _run(self, text: str) -> tuple[KgQuery | None, list[Fact]]:
        q = await off_loop(self.kg.parse, text)
        if q is None:  # nothing parsed: no request to send, so no latency either
            return None, []
        await self.latency.wait(self._rng)
        return q, self.kg.lookup(q)  # one indexed query

    async def __call__(self, query_text: str, deadline_s: float = 3.0) -> SearchResult:
        t0 = time.perf_counter()
        try:
            q, facts = await asyncio.wait_for(self._run(query_text), deadline_s)
        except TimeoutError:
            return SearchResult(
                query_text, [], (time.perf_counter() - t0) * 1000, "deadline exceeded"
            )
        except Exception as exc:  # a broken tool degrades the answer, never the session
            log.exception("kg lookup failed")
            return SearchResult(query_text, [], (time.perf_counter() - t0) * 1000, str(exc))
        hits: dict[tuple[str, str], Hit] = {}  # one hit per sentence (three founders, one line)
        for f in facts:
            src = self.docs_by_id.get(f.doc_id) or Document(f.doc_id, "", "")
            doc = Document(f.doc_id, f.entity, f.sentence, src.url, src.domain)
            hits.setdefault((f.doc_id, f.sentence), Hit(doc, 1.0, f.sentence))
        meta = {"entity": q.entity, "attribute": q.attribute} if q else {}
        elapsed = (time.perf_counter() - t0) * 1000
        return SearchResult(query_text, list(hits.values()), elapsed, None, meta)
