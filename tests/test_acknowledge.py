"""The optional spoken acknowledgement: a slow tool (latency injected into the real search and
knowledge graph) makes the server say "Let me check." before the answer; the metrics keep the
first audio and the first *answer* audio apart; barge-in drops it; off, nothing changes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from streaming.client.connection import VoiceClient
from streaming.protocol import text_message
from streaming.server.app import bound_port, start_server
from voice.audio import pcm16_to_float32

pytestmark = pytest.mark.slow
SLOW = "fixed:2.0"  # every tool call takes 2 s; the acknowledgement is due after 0.5 s


@pytest.fixture(scope="module")
async def slow_url(engine):
    slow = dataclasses.replace(
        engine, config=engine.config.replace(search_latency=SLOW, kg_latency=SLOW, eval_mode=True)
    )
    runner = await start_server(slow, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{bound_port(runner)}/ws"
    finally:
        await runner.cleanup()


def audio_before(log, t: float) -> np.ndarray:
    """The answer audio the client received before client time ``t``."""
    n = sum(size for at, size in log.audio_chunks if at < t)
    return pcm16_to_float32(bytes(log.audio[:n]))


async def test_a_slow_tool_is_acknowledged_then_answered(slow_url, engine, speech):
    options = {"strategy": "final", "acknowledge": True, "pace_audio": False}
    async with VoiceClient(slow_url, options=options) as client:
        log = await client.ask_audio(speech("what is the capital of australia"))
    m = log.first("turn_metrics")["metrics"]
    assert m["acknowledged"] is True and m["tool_wait_ms"] >= 1500
    assert "canberra" in m["answer"].lower()
    # the timeline: acknowledgement audio, then the answer text, then the answer's audio
    delta = log.first("answer_delta")
    ack = audio_before(log, delta["t"])
    assert ack.size > 0.3 * 16000, "no acknowledgement audio before the answer"
    heard = engine.asr.transcribe(ack).lower()
    assert "let me check" in heard, heard
    assert "canberra" not in heard
    assert len(log.audio) // 2 > ack.size  # the answer's own audio followed
    # both figures, the answer's later than the acknowledgement's by about the tool wait
    assert m["first_answer_audio_ms"] - m["first_audio_ms"] >= 1000
    assert m["speech_end_to_first_answer_audio_ms"] > m["speech_end_to_first_audio_ms"]
    assert m["speech_end_to_first_audio_ms"] == pytest.approx(
        m["first_audio_ms"] + m["end_of_turn_wait_ms"], abs=0.2
    )


async def test_off_by_default_nothing_changes(slow_url):
    async with VoiceClient(slow_url, options={"strategy": "final", "pace_audio": False}) as c:
        log = await c.ask_text("who wrote the play hamlet")  # (results are cached: a new one)
    m = log.first("turn_metrics")["metrics"]
    assert m["acknowledged"] is False and m["tool_wait_ms"] >= 1500
    assert m["first_answer_audio_ms"] == m["first_audio_ms"]
    assert audio_before(log, log.first("answer_delta")["t"]).size == 0


async def test_barge_in_drops_the_acknowledgement(slow_url):
    """A new question while "Let me check." plays: it stops there; the first turn reports an
    acknowledgement and no answer audio."""
    options = {"strategy": "final", "acknowledge": True}  # paced: the audio takes real time
    async with VoiceClient(slow_url, options=options) as client:
        first = client.new_turn()
        await client.ws.send(text_message("how tall is mount everest"))
        await client.wait_for_audio(timeout=30)  # the acknowledgement started playing
        await client.ws.send(text_message("who is the chief executive officer of apple"))
        interrupted = await client.wait_for("interrupted", timeout=30)
        metrics = await client.wait_for("turn_metrics", timeout=30)
    assert interrupted["dropped_audio_ms"] > 0  # it was cut off while playing
    m = metrics["metrics"]
    assert m["interrupted"] is True and m["acknowledged"] is True
    assert m["first_answer_audio_ms"] is None  # no answer audio ever went out for it
    assert not first.of("answer_delta"), "the interrupted turn's answer went out"
