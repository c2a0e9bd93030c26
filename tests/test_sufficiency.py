"""Sufficiency-based start: the answer starts with the first evidence that suffices for the
question, never later than today, and waits when what is in hand does not suffice.

The tools are the real knowledge graph and BM25 search over the bundled knowledge base; only
their latency is injected (each call returns when the test opens its gate)."""

import asyncio
from functools import partial

import pytest
from toolkit import plugins

from streaming.answer.answerer import Answerer
from streaming.answer.sufficiency import evidence_suffices
from streaming.rag.lookup import Lookup
from tools.kg.tool import KgTool
from tools.search.bm25 import Bm25Index, LocalSearchTool


class Gated:
    """Latency injection around a real tool: a call proceeds when its tool's gate opens."""

    def __init__(self, tool):
        self.tool, self.name = tool, tool.name
        self.gate = asyncio.Event()
        self.finished = asyncio.Event()

    async def __call__(self, query, deadline_s=3.0):
        await self.gate.wait()
        result = await self.tool(query, deadline_s)
        self.finished.set()
        return result


@pytest.fixture(scope="module")
def index(docs):
    return Bm25Index(docs)


def tools(kg, docs, index):
    return {
        "kg": Gated(KgTool(kg, {d.id: d for d in docs})),
        "search": Gated(LocalSearchTool(index, 3)),
    }


async def settle(task, rounds=20):
    """Let the loop run the ready callbacks (no clock involved)."""
    for _ in range(rounds):
        if task.done():
            return
        await asyncio.sleep(0)


def answer_text(answerer, question, hits):
    _, chosen = answerer.choose(question, hits)
    return chosen[0].text if chosen else "I don't know."


async def test_the_answer_starts_with_the_kg_fact_while_the_search_is_out(kg, docs, index):
    question = "What is the capital of Australia?"
    answerer, t = Answerer(None), tools(kg, docs, index)
    lookup = Lookup(plugins(t, kg.kg_key), [].append, "final")
    lookup.reset()
    test = partial(evidence_suffices, answerer, question)
    resolving = asyncio.create_task(lookup.resolve(question, 3000, test))
    t["kg"].gate.set()
    outcome = await resolving  # the search gate is still closed
    assert not t["search"].finished.is_set()
    assert outcome.rest is not None and outcome.stats["early_start"] == "search"
    assert {h.doc.id.split(":")[0] for h in outcome.hits} != {"search"}
    early = answer_text(answerer, question, outcome.hits)
    assert "Canberra" in early
    t["search"].gate.set()
    everything = await outcome.rest  # a late result is still there for whoever wants it
    assert len(everything) > len(outcome.hits)
    assert answer_text(answerer, question, everything) == early  # not worse than waiting


async def test_search_in_hand_waits_for_the_graph_that_may_compose_the_answer(kg, docs, index):
    question = "What is the capital of Australia?"
    answerer, t = Answerer(None), tools(kg, docs, index)
    lookup = Lookup(plugins(t, kg.kg_key), [].append, "final")
    lookup.reset()
    resolving = asyncio.create_task(
        lookup.resolve(question, 3000, partial(evidence_suffices, answerer, question))
    )
    t["search"].gate.set()
    await t["search"].finished.wait()
    await settle(resolving)
    assert not resolving.done()  # search alone would answer, but the graph is still out
    t["kg"].gate.set()
    outcome = await resolving
    assert outcome.rest is None and outcome.stats["early_start"] == ""


async def test_evidence_that_does_not_answer_waits_for_the_rest(kg, docs, index):
    # the graph parses it (the joker, played) but its facts do not answer; the search does
    question = "who played the joker in the dark knight"
    answerer, t = Answerer(None), tools(kg, docs, index)
    assert kg.kg_key(question) is not None
    lookup = Lookup(plugins(t, kg.kg_key), [].append, "final")
    lookup.reset()
    resolving = asyncio.create_task(
        lookup.resolve(question, 3000, partial(evidence_suffices, answerer, question))
    )
    t["kg"].gate.set()
    await t["kg"].finished.wait()
    await settle(resolving)
    assert not resolving.done()  # "I don't know" from what is in hand: wait for the search
    t["search"].gate.set()
    outcome = await resolving
    assert outcome.rest is None
    assert "Heath Ledger" in answer_text(answerer, question, outcome.hits)


def test_the_rule_is_the_answerers(kg, docs, index):
    """Pure: "I don't know" never suffices; a composed KG answer always; other answers wait
    for a composing tool still out (the graph) but not for others (the lookup passes only the
    composing ones)."""
    answerer = Answerer(None)
    from tools.result import Hit

    facts = [Hit(d, 1.0, d.text) for d in docs if d.title == "Australia"][:1]
    q = "What is the capital of Australia?"
    assert evidence_suffices(answerer, q, facts, frozenset())
    assert not evidence_suffices(answerer, q, facts, frozenset({"kg"}))
    assert not evidence_suffices(answerer, "Who won the 1923 chess cup?", facts, frozenset())
