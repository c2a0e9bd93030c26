"""Fault table: every tool and model the answer depends on, broken on purpose, against a real server.

Each fault gets a fresh server on 127.0.0.1 (the shared models, one component replaced or pointed
at a throwaway local peer that misbehaves) and one session that asks two typed questions. Reported
per fault: what the first turn came back with (answer and its source, error codes, tool errors),
the time from the question to its ``turn_metrics``, and whether the second question was answered.
``tests/test_faults.py`` runs the same table and asserts on it. Writes
benchmarks/results/faults.json.

Usage: python benchmarks/faults.py [--deadline-ms 1000] [--only search_down,llm_500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streaming.answer.answerer import Answerer  # noqa: E402
from streaming.answer.llm import make_backend  # noqa: E402
from streaming.client.connection import VoiceClient  # noqa: E402
from streaming.server.app import bound_port, start_server  # noqa: E402
from streaming.server.engine import Engine  # noqa: E402

DEADLINE_MS = 1000  # the tool (and LLM stall) deadline of every fault server
HANG_S = 60.0  # a hanging peer holds its request this long (released at teardown)
QUESTION = "what is the capital of austria"
SECOND = "where is berkshire hathaway headquartered"


@dataclass
class Peer:
    """A throwaway local HTTP peer (search API, LLM endpoint) and what it was asked."""

    url: str = ""
    requests: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)


Handler = Callable[[web.Request, Peer], Awaitable[web.StreamResponse]]


async def serve_peer(stack: contextlib.AsyncExitStack, path: str, handler: Handler) -> Peer:
    peer = Peer()

    async def handle(request: web.Request) -> web.StreamResponse:
        peer.requests += 1
        return await handler(request, peer)

    app = web.Application()
    app.router.add_route("*", path, handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stack.push_async_callback(runner.cleanup)
    stack.callback(peer.release.set)  # runs first: hanging handlers return, cleanup is quick
    peer.url = f"http://127.0.0.1:{bound_port(runner)}"
    return peer


async def hang(request: web.Request, peer: Peer) -> web.Response:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(peer.release.wait(), HANG_S)
    return web.json_response({"error": "too late"}, status=504)


def body(text: str, content_type: str = "application/json") -> Handler:
    async def handler(request: web.Request, peer: Peer) -> web.Response:
        return web.Response(text=text, content_type=content_type)

    return handler


async def server_error(request: web.Request, peer: Peer) -> web.Response:
    return web.json_response({"error": "internal"}, status=500)


def sse_chunk(text: str) -> bytes:
    return f"data: {json.dumps({'choices': [{'delta': {'content': text}}]})}\n\n".encode()


def cut_stream(how: str) -> Handler:
    """An LLM stream that stops mid-sentence: ``eof`` (a clean end, no [DONE]), ``reset`` (the
    connection dropped), ``stall`` (no more bytes)."""

    async def handler(request: web.Request, peer: Peer) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(sse_chunk("Vienna is the capital of"))
        if how == "reset":
            assert request.transport is not None
            request.transport.abort()
        elif how == "stall":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(peer.release.wait(), HANG_S)
        return resp

    return handler


class RaisingKg:
    """A knowledge graph whose queries raise (its question parser still works, so the KG tool
    is really called); everything else is the real graph."""

    def __init__(self, kg: Any) -> None:
        self._kg = kg

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._kg, name)
        if name in ("kg_key", "attribute_names", "entity_names") or not callable(attr):
            return attr

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"kg.{name}: database is locked")

        return broken


class RaisingTts:
    """A TTS whose synthesis raises."""

    def __init__(self, tts: Any) -> None:
        self.rate = tts.rate

    async def speak(self, text: str, *args: Any, **kwargs: Any):
        raise RuntimeError("piper crashed")

    async def stream(self, text: str, *args: Any, **kwargs: Any):
        raise RuntimeError("piper crashed")
        yield  # pragma: no cover - an async generator that raises on first use

    def synthesize(self, text: str, *args: Any, **kwargs: Any):
        raise RuntimeError("piper crashed")


Setup = Callable[[Engine, contextlib.AsyncExitStack], Awaitable[tuple[Engine, Peer | None]]]


def with_config(engine: Engine, **changes: Any) -> Engine:
    return dataclasses.replace(engine, config=engine.config.replace(**changes))


def search_peer(handler: Handler) -> Setup:
    async def setup(engine: Engine, stack: contextlib.AsyncExitStack):
        peer = await serve_peer(stack, "/search", handler)
        return with_config(engine, search_url=peer.url), peer

    return setup


async def search_down(engine: Engine, stack: contextlib.AsyncExitStack):
    async with contextlib.AsyncExitStack() as own:
        url = (await serve_peer(own, "/search", server_error)).url
    return with_config(engine, search_url=url), None  # that port is closed: connection refused


def llm_peer(handler: Handler) -> Setup:
    """The openai backend at a local endpoint; no KG, so the answer goes through the LLM."""

    async def setup(engine: Engine, stack: contextlib.AsyncExitStack):
        peer = await serve_peer(stack, "/v1/chat/completions", handler)
        config = engine.config.replace(
            llm_backend="openai", openai_base_url=f"{peer.url}/v1", openai_model="fake"
        )
        llm = make_backend(config)
        answerer = Answerer(llm, config.min_answer_confidence, config.max_answer_tokens)
        return dataclasses.replace(engine, config=config, llm=llm, answerer=answerer, kg=None), peer

    return setup


async def kg_raising(engine: Engine, stack: contextlib.AsyncExitStack):
    return dataclasses.replace(engine, kg=RaisingKg(engine.kg)), None


async def tools_down(engine: Engine, stack: contextlib.AsyncExitStack):
    """Every tool broken at once: the search service gone and the knowledge graph raising."""
    broken, _ = await search_down(engine, stack)
    return await kg_raising(broken, stack)


async def tts_raising(engine: Engine, stack: contextlib.AsyncExitStack):
    return dataclasses.replace(engine, tts=RaisingTts(engine.tts)), None


@dataclass(frozen=True)
class Fault:
    name: str
    setup: Setup
    broken: str  # the tool whose tool_result must carry an error, or "llm" / "tts"


async def no_fault(engine: Engine, stack: contextlib.AsyncExitStack):
    return engine, None


BASELINE = Fault("none (baseline)", no_fault, "")
FAULTS = [
    Fault("search_down", search_down, "search"),
    Fault("search_slow", search_peer(hang), "search"),
    Fault("search_bad_json", search_peer(body("{'results': [")), "search"),
    Fault("search_html", search_peer(body("<html>busy</html>", "text/html")), "search"),
    Fault("search_wrong_schema", search_peer(body('[{"title": "Vienna"}]')), "search"),
    Fault(
        "search_wrong_types",
        search_peer(body('{"results": [7, {"title": 5, "snippet": {"a": 1}, "score": "x"}]}')),
        "search",
    ),
    Fault("kg_raising", kg_raising, "kg"),
    Fault("llm_500", llm_peer(server_error), "llm"),
    Fault("llm_timeout", llm_peer(hang), "llm"),
    Fault("llm_stream_eof", llm_peer(cut_stream("eof")), "llm"),
    Fault("llm_stream_reset", llm_peer(cut_stream("reset")), "llm"),
    Fault("llm_stream_stall", llm_peer(cut_stream("stall")), "llm"),
    Fault("tts_raising", tts_raising, "tts"),
]
# no tool can answer, so there is no answer without the broken part: a spoken apology
# (answer_source "tools_down"); asserted by tests/test_apology.py, shown in the table
TOOLS_DOWN = Fault("all_tools_down", tools_down, "search+kg")


@dataclass
class Outcome:
    fault: str
    deadline_s: float
    seconds: float  # question sent -> its turn_metrics arrived (client clock)
    first_answer_s: float  # question sent -> its first answer text arrived
    metrics: dict[str, Any]
    answer: str  # the answer text the client received (answer_delta)
    spoken_ms: int  # answer audio received
    errors: list[str]  # error event codes
    tool_errors: dict[str, str | None]
    peer_requests: int | None
    second_answer: str
    second_seconds: float

    def row(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "answer": self.answer,
            "source": self.metrics.get("answer_source"),
            "spoken_ms": self.spoken_ms,
            "errors": self.errors,
            "tool_errors": self.tool_errors,
            "tool_wait_ms": self.metrics.get("tool_wait_ms"),
            "to_first_answer_s": round(self.first_answer_s, 3),
            "to_turn_metrics_s": round(self.seconds, 3),
            "peer_requests": self.peer_requests,
            "second_answer": self.second_answer,
            "second_to_turn_metrics_s": round(self.second_seconds, 3),
        }


async def ask(client: VoiceClient, text: str) -> tuple[Any, float]:
    """The turn's log and seconds to its turn_metrics (inf: none within HANG_S / 2)."""
    try:
        log = await client.ask_text(text, timeout=HANG_S / 2)
    except TimeoutError:
        return client.log, float("inf")
    return log, log.first("turn_metrics")["t"] - log.sent_at


def _first_answer_s(log: Any) -> float:
    deltas = log.of("answer_delta")
    return deltas[0]["t"] - log.sent_at if deltas else float("inf")


def _answer(log: Any) -> str:
    return "".join(e["text"] for e in log.of("answer_delta")).strip()


async def run_fault(engine: Engine, fault: Fault, deadline_ms: int = DEADLINE_MS) -> Outcome:
    """One fault: a fresh server with it, one session, two typed questions."""
    base = with_config(
        engine,
        tool_deadline_ms=deadline_ms,
        llm_timeout_ms=deadline_ms,
        search_latency="none",
        kg_latency="none",
        eval_mode=True,  # pace_audio: false, the answer's audio comes as fast as it is made
    )
    async with contextlib.AsyncExitStack() as stack:
        broken, peer = await fault.setup(base, stack)
        runner = await start_server(broken, "127.0.0.1", 0)
        stack.push_async_callback(runner.cleanup)
        url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
        options = {"strategy": "final", "pace_audio": False}
        async with VoiceClient(url, options=options) as client:
            first, seconds = await ask(client, QUESTION)
            second, second_seconds = await ask(client, SECOND)
        return Outcome(
            fault=fault.name,
            deadline_s=deadline_ms / 1000,
            seconds=seconds,
            first_answer_s=_first_answer_s(first),
            metrics=(first.first("turn_metrics") or {}).get("metrics", {}),
            answer=_answer(first),
            spoken_ms=len(first.audio) * 500 // client.output_sample_rate,
            errors=[e["code"] for e in first.of("error")],
            tool_errors={r["tool"]: r["error"] for r in first.of("tool_result")},
            peer_requests=peer.requests if peer is not None else None,
            second_answer=_answer(second),
            second_seconds=second_seconds,
        )


def table(outcomes: list[Outcome]) -> str:
    head = (
        f"{'fault':<20} {'1st text':>8} {'metrics':>8} {'tool wait':>9}  {'outcome':<58} "
        "second answered"
    )
    lines = [head, "-" * len(head)]
    for o in outcomes:
        r = o.row()
        tool_err = "; ".join(f"{k}: {v}" for k, v in r["tool_errors"].items() if v)
        what = f"{r['source']}: {r['answer'][:34]!r}"
        if r["errors"]:
            what += f" [{','.join(r['errors'])}]"
        if not r["spoken_ms"]:
            what += " (text only)"
        lines.append(
            f"{o.fault:<20} {o.first_answer_s:>7.2f}s {o.seconds:>7.2f}s "
            f"{r['tool_wait_ms'] or 0:>7.0f}ms  {what:<58} "
            f"{'yes' if o.second_answer else 'NO'} ({o.second_seconds:.2f}s)"
        )
        if tool_err:
            lines.append(f"{'':<50}{tool_err[:90]}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[Outcome]:
    from streaming.server.config import Config

    engine = await asyncio.to_thread(Engine.load, Config.from_env())
    await asyncio.to_thread(engine.warm_up)
    only = set(args.only.split(",")) if args.only else None
    outcomes = []
    for fault in [BASELINE, *FAULTS, TOOLS_DOWN]:
        if only is None or fault.name in only:
            outcomes.append(await run_fault(engine, fault, args.deadline_ms))
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline-ms", type=int, default=DEADLINE_MS)
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    t0 = time.perf_counter()
    outcomes = asyncio.run(main_async(args))
    print(f"tool deadline {args.deadline_ms} ms; typed question -> first answer text, turn_metrics")
    print(table(outcomes))
    out = Path(__file__).resolve().parent / "results" / "faults.json"
    rows = [o.row() for o in outcomes]
    out.write_text(json.dumps({"deadline_ms": args.deadline_ms, "faults": rows}, indent=2) + "\n")
    print(f"wrote {out}; took {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
