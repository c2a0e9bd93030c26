"""Tool wait and answers when the answer waits for every chosen call vs. starts with the first
sufficient evidence (streaming/answer/sufficiency.py), over the demo questions.

Real knowledge graph and BM25 search over the bundled knowledge base with the default latency
profiles, one seed per question (both variants see the same draws), strategy ``final``, the
extractive answerer. Usage: python benchmarks/sufficiency.py
"""

import asyncio
import statistics
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streaming.answer.answerer import Answerer
from streaming.answer.sufficiency import evidence_suffices
from streaming.rag.lookup import Lookup
from tools.corpus import load_documents, load_questions
from tools.kg.graph import KnowledgeGraph
from tools.kg.tool import KgTool
from tools.plugins.knowledge_graph import KnowledgeGraphTool
from tools.plugins.search import SearchTool
from tools.runtime.latency import LatencyProfile
from tools.search.bm25 import Bm25Index, LocalSearchTool

docs = load_documents()
kg = KnowledgeGraph.build(docs)
index = Bm25Index(docs)
by_id = {d.id: d for d in docs}
S, K = (
    LatencyProfile.parse("lognormal:median=0.8,p90=2.0"),
    LatencyProfile.parse("lognormal:median=0.3,p90=0.8"),
)
ans = Answerer(None)


def text(q, hits):
    _, c = ans.choose(q, hits)
    return c[0].text if c else "IDK"


async def one(i, q, early):
    search = SearchTool(LocalSearchTool(index, 3, S, seed=i))
    graph = KnowledgeGraphTool(KgTool(kg, by_id, K, seed=i), kg.kg_key)
    lk = Lookup({"search": search, "kg": graph}, lambda e: None, "final", deadline_s=4.0)
    o = await lk.resolve(q, 0, partial(evidence_suffices, ans, q) if early else None)
    if o.rest:
        o.rest.cancel()
    lk.close()
    return o.tool_wait_ms, text(q, o.hits), bool(o.stats["early_start"])


async def main():
    qs = [q.query for q in load_questions()]
    res = {}
    for early in (False, True):
        out = []
        for b in range(0, len(qs), 24):
            out += await asyncio.gather(
                *(one(i, q, early) for i, q in enumerate(qs[b : b + 24], b))
            )
        res[early] = out
    for early, out in res.items():
        w = sorted(x[0] for x in out)
        print(
            "early" if early else "wait-all",
            f"P50 {w[len(w) // 2]:.0f} P90 {w[int(len(w) * 0.9)]:.0f} mean {statistics.mean(w):.0f} ms",
            "early starts",
            sum(x[2] for x in out),
        )
    print(
        "answers differing",
        sum(a[1] != b[1] for a, b in zip(res[False], res[True], strict=False)),
        "of",
        len(qs),
    )


asyncio.run(main())
