"""Defects found by probing the server, each pinned by a test that failed before its fix:
sessions leaked on stop + disconnect, turns that died silently, unvalidated start options,
deeply nested JSON, an outbox overflow raising into the emitter, and a model worker that died
with its caller's event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading

import pytest

from streaming.client.connection import VoiceClient
from streaming.events import Error, TurnMetrics
from streaming.server.app import bound_port, start_server
from streaming.server.outbox import Outbox
from tests.test_bad_input import next_event, raw_session, start, still_answers, wait_sessions
from voice.workers import ModelWorker, Priority


async def test_stop_then_vanishing_mid_answer_releases_the_session(server):
    assert await wait_sessions(server, 0) == 0
    for _ in range(3):
        ws = await raw_session(server)
        await start(ws)
        await ws.send(json.dumps({"type": "text", "text": "tell me about the eiffel tower"}))
        await next_event(ws, "answer_delta", 30)
        await ws.send(json.dumps({"type": "stop"}))
        ws.transport.abort()  # gone before the server could drain what it queued
    assert await wait_sessions(server, 0, timeout=15) == 0
    async with await raw_session(server) as other:
        await start(other)
        await still_answers(other)


@pytest.mark.parametrize(
    "value", ["abc", float("nan"), float("inf"), [400], True, 10**9, 5, 2.5], ids=repr
)
async def test_bad_end_of_turn_option_is_refused_with_bad_option(server, value):
    async with await raw_session(server) as ws:
        msg = {"type": "start", "sample_rate": 16000, "options": {"end_of_turn_ms": value}}
        await ws.send(json.dumps(msg))
        error = await next_event(ws, "error")
        assert error["code"] == "bad_option" and "end_of_turn_ms" in error["message"]
        await start(ws, options={"end_of_turn_ms": 500})  # the session is still there
        await still_answers(ws)


@pytest.mark.parametrize(
    "options",
    [{"audit": "yes"}, {"preemptive": 1}, {"pace_audio": None, "evidence": "../etc/passwd"}],
    ids=["audit-string", "preemptive-int", "evidence-path"],
)
async def test_other_bad_options_are_refused(server, options):
    async with await raw_session(server) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": 16000, "options": options}))
        assert (await next_event(ws, "error"))["code"] == "bad_option"
        await start(ws)


async def test_deeply_nested_json_is_bad_json_not_a_dead_session(server):
    async with await raw_session(server) as ws:
        await ws.send("[" * 20_000 + "]" * 20_000)
        assert (await next_event(ws, "error"))["code"] == "bad_json"
        await start(ws)
        await still_answers(ws)


class BrokenTts:
    """Fault injection: a TTS whose synthesis raises."""

    rate = 22050

    async def stream(self, text: str, *priorities):
        raise RuntimeError("piper crashed")
        yield  # pragma: no cover - makes this an async generator

    def synthesize(self, text: str, **kw):
        raise RuntimeError("piper crashed")

    async def speak(self, text: str, *args, **kw):
        raise RuntimeError("piper crashed")


async def test_a_failing_stage_ends_the_turn_with_an_error_and_metrics(engine):
    broken = dataclasses.replace(engine, tts=BrokenTts())
    runner = await start_server(broken, "127.0.0.1", 0)
    try:
        url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
        async with VoiceClient(url) as client:
            for _ in range(2):  # the session survives the first failure
                log = await client.ask_text("what is the capital of austria", timeout=30)
                errors = [e["code"] for e in log.of(Error.type)]
                assert "turn_failed" in errors, log.events
                metrics = log.first(TurnMetrics.type)["metrics"]
                assert "piper crashed" in metrics["error"]
    finally:
        await runner.cleanup()


class StuckSocket:
    """Fault injection: a websocket whose sends never complete (a client that stopped reading)."""

    async def send_str(self, data: str) -> None:
        await asyncio.Event().wait()

    async def send_bytes(self, data: bytes) -> None:
        await asyncio.Event().wait()


async def test_outbox_overflow_never_raises_into_the_emitter():
    from streaming.events import AnswerDelta, SpeechStart

    outbox = Outbox(StuckSocket(), max_items=8)  # type: ignore[arg-type]
    sender = asyncio.create_task(outbox.run())
    gen = outbox.new_answer()
    for i in range(6):
        outbox.send(AnswerDelta(f"sentence {i}", "extractive", gen), gen)
    for i in range(20):  # more system events than the queue holds
        outbox.send(SpeechStart(i))
    assert outbox.closed and outbox.gone.is_set()
    await asyncio.wait_for(outbox.drained(), 5)  # returns: the client is gone
    sender.cancel()
    await asyncio.gather(sender, return_exceptions=True)


def test_model_worker_survives_a_closed_caller_loop():
    worker = ModelWorker("probe")
    release, started = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(30)
        return "late"

    async def abandon() -> None:
        task = asyncio.ensure_future(worker.run(Priority.ANSWER, slow))
        await asyncio.to_thread(started.wait, 30)
        task.cancel()

    asyncio.run(abandon())  # that loop is closed now; the job is still running
    release.set()

    async def next_job() -> int:
        return await worker.run(Priority.ANSWER, lambda: 42, timeout=30)

    assert asyncio.run(next_job()) == 42
    assert worker._thread.is_alive()


async def test_model_worker_timeout():
    worker = ModelWorker("hung")
    release = threading.Event()
    with pytest.raises(TimeoutError):
        await worker.run(Priority.ANSWER, release.wait, 30, timeout=0.2)
    release.set()
