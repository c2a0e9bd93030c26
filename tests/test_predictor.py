"""Predictor, query generation and the lookup driven by scripted partial timelines (no models)."""

import asyncio
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import pytest
from toolkit import plugins

from streaming.events import ToolCall, ToolCancelled, ToolReused
from streaming.rag.lookup import Lookup
from streaming.rag.planner import Planner
from streaming.rag.predictor import Predictor
from tools.language.corrections import apply_corrections, make_query, query_key
from tools.result import Hit, SearchResult
from tools.runtime.latency import LatencyProfile

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


def run(strategy, timeline=TIMELINE, kg_parse=None, **kw):
    tools = plugins({"search": None, "kg": None}, kg_parse)
    specs = {name: tool.spec for name, tool in tools.items()}
    p = Predictor(strategy, Planner(tools).plans, specs, **kw)
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


def test_triggered_fires_on_meaningful_change():
    fired = run("triggered", kg_parse=kg_parse)
    search = [a for a in fired if a.tool == "search"]
    assert [(a.audio_ms, a.query) for a in search] == [
        (2100, "capital austr"),
        (2800, "capital australia"),
    ]
    kg = [a for a in fired if a.tool == "kg"]
    assert [(a.audio_ms, a.key) for a in kg] == [(2800, "australia|capital")]


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
    lookup = Lookup(
        plugins({"search": tool}), events.append, "triggered", hedge_s=0
    )  # one request per call
    lookup.reset()
    for t, text in TIMELINE:
        lookup.on_partial(text, t)
    await asyncio.sleep(0)  # let the fired tasks start
    assert tool.started == ["capital austr", "capital australia"]  # superseded, still running
    tool.gates["capital australia"].set()
    outcome = await lookup.resolve("What is the capital of Australia?", 4000)
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("ToolCall") == 2 and "ToolReused" in kinds
    assert [e.reason for e in events if isinstance(e, ToolCancelled)] == [
        "not needed at end of turn"
    ]
    assert outcome.reused and outcome.hits[0].doc.id == "capital australia"
    assert outcome.stats == outcome.stats | {
        "calls": 2,
        "speculative_calls": 2,
        "cancelled": 1,
        "wasted": 0,
        "fanout": 0,
        "budget_hits": 0,
        "cache_hits": 0,
        "early_start": "",
    }


async def test_a_superseded_call_the_final_confirms_is_reused():
    """Triggered speculation replaced "capital australia" when the user went on ("... or
    Austria"); the final went back to it, so the earlier call, already out, is the answer's."""
    tool, events = TimedTool(), []
    lookup = Lookup(
        plugins({"search": tool}), events.append, "triggered", hedge_s=0
    )  # one request per call
    lookup.reset()
    lookup.on_partial("What is the capital of Australia", 1400)
    lookup.on_partial("What is the capital of Australia or Austria", 2100)
    await asyncio.sleep(0)
    assert tool.started == ["capital australia", "capital australia austria"]
    tool.gates["capital australia"].set()
    outcome = await lookup.resolve("What is the capital of Australia?", 3000)
    assert outcome.reused and outcome.stats["calls"] == 2  # no final query was fired
    reused = next(e for e in events if isinstance(e, ToolReused))
    assert reused.query == "capital australia"
    assert [e.reason for e in events if isinstance(e, ToolCancelled)] == [
        "not needed at end of turn"
    ]


async def test_lookup_issues_the_final_query_when_speculation_was_wrong():
    tool, events = TimedTool(), []
    lookup = Lookup(plugins({"search": tool}), events.append, "fixed-interval")
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
    lookup = Lookup(plugins({"search": tool}), events.append, "fixed-interval", max_parallel=2)
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


# --- Lookup with the knowledge-graph parse and the sufficiency check off the event loop ---------
class InstantTool:
    """A tool that answers at once, one hit named after the query."""

    def __init__(self, name):
        self.name = name
        self.started: list[str] = []

    async def __call__(self, query, deadline_s=3.0):
        self.started.append(query)
        return SearchResult(query, [Hit(_doc(f"{self.name}:{query}"), 1.0, query)], 1.0)


class InlineExecutor(Executor):
    """Runs the work inside submit, on the event loop: the blocking behaviour from before."""

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def slow_kg_parse(delays, calls=None):
    """The test parser, sleeping ``delays[text]`` seconds (in whatever thread runs it)."""

    def parse(text):
        if calls is not None:
            calls.append((text, threading.current_thread().name))
        time.sleep(delays.get(text, 0.0))
        return kg_parse(text)

    return parse


def tool_events(events):
    """ToolCall / ToolCancelled / ToolReused as comparable tuples, call ids numbered per run."""
    ids: dict[str, int] = {}
    out = []
    for e in events:
        if isinstance(e, ToolCall | ToolCancelled | ToolReused):
            n = ids.setdefault(e.id, len(ids))
            if isinstance(e, ToolCall):
                out.append(("call", n, e.tool, e.query, e.speculative, e.audio_ms))
            elif isinstance(e, ToolCancelled):
                out.append(("cancelled", n, e.reason))
            else:
                out.append(("reused", n, e.query, e.final_query))
    return out


async def replay_lookup(executor, delays, timeline=TIMELINE, settle=True):
    tools = {"search": InstantTool("search"), "kg": InstantTool("kg")}
    events = []
    lookup = Lookup(plugins(tools, slow_kg_parse(delays)), events.append, "triggered",
                    executor=executor)  # fmt: skip
    lookup.reset()
    t0 = time.perf_counter()
    for t, text in timeline:
        lookup.on_partial(text, t)
    on_partial_s = time.perf_counter() - t0
    if settle:
        await lookup._flush()
    outcome = await lookup.resolve("What is the capital of Australia?", 4000)
    lookup.close()
    return events, outcome, on_partial_s


async def test_lookup_off_loop_fires_the_same_calls_in_the_same_order():
    slow = {"What is the capital of": 0.05, "What is the capital of Austr": 0.03}
    inline, inline_outcome, _ = await replay_lookup(InlineExecutor(), {})
    with ThreadPoolExecutor(2) as pool:
        events, outcome, on_partial_s = await replay_lookup(pool, slow)
    assert on_partial_s < 0.03  # the partials never waited for the 80 ms of parsing
    assert tool_events(events) == tool_events(inline)
    assert [e[2:4] for e in tool_events(events) if e[0] == "call"] == [
        ("search", "capital austr"),
        ("kg", "What is the capital of Australia?"),  # the declared order: the graph first
        ("search", "capital australia"),
    ]
    assert outcome.reused and inline_outcome.reused
    drop_ids = lambda stats: {k: v for k, v in stats.items() if k != "reuse"}  # noqa: E731
    assert drop_ids(outcome.stats) == drop_ids(inline_outcome.stats)
    assert [h.doc.id for h in outcome.hits] == [h.doc.id for h in inline_outcome.hits]


async def test_resolve_waits_for_partials_still_being_parsed():
    slow = {"What is the capital of Australia?": 0.05}
    with ThreadPoolExecutor(2) as pool:
        events, outcome, _ = await replay_lookup(pool, slow, settle=False)
    inline, _, _ = await replay_lookup(InlineExecutor(), {})
    assert tool_events(events) == tool_events(inline)  # kg call fired by the partial, reused
    assert outcome.reused and outcome.stats["reuse"].count(",") == 1  # kg and search reused


async def test_reset_drops_partials_still_being_parsed():
    tools = {"search": InstantTool("search"), "kg": InstantTool("kg")}
    events = []
    with ThreadPoolExecutor(1) as pool:
        lookup = Lookup(plugins(tools, slow_kg_parse({"capital of australia": 0.05})), events.append, "triggered", executor=pool)  # fmt: skip
        lookup.reset()
        lookup.on_partial("capital of australia", 1000)
        lookup.on_partial("capital of australia please", 1200)
        lookup.reset()  # barge-in: a new turn before the parse came back
        await asyncio.sleep(0.1)
    assert tool_events(events) == [] and not lookup.calls


async def test_kg_parse_runs_off_the_loop_once_per_text():
    calls = []
    tools = {"search": InstantTool("search"), "kg": InstantTool("kg")}
    lookup = Lookup(plugins(tools, slow_kg_parse({}, calls)), [].append, "triggered")
    lookup.reset()
    for t, text in TIMELINE:
        lookup.on_partial(text, t)
    outcome = await lookup.resolve("What is the capital of Australia?", 4000)
    texts = [text for text, _ in calls]
    assert texts == ["What is the capital of", "What is the capital of Austr",
                     "What is the capital of Australia?"]  # fmt: skip
    assert all(thread != threading.current_thread().name for _, thread in calls)
    assert outcome.reused
    assert lookup.peek("What is the capital of Australia?") is not None
    assert len(calls) == 3  # the repeated partial, resolve and peek used the memo


async def test_a_broken_kg_parser_costs_the_kg_call_not_the_session():
    def broken(text):
        raise RuntimeError("graph is gone")

    tools = {"search": InstantTool("search"), "kg": InstantTool("kg")}
    events = []
    lookup = Lookup(plugins(tools, broken), events.append, "triggered")
    lookup.reset()
    for t, text in TIMELINE:
        lookup.on_partial(text, t)
    outcome = await lookup.resolve("What is the capital of Australia?", 4000)
    assert {e[2] for e in tool_events(events) if e[0] == "call"} == {"search"}
    assert outcome.reused and outcome.hits


async def test_sufficiency_check_runs_off_the_loop_with_the_same_decision():
    threads = []

    def top(query):
        threads.append(threading.current_thread().name)
        return ("australia",) if {"capital", "australia"} <= set(query.split()) else ()

    tool, events = InstantTool("search"), []
    lookup = Lookup(plugins({"search": tool}), events.append, "fixed-interval", top_ids=top)
    lookup.reset()
    lookup.on_partial("australia capital city", 2000)
    await asyncio.sleep(0)
    outcome = await lookup.resolve("capital of australia", 3000)
    assert outcome.reused and tool.started == ["australia capital city"]
    assert threads and all(t != threading.current_thread().name for t in threads)
    # decided by keys alone (the earliest call has the final key): no check, no thread hop
    threads.clear()
    lookup.reset()
    outcome = await lookup.resolve("australia capital city", 4000)
    assert outcome.reused and threads == []


async def test_stale_speculative_call_is_not_reused_after_a_new_correction_phrasing():
    """Calls fired on "capital of austria" while the user spoke; the final says "… wait, sorry,
    I mean Australia": neither the search nor the KG call for Austria may answer it."""

    def parse(text):
        q = set(make_query(text).split())
        for country in ("austria", "australia"):
            if {"capital", country} <= q:
                return (country, "capital")
        return None

    tools = {"search": InstantTool("search"), "kg": InstantTool("kg")}
    events = []
    lookup = Lookup(plugins(tools, parse), events.append, "triggered", executor=InlineExecutor())
    lookup.reset()
    timeline = [
        (700, "What is the"),
        (1400, "What is the capital of Austria"),
        (2100, "What is the capital of Austria... wait,"),
        (2800, "What is the capital of Austria... wait, sorry, I mean"),
    ]
    for t, text in timeline:
        lookup.on_partial(text, t)
    await lookup._flush()
    await asyncio.sleep(0)  # the Austria calls complete: stale results in hand
    stale = {c.id for c in lookup.calls if "austria" in c.key.split("|") + c.key.split()}
    assert len(stale) == 2 and all(c.state == "done" for c in lookup.calls)
    outcome = await lookup.resolve(
        "What is the capital of Austria... wait, sorry, I mean Australia?", 3500
    )
    reused = {e.id for e in events if isinstance(e, ToolReused)}
    assert not reused & stale
    assert outcome.query == "capital australia" and not outcome.reused
    assert {h.doc.id for h in outcome.hits} == {"search:capital australia",
                                                 "kg:What is the capital of Australia?"}  # fmt: skip
    lookup.close()
