"""Predictor, reflector and query generation driven by scripted partial timelines (no models)."""

import asyncio

import pytest

from streaming.lookup import Lookup
from streaming.predictor import (
    CallView,
    Predictor,
    apply_corrections,
    make_query,
    query_key,
    reflect,
)
from tools.latency import LatencyProfile
from tools.search import Hit, SearchResult

# (audio_ms, partial hypothesis) as a streaming ASR produces them for one question
TIMELINE = [
    (700, "What is the"),
    (1400, "What is the capital of"),
    (2100, "What is the capital of Austr"),
    (2800, "What is the capital of Australia?"),
    (3500, "What is the capital of Australia?"),
]


def kg_parse(text):
    q = make_query(text).split()
    return ("australia", "capital") if "capital" in q and "australia" in q else None


def run(strategy, timeline=TIMELINE, **kw):
    p = Predictor(strategy, **kw)
    return [a for t, text in timeline for a in p.on_partial(text, t)]


def test_make_query_drops_fillers_and_applies_corrections():
    assert make_query("um so what's uh the capital of of Australia") == "capital australia"
    assert apply_corrections("What's the capital of Austria? No, Australia.") == (
        "What's the capital of Australia."
    )
    assert make_query("capital of Austria, I mean Australia") == "capital australia"
    assert make_query("which country has no army") == "country army"  # "no" alone is not a fix
    assert query_key(make_query("australia capital")) == query_key(
        make_query("capital of australia's")
    )


def test_final_strategy_never_speculates():
    assert run("final") == []


def test_fixed_interval_fires_on_every_changed_query():
    fired = run("fixed-interval")
    assert [(a.audio_ms, a.query) for a in fired] == [
        (1400, "capital"),
        (2100, "capital austr"),
        (2800, "capital australia"),
    ]
    assert all(a.supersedes is None for a in fired)


def test_triggered_fires_on_meaningful_change_and_supersedes():
    fired = run("triggered", kg_parse=kg_parse)
    search = [a for a in fired if a.tool == "search"]
    assert [(a.audio_ms, a.query) for a in search] == [
        (2100, "capital austr"),
        (2800, "capital australia"),
    ]
    assert search[1].supersedes == search[0].key
    kg = [a for a in fired if a.tool == "kg"]
    assert [(a.audio_ms, a.key) for a in kg] == [(2800, "australia|capital")]


def view(id, tool, query, t, ok=True):
    return CallView(id, tool, query, query_key(query), t, ok)


def test_reflector_keeps_the_earliest_sufficient_call():
    calls = [
        view("c3", "search", "capital australia", 2800),
        view("c1", "search", "capital", 1400),
        view("c2", "search", "capital australia", 2500),
        view("c0", "search", "capital australia", 2000, ok=False),  # cancelled or failed
    ]
    chosen = reflect("search", "capital australia", query_key("capital australia"), calls)
    assert chosen.id == "c2"
    assert reflect("search", "capital austria", query_key("capital austria"), calls) is None


def test_reflector_accepts_same_top_k_from_a_local_check():
    calls = [view("c1", "search", "australia capital city", 2000)]
    same = lambda a, b: {"capital", "australia"} <= set(a.split()) & set(b.split())  # noqa: E731
    final = "capital australia"
    assert reflect("search", final, query_key(final), calls, same).id == "c1"
    assert reflect("search", final, query_key(final), calls, None) is None


class TimedTool:
    """Fault injection: a tool whose latency the test controls with events."""

    name = "search"

    def __init__(self):
        self.started: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    async def __call__(self, query, deadline_s=3.0):
        self.started.append(query)
        gate = self.gates.setdefault(query, asyncio.Event())
        await gate.wait()
        return SearchResult(query, [Hit(_doc(query), 1.0, query)], 1.0)


def _doc(query):
    from tools.corpus import Document

    return Document(query, query, query)


async def test_lookup_reuses_speculative_call_and_cancels_the_rest():
    tool, events = TimedTool(), []
    lookup = Lookup({"search": tool}, events.append, "triggered")
    lookup.reset()
    for t, text in TIMELINE:
        lookup.on_partial(text, t)
    await asyncio.sleep(0)  # let the fired tasks start
    assert tool.started == ["capital australia"]  # the superseded call never got to run
    tool.gates["capital australia"].set()
    outcome = await lookup.resolve("What is the capital of Australia?", 4000)
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("ToolCall") == 2 and "ToolCancelled" in kinds and "ToolReused" in kinds
    assert outcome.reused and outcome.hits[0].doc.id == "capital australia"
    assert outcome.stats == {
        "calls": 2,
        "speculative_calls": 2,
        "cancelled": 1,
        "wasted": 0,
        "reuse": outcome.stats["reuse"],
    }


async def test_lookup_issues_the_final_query_when_speculation_was_wrong():
    tool, events = TimedTool(), []
    lookup = Lookup({"search": tool}, events.append, "fixed-interval")
    lookup.reset()
    lookup.on_partial("what is the capital of Austria", 1500)
    await asyncio.sleep(0)
    tool.gates["capital australia"] = asyncio.Event()
    tool.gates["capital australia"].set()
    outcome = await lookup.resolve("What's the capital of Austria? No, Australia.", 3000)
    assert outcome.query == "capital australia" and not outcome.reused
    assert outcome.hits[0].doc.id == "capital australia"
    assert outcome.stats["cancelled"] == 1 and outcome.stats["reuse"] == "fresh"


async def test_parallel_bound_cancels_the_oldest_call():
    tool, events = TimedTool(), []
    lookup = Lookup({"search": tool}, events.append, "fixed-interval", max_parallel=2)
    lookup.reset()
    for i, word in enumerate(["alpha", "beta", "gamma"]):
        lookup.on_partial(word, 1000 * (i + 1))
    running = [c.query for c in lookup.calls if c.state == "running"]
    assert running == ["beta", "gamma"]
    lookup.close()


@pytest.mark.parametrize(
    "spec,median,p90",
    [("lognormal:median=0.8,p90=2.0", 0.8, 2.0), ("fixed:0.5", 0.5, 0.5)],
)
def test_latency_profiles_have_the_stated_median_and_p90(spec, median, p90):
    import random

    profile = LatencyProfile.parse(spec)
    rng = random.Random(1)
    xs = sorted(profile.sample(rng) for _ in range(4000))
    assert abs(xs[2000] - median) < 0.05 * median + 1e-9
    assert abs(xs[3600] - p90) < 0.08 * p90 + 1e-9
    assert str(LatencyProfile.parse(str(profile))) == str(profile)
