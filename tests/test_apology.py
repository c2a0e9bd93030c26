"""Every tool down (the search service refusing, the knowledge graph raising): the turn still
ends within the tool deadline plus a second, with ``turn_metrics``, and the answer is a short
spoken apology (``answer_source`` "tools_down"), not "I don't know"; once the tools are back,
the same session answers the next question from them."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from aiohttp import web

from benchmarks.faults import (
    DEADLINE_MS,
    HANG_S,
    QUESTION,
    SECOND,
    TOOLS_DOWN,
    Peer,
    ask,
    run_fault,
    serve_peer,
    with_config,
)
from streaming.answer.answerer import TOOLS_DOWN as APOLOGY
from streaming.client.connection import VoiceClient
from streaming.server.app import bound_port, start_server

SLACK_S = 3.0  # a busy 2-core box (as tests/test_faults.py)
BOUND_S = DEADLINE_MS / 1000 + 1.0 + SLACK_S


class Switch:
    down = True


class SwitchedKg:
    """The real knowledge graph, whose queries raise while the switch is down (its names and
    key still answer, so the KG tool is really called, as in benchmarks.faults.RaisingKg)."""

    def __init__(self, kg: Any, switch: Switch) -> None:
        self._kg, self._switch = kg, switch

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._kg, name)
        if not self._switch.down or not callable(attr):
            return attr
        if name in ("kg_key", "attribute_names", "entity_names"):
            return attr

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"kg.{name}: database is locked")

        return broken


def search_service(engine: Any, switch: Switch):
    """A web search API over the real index that answers 503 while the switch is down."""

    async def handler(request: web.Request, peer: Peer) -> web.Response:
        if switch.down:
            return web.json_response({"error": "unavailable"}, status=503)
        hits = engine.index.search(request.query.get("q", ""), int(request.query.get("k", "3")))
        return web.json_response(
            {"query": request.query.get("q"), "results": [h.as_dict() for h in hits]}
        )

    return handler


def _answer(log: Any) -> str:
    return "".join(e["text"] for e in log.of("answer_delta")).strip()


async def test_every_tool_down_is_a_spoken_apology_then_the_session_recovers(engine):
    switch = Switch()
    base = with_config(
        engine,
        tool_deadline_ms=DEADLINE_MS,
        search_latency="none",
        kg_latency="none",
        eval_mode=True,
    )
    async with contextlib.AsyncExitStack() as stack:
        peer = await serve_peer(stack, "/search", search_service(engine, switch))
        broken = dataclasses.replace(
            with_config(base, search_url=peer.url), kg=SwitchedKg(engine.kg, switch)
        )
        runner = await start_server(broken, "127.0.0.1", 0)
        stack.push_async_callback(runner.cleanup)
        url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
        async with VoiceClient(url, options={"strategy": "final", "pace_audio": False}) as client:
            first, seconds = await ask(client, QUESTION)
            switch.down = False
            second, second_seconds = await ask(client, SECOND)

    assert seconds < HANG_S / 4, "no turn_metrics in time"
    tool_errors = {r["tool"]: r["error"] for r in first.of("tool_result")}
    assert tool_errors.get("search") and tool_errors.get("kg"), tool_errors  # both really failed
    metrics = first.first("turn_metrics")["metrics"]
    assert metrics["answer_source"] == "tools_down", metrics
    assert not metrics["error"] and metrics["answer"] == APOLOGY
    assert _answer(first) == APOLOGY
    done = first.first("answer_done")
    assert done["text"] == APOLOGY and done["complete"] and done["audio_ms"] > 0
    assert len(first.audio) > 0  # spoken, like any answer
    deltas = first.of("answer_delta")
    assert deltas[0]["source"] == "tools_down"
    assert deltas[0]["t"] - first.sent_at < BOUND_S
    assert not first.of("error")
    # the tools are back: the same session answers from them
    assert second_seconds < HANG_S / 4
    assert "omaha" in _answer(second).lower()
    assert second.first("turn_metrics")["metrics"]["answer_source"] != "tools_down"
    assert peer.requests >= 2


async def test_the_fault_table_row_for_every_tool_down(engine):
    """benchmarks/faults.py's all_tools_down row: both turns end in time with the apology."""
    o = await run_fault(engine, TOOLS_DOWN)
    assert o.metrics and o.metrics["answer_source"] == "tools_down", o.row()
    assert o.answer == APOLOGY and o.spoken_ms > 0 and not o.errors, o.row()
    assert o.tool_errors.get("search") and o.tool_errors.get("kg"), o.row()
    assert o.first_answer_s < BOUND_S, o.row()
    assert o.second_answer == APOLOGY and o.second_seconds < HANG_S / 4, o.row()
