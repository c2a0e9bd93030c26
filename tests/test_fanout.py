"""Speculative fan-out: an unfinished or unstable last word fires its completions, in parallel,
under a per-turn call budget; the final confirms one (timeline tests, latency-gated tools)."""

import asyncio

from toolkit import plugins

from streaming.events import ToolCall, ToolCancelled, ToolReused
from streaming.rag.fanout import Completer, fanout_plans, fanout_texts, is_unstable
from streaming.rag.lookup import Lookup
from streaming.rag.planner import Planner
from tools.language.corrections import make_query
from tools.language.understood import understand
from tools.result import Hit, SearchResult

NAMES = [
    "Australia",
    "Austria",
    "Australian Open",
    "Apple Inc.",
    "Eiffel Tower",
    "Amazon (company)",
]
TIMELINE = [
    (700, "What is the"),
    (1400, "What is the capital of"),
    (2100, "What is the capital of Austr"),
    (2800, "What is the capital of Australia?"),
]


def kg_parse(text):
    q = make_query(text).split()
    for place in ("australia", "austria"):
        if "capital" in q and place in q:
            return (place, "capital")
    return None


class GatedTool:
    """Latency injection: each query's call returns when the test opens its gate."""

    def __init__(self, name):
        self.name = name
        self.started: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    def open(self, query):
        self.gates.setdefault(query, asyncio.Event()).set()

    async def __call__(self, query, deadline_s=3.0):
        self.started.append(query)
        await self.gates.setdefault(query, asyncio.Event()).wait()
        from tools.corpus import Document

        return SearchResult(
            query, [Hit(Document(f"{self.name}:{query}", query, query), 1, query)], 1
        )


def test_completer_proposes_the_names_a_word_being_said_begins():
    c = Completer(NAMES)
    assert [t for t, _ in fanout_texts(c, "What is the capital of Austr", limit=3)] == [
        "What is the capital of Austria",
        "What is the capital of Australia",
        "What is the capital of Australian Open",
    ]
    assert fanout_texts(c, "who is the ceo of app") == [("who is the ceo of Apple", "Apple")]
    assert fanout_texts(c, "how tall is the eiffel")[0][1] == "Eiffel Tower"  # begins a name
    assert fanout_texts(c, "What is the capital of Austria") == []  # a name already
    assert fanout_texts(c, "what is the") == []  # a function word completes to nothing
    # an unstable name has close alternatives; a stable one does not
    assert fanout_texts(c, "capital of Austria", unstable=True) == [
        ("capital of Australia", "Australia")
    ]
    assert is_unstable("capital of Austria", "of Austria") and not is_unstable("of Austria", "")
    assert fanout_texts(None, "What is the capital of Austr") == []  # fan-out off


def test_fanout_plans_put_every_known_graph_lookup_before_the_searches():
    candidates = [("capital of Austria", "Austria"), ("capital of Australia", "Australia")]
    parses = {"capital of Australia": ("Australia", "capital")}  # only one parse is known yet
    tools = plugins({"search": None, "kg": None}, parses.get)
    specs = {name: tool.spec for name, tool in tools.items()}
    question = understand("capital of Austr")
    plans = fanout_plans(candidates, question, Planner(tools).plans, specs)
    assert [(plan.tool, name) for plan, name in plans] == [
        ("kg", "Australia"),
        ("search", "Austria"),
        ("search", "Australia"),
    ]
    assert plans[0][0].key == "Australia|capital"
    assert plans[1][0].query == make_query("capital of Austria")
    search_only = {"search": tools["search"]}
    found = fanout_plans(candidates, question, Planner(search_only).plans, specs)
    assert [plan.tool for plan, _ in found] == ["search", "search"]


async def test_fanout_fires_the_candidates_and_the_final_confirms_one():
    search, kg = GatedTool("search"), GatedTool("kg")
    events = []
    lookup = Lookup(plugins({"search": search, "kg": kg}, kg_parse), events.append, "triggered", completer=Completer(NAMES), fanout=2,
                    max_parallel=5)  # fmt: skip
    lookup.reset()
    for t, text in TIMELINE[:3]:
        lookup.on_partial(text, t)
    await lookup._flush()
    calls = [e for e in events if isinstance(e, ToolCall)]
    # the partial's own query, then both completions: the graph first, then the search
    assert [(c.tool, c.query, c.audio_ms) for c in calls] == [
        ("search", "capital austr", 2100),
        ("kg", "What is the capital of Austria", 2100),
        ("kg", "What is the capital of Australia", 2100),
        ("search", "capital austria", 2100),
        ("search", "capital australia", 2100),
    ]
    assert {c.fanout for c in lookup.calls} == {None, "Austria", "Australia"}
    lookup.on_partial(*TIMELINE[3][::-1])  # "Australia?": its calls are in flight already
    await lookup._flush()
    assert len([e for e in events if isinstance(e, ToolCall)]) == 5
    search.open("capital australia")
    kg.open("What is the capital of Australia")
    outcome = await lookup.resolve("What is the capital of Australia?", 3500)
    reused = {e.query for e in events if isinstance(e, ToolReused)}
    assert reused == {"capital australia", "What is the capital of Australia"}
    cancelled = {e.id for e in events if isinstance(e, ToolCancelled)}
    austria = {c.id for c in lookup.calls if c.fanout == "Austria"}
    assert austria <= cancelled  # the candidate the final did not confirm
    assert [h.doc.id for h in outcome.hits] == ["kg:What is the capital of Australia",
                                                "search:capital australia"]  # fmt: skip
    assert outcome.stats["fanout"] == 4 and outcome.stats["fanout_used"] == 2
    assert outcome.tool_wait_ms >= 0 and outcome.reused


async def test_the_call_budget_caps_speculative_calls_and_reports_the_hits():
    search = GatedTool("search")
    events = []
    lookup = Lookup(plugins({"search": search}), events.append, "fixed-interval", call_budget=3,
                    completer=Completer(NAMES), max_parallel=8)  # fmt: skip
    lookup.reset()
    words = "alpha beta gamma delta epsilon zeta".split()
    for i in range(len(words)):
        lookup.on_partial(" ".join(words[: i + 1]), 700 * (i + 1))
    speculative = [e for e in events if isinstance(e, ToolCall) and e.speculative]
    assert [e.query for e in speculative] == ["alpha", "alpha beta", "alpha beta gamma"]
    search.open("alpha beta gamma delta epsilon zeta")
    outcome = await lookup.resolve("alpha beta gamma delta epsilon zeta", 5000)
    assert outcome.stats["budget_hits"] == 3
    assert outcome.stats["speculative_calls"] == 3 and outcome.stats["calls"] == 4
    lookup.close()


async def test_fanout_leaves_budget_for_the_next_partial_and_never_evicts():
    search = GatedTool("search")
    events = []
    lookup = Lookup(plugins({"search": search}), events.append, "triggered", call_budget=3,
                    completer=Completer(NAMES), fanout=2, max_parallel=4)  # fmt: skip
    lookup.reset()
    lookup.on_partial("What is the capital of Austr", 2100)
    # own query (1) + one completion: the last unit of budget stays for the next query
    assert [c.fanout for c in lookup.calls] == [None, "Austria"]
    lookup.on_partial("What is the capital of Australia", 2800)
    assert [c.query for c in lookup.calls][-1] == "capital australia"
    assert lookup._budget_hits == 1
    full = Lookup(plugins({"search": search}), [].append, "triggered", completer=Completer(NAMES),
                  fanout=2, max_parallel=1)  # fmt: skip
    full.reset()
    full.on_partial("What is the capital of Austr", 2100)
    assert [c.fanout for c in full.calls] == [None]  # no free slot: no candidate evicts it
    lookup.close()
    full.close()
