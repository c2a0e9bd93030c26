"""Per-session seeded tool latencies: a session's simulated delays depend only on the config
seed, its own seed and its own call sequence, so replaying one clip alone or beside other
sessions (``streamrag eval --concurrency``) draws the same latencies."""

from __future__ import annotations

import asyncio
import dataclasses
import json

from streaming.server.toolset import ToolSet
from tools.runtime.latency import LatencyProfile, derived_seed

QUERIES = ["capital of austria", "eiffel tower height", "who wrote hamlet", "capital of peru"]


async def search_delays(toolset: ToolSet, seed: str, evidence: str | None = None) -> list[float]:
    """The service's drawn delay (ms) for each query, called in sequence by one session."""
    search = (await toolset.for_session(evidence, None, seed)).tools["search"]
    delays = []
    for q in QUERIES:
        result = await search(q, 10.0)
        assert result.error is None
        delays.append(result.meta["service_latency_ms"])
    return delays


def test_derived_seeds_are_stable_and_distinct():
    assert derived_seed(0, "clip", "kg") == derived_seed(0, "clip", "kg")
    assert len({derived_seed(0, "clip", "kg"), derived_seed(0, "clip", "search"),
                derived_seed(1, "clip", "kg"), derived_seed(0, "other", "kg")}) == 4  # fmt: skip
    assert derived_seed(0, "clip", "kg") == 18419766598009561002  # the same in every process


async def test_a_sessions_latencies_do_not_depend_on_other_sessions(engine):
    config = engine.config.replace(
        search_latency="lognormal:median=0.01,p90=0.04", kg_latency="lognormal:median=0.01,p90=0.04"
    )
    toolset = await ToolSet(dataclasses.replace(engine, config=config)).start()
    try:
        alone = await search_delays(toolset, "clip-1")
        assert len(set(alone)) == len(alone)  # real draws, not one fixed value
        # the same clip again, now beside other sessions whose calls interleave with its own
        together = await asyncio.gather(
            search_delays(toolset, "other"),
            search_delays(toolset, "clip-1"),
            search_delays(toolset, "third"),
            search_delays(toolset, "clip-1"),
        )
        assert together[1] == alone and together[3] == alone
        assert together[0] != alone and together[2] != alone
        # the knowledge graph: one RNG per session, seeded the same way
        kg_a = (await toolset.for_session(None, None, "clip-1")).tools["kg"]
        kg_b = (await toolset.for_session(None, None, "clip-1")).tools["kg"]
        kg_c = (await toolset.for_session(None, None, "other")).tools["kg"]
        assert kg_a is not kg_b
        profile = LatencyProfile.parse(config.kg_latency)
        rngs = [t.backend._rng for t in (kg_a, kg_b, kg_c)]
        draws = [[profile.sample(rng) for _ in range(3)] for rng in rngs]
        assert draws[0] == draws[1] != draws[2]
    finally:
        await toolset.close()


async def test_evidence_sessions_draw_from_their_own_seed(engine, tmp_path, docs):
    rows = [json.dumps({"id": d.id, "title": d.title, "text": d.text}) for d in docs[:20]]
    (tmp_path / "q1.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = engine.config.replace(
        evidence_dir=str(tmp_path), search_latency="lognormal:median=0.01,p90=0.04"
    )
    toolset = ToolSet(dataclasses.replace(engine, config=config))
    first = (await toolset.for_session("q1", None, "q1")).tools["search"].backend
    (await toolset.for_session("q1", None, "x")).tools["search"]  # another session between
    again = (await toolset.for_session("q1", None, "q1")).tools["search"].backend
    profile = LatencyProfile.parse(config.search_latency)
    assert [profile.sample(first._rng) for _ in range(3)] == [
        profile.sample(again._rng) for _ in range(3)
    ]
