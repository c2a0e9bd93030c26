"""The reflector (pure): which speculative calls answer the final query, alone or together,
and a lookup that answers from several calls over the real BM25 index (no models)."""

from toolkit import plugins

from streaming.events import ToolCall
from streaming.rag.lookup import Lookup
from streaming.rag.reflector import CallView, choose, covering, reflect, restrict
from tools.language.corrections import make_query, query_key
from tools.result import Hit


def view(id, tool, query, t, ok=True, done=False):
    return CallView(id, tool, query, query_key(query), t, ok, done)


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


def test_reflector_prefers_a_sufficient_result_in_hand_to_an_earlier_one_still_out():
    calls = [
        view("c1", "search", "capital australia", 1400),  # out: a slow draw
        view("c2", "search", "australia capital", 2100, done=True),
        view("c3", "search", "capital australia", 2800, done=True),
    ]
    final = "capital australia"
    assert reflect("search", final, query_key(final), calls).id == "c2"
    assert reflect("search", final, query_key(final), calls[:1]).id == "c1"  # none in hand
    top = lambda q: ("australia",) if "australia" in q else ()  # noqa: E731
    same_top = [calls[0], view("c4", "search", "australia city", 1800, done=True)]
    assert reflect("search", final, query_key(final), same_top, top).id == "c4"


def test_reflector_accepts_same_top_k_from_a_local_check():
    calls = [view("c1", "search", "australia capital city", 2000)]
    top = lambda q: ("australia",) if {"capital", "australia"} <= set(q.split()) else ()  # noqa: E731
    final = "capital australia"
    assert reflect("search", final, query_key(final), calls, top).id == "c1"
    assert reflect("search", final, query_key(final), calls, None) is None


# --- several speculative calls that together hold the final query's documents ----------------
def test_covering_keeps_the_earliest_calls_that_together_fetch_the_final_top_k():
    tops = {"oscar": ("d1", "d2", "d9"), "won": ("d3", "d8", "d7"), "actor": ("d3", "d4", "d5")}
    tops["oscar actor"] = ("d1", "d3", "d2")
    top = lambda q: tops.get(q, ())  # noqa: E731
    calls = [view("c2", "search", "actor", 1600), view("c1", "search", "oscar", 800)]
    calls += [view("c0", "search", "won", 400, ok=False)]  # failed: it may not count
    picked = covering("search", "oscar actor", calls, top)
    assert [v.id for v in picked] == ["c1", "c2"]
    assert (
        covering("search", "oscar actor", calls[1:], top) is None
    )  # d3 is missing without "actor"
    # a single call with the same top-k wins over a covering set
    same = [*calls, view("c3", "search", "actor oscar", 1200)]
    tops["actor oscar"] = tops["oscar actor"]
    assert [v.id for v in choose("search", "oscar actor", "k", same, top)] == ["c3"]
    assert choose("kg", "oscar actor", "k", same, top) == []  # the KG is matched by key only


def test_restrict_keeps_the_final_documents_in_their_order_once_each():
    from tools.corpus import Document

    hits = [Hit(Document(i, i, i), 1.0, s) for i, s in (("d2", "a"), ("d9", "b"), ("d1", "c"))]
    hits.append(Hit(Document("d2", "d2", "d2"), 1.0, "again"))
    assert [(h.doc.id, h.snippet) for h in restrict(hits, ("d1", "d3", "d2"))] == [
        ("d1", "c"),
        ("d2", "a"),
    ]
    assert restrict(hits, None) is hits


async def test_lookup_answers_from_speculative_calls_that_cover_the_final_documents(docs):
    """Real BM25 over the bundled corpus: "who won" and "who won the oscar" fetched, between
    them, the three documents the final query ranks first, so nothing is fired at the end."""
    from tools.search.bm25 import Bm25Index, LocalSearchTool

    index = Bm25Index(docs)
    top = lambda q: tuple(h.doc.id for h in index.search(q, 3))  # noqa: E731
    final = "who won the oscar for best actor at the 2025 academy awards"
    assert (
        top(make_query("who won")) != top(make_query(final)) != top(make_query("who won the oscar"))
    )
    tool, events = LocalSearchTool(index, 3), []
    lookup = Lookup(plugins({"search": tool}), events.append, "fixed-interval", top_ids=top)
    lookup.reset()
    for ms, text in ((800, "who won"), (1600, "who won the oscar")):
        lookup.on_partial(text, ms)
    outcome = await lookup.resolve(final, 4000)
    assert outcome.reused and outcome.stats["covering"] == 2
    fired = [e.query for e in events if isinstance(e, ToolCall)]
    assert fired == [make_query("who won"), make_query("who won the oscar")]
    assert [h.doc.id for h in outcome.hits] == list(top(make_query(final)))
    lookup.close()
