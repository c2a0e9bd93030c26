"""Limits and admission: max sessions (server_busy), the turn length cap, typed questions per
minute (rate_limited) and the idle timeout (idle_timeout); each a config field."""

from __future__ import annotations

import asyncio
import json

import websockets

from streaming.client.connection import VoiceClient
from streaming.server.limits import TokenBucket
from tests.test_bad_input import next_event, start, wait_sessions
from tests.test_security import serving


async def test_sessions_past_max_sessions_get_server_busy(engine):
    async with serving(engine, max_sessions=2) as srv:
        first = await websockets.connect(srv.ws_url)
        second = await websockets.connect(srv.ws_url)
        await start(first), await start(second)
        third = await websockets.connect(srv.ws_url)
        error = json.loads(await asyncio.wait_for(third.recv(), 10))
        assert error["type"] == "error" and error["code"] == "server_busy"
        await asyncio.wait_for(third.wait_closed(), 10)
        assert third.close_code == 1013  # try again later
        await first.close()
        assert await wait_sessions(srv, 1) == 1
        async with websockets.connect(srv.ws_url) as again:  # a slot came free
            await start(again)
        await second.close()


def test_token_bucket_bursts_then_refills_at_its_rate():
    now = [100.0]
    bucket = TokenBucket(6, capacity=3, clock=lambda: now[0])  # 6 a minute: one per 10 s
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert round(bucket.wait_s()) == 10
    now[0] += 9.0
    assert not bucket.take()
    now[0] += 1.5
    assert bucket.take() and not bucket.take()
    assert all(TokenBucket(0).take() for _ in range(100))  # 0: no limit


async def test_typed_questions_past_the_rate_are_rate_limited(engine):
    async with serving(engine, typed_per_minute=2.0) as srv:
        async with websockets.connect(srv.ws_url) as ws:
            await start(ws)
            for text in ("capital of austria", "capital of france", "capital of spain"):
                await ws.send(json.dumps({"type": "text", "text": text}))
            error = await next_event(ws, "error", 30)
            assert error["code"] == "rate_limited" and "typed" in error["message"]
            answers = []  # the admitted questions are answered (the first may be interrupted)
            while not any("paris" in a for a in answers) and len(answers) < 2:
                answers.append((await next_event(ws, "answer_done", 60))["text"].lower())
            assert any("paris" in a for a in answers), answers


async def test_a_silent_session_is_closed_with_idle_timeout(engine):
    async with serving(engine, idle_timeout_s=0.5) as srv:
        ws = await websockets.connect(srv.ws_url)
        await start(ws)
        error = await next_event(ws, "error", 30)
        assert error["code"] == "idle_timeout"
        await asyncio.wait_for(ws.wait_closed(), 10)
        assert await wait_sessions(srv, 0) == 0


async def test_a_turn_over_the_cap_is_ended_and_answered(engine, speech):
    """Speech longer than max_turn_s: the turn ends at the cap (audio time), with an error that
    says why, and is answered: the speech that goes on is not heard until the speaker pauses, so
    it does not barge in on the capped turn's answer."""
    audio = speech(
        "What is the capital of Austria and what is the capital of France and what is the "
        "capital of Spain and what is the capital of Italy"
    )
    cap_s = 2.0
    assert audio.size / 16000 > 2 * cap_s
    async with serving(engine, max_turn_s=cap_s) as srv, VoiceClient(srv.ws_url) as client:
        sender = asyncio.create_task(client.send_audio(audio, speed=3.0, trailing_silence_s=1.0))
        try:
            onset = (await client.wait_for("speech_start", 30))["audio_ms"]
            error = await client.wait_for("error", 30)
            assert error["code"] == "turn_too_long"
            eot = await client.wait_for("end_of_turn", 30)
            # ended at the cap plus the endpoint's wait, long before the speech ends
            assert eot["audio_ms"] - onset <= cap_s * 1000 + 1500
            assert eot["audio_ms"] < audio.size / 16 - 1000
            final = await client.wait_for("final", 60)
            assert "austria" in final["text"].lower()
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
