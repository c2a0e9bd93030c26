"""The knowledge graph as an async tool: parse and reason off the loop, latency, a deadline.

When the reasoning (``tools.kg.reason``) establishes the answer (multi-hop, comparison,
arithmetic, a false premise), the first hit is that composed sentence with ``answer=True``; the
facts it rests on follow."""

from __future__ import annotations

import asyncio
import logging
import random
import time

from tools.corpus import Document
from tools.result import Hit, SearchResult
from tools.runtime.latency import LatencyProfile
from tools.runtime.offload import off_loop

from .base import Reasoned
from .facts import Fact, KgQuery
from .graph import KnowledgeGraph
from .reason import reason

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
        query_time: str | None = None,  # CRAG "03/15/2025, 10:00:00 PT"; None: today
    ) -> None:
        self.kg, self.docs_by_id, self.latency = kg, docs_by_id, latency
        self.query_time = query_time
        self._rng = random.Random(seed) if seed is not None else None

    def _analyse(self, text: str) -> tuple[KgQuery | None, Reasoned | None]:
        return self.kg.parse(text), reason(self.kg, text, self.query_time)

    async def _run(self, text: str) -> tuple[KgQuery | None, Reasoned | None, list[Fact]]:
        q, r = await off_loop(self._analyse, text)
        if q is None and r is None:  # nothing parsed: no request to send, so no latency either
            return None, None, []
        await self.latency.wait(self._rng)
        if r is not None:
            return q, r, list(r.facts)
        assert q is not None
        return q, None, self.kg.lookup(q)  # one indexed query

    async def __call__(self, query_text: str, deadline_s: float = 3.0) -> SearchResult:
        t0 = time.perf_counter()
        try:
            q, r, facts = await asyncio.wait_for(self._run(query_text), deadline_s)
        except TimeoutError:
            return SearchResult(
                query_text, [], (time.perf_counter() - t0) * 1000, "deadline exceeded"
            )
        except Exception as exc:  # a broken tool degrades the answer, never the session
            log.exception("kg lookup failed")
            return SearchResult(query_text, [], (time.perf_counter() - t0) * 1000, str(exc))
        hits: dict[tuple[str, str], Hit] = {}  # one hit per sentence (three founders, one line)
        if r is not None and facts:
            src = self.docs_by_id.get(facts[0].doc_id) or Document(facts[0].doc_id, "", "")
            doc = Document(f"kg:{r.kind}", facts[0].entity, r.text, src.url, src.domain)
            hits[(doc.id, r.text)] = Hit(doc, 1.0, r.text, answer=True)
        for f in facts:
            src = self.docs_by_id.get(f.doc_id) or Document(f.doc_id, "", "")
            doc = Document(f.doc_id, f.entity, f.sentence, src.url, src.domain)
            hits.setdefault((f.doc_id, f.sentence), Hit(doc, 1.0, f.sentence))
        meta = {"entity": q.entity, "attribute": q.attribute} if q else {}
        if r is not None:
            meta |= {"reasoning": r.kind, "entities": list(r.entities)}
        elapsed = (time.perf_counter() - t0) * 1000
        return SearchResult(query_text, list(hits.values()), elapsed, None, meta)
