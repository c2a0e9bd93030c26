"""Faster speculation: partials from the small partial model at the configured cadence, the final
always from the final model (a partial from the small model is never taken as the final)."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.client.connection import VoiceClient
from voice.asr import COVER_PAD, RATE, Partial, StreamingTranscriber
from voice.workers import Priority

FRAME = 512  # the front end's 32 ms frames
QUESTION = "what is the capital of australia"


def runs(worker, priority: Priority) -> int:
    return worker.runs[priority]


@pytest.fixture
def two_models(engine):
    if engine.partial_asr is None:
        pytest.skip("configured without a separate partial model (STREAMRAG_PARTIAL_ASR_MODEL)")
    return engine


async def test_partials_at_the_new_cadence_from_the_partial_model_final_from_base(
    two_models, speech
):
    engine = two_models
    cfg = engine.config
    assert cfg.partial_interval_ms <= 350 and engine.partial_asr is not None
    assert engine.partial_asr.name == cfg.partial_asr_model != engine.asr.name == cfg.asr_model
    partials: list[Partial] = []

    async def on_partial(p: Partial) -> None:
        partials.append(p)

    tr = StreamingTranscriber(
        engine.asr, on_partial, cfg.partial_interval_ms, 1, partial_asr=engine.partial_asr
    )
    audio = np.concatenate([speech(QUESTION, lead_s=0.2), np.zeros(RATE // 2, np.float32)])
    base_partials = runs(engine.asr.worker, Priority.PARTIAL_ASR)
    base_finals = runs(engine.asr.worker, Priority.FINAL_ASR)
    small_partials = runs(engine.partial_asr.worker, Priority.PARTIAL_ASR)
    tr.start_turn(np.zeros(0, np.float32), 0)
    for i in range(0, audio.size, FRAME):
        tr.push(audio[i : i + FRAME])
        if tr._partial_task is not None:  # decode "instantly" in audio time: the cadence is exact
            await tr._partial_task
    gaps = np.diff([p.audio_ms for p in partials])
    assert len(partials) >= audio.size // (cfg.partial_interval_ms * RATE // 1000) - 1
    assert (gaps <= cfg.partial_interval_ms + FRAME * 1000 // RATE).all(), gaps
    assert {p.model for p in partials} == {cfg.partial_asr_model}
    assert "australia" in f"{partials[-1].stable} {partials[-1].tail}".lower()

    speech_end_ms = (audio.size - RATE // 2) * 1000 // RATE
    assert partials[-1].audio_ms * RATE // 1000 >= speech_end_ms * RATE // 1000 + COVER_PAD
    tr.pause(speech_end_ms)  # a small-model partial covers the speech: still decoded by base
    text, reused = await tr.finish()
    assert reused  # the tentative final (base, at the pause) is the final
    assert runs(engine.asr.worker, Priority.FINAL_ASR) == base_finals + 1
    assert runs(engine.asr.worker, Priority.PARTIAL_ASR) == base_partials  # base made no partial
    assert runs(engine.partial_asr.worker, Priority.PARTIAL_ASR) == small_partials + len(partials)
    assert text == engine.asr.transcribe(audio)  # exactly base's decode of the turn's audio
    assert "australia" in text.lower()


async def test_a_spoken_question_through_the_server_uses_both_models(server, two_models, speech):
    engine = two_models
    small = runs(engine.partial_asr.worker, Priority.PARTIAL_ASR)
    base_partials = runs(engine.asr.worker, Priority.PARTIAL_ASR)
    async with VoiceClient(server.ws_url, options={"strategy": "final"}) as client:
        log = await client.ask_audio(speech(QUESTION), trailing_silence_s=1.5, timeout=60)
    partials = log.of("partial")
    assert partials and partials[0]["t"] < log.speech_end_at
    assert runs(engine.partial_asr.worker, Priority.PARTIAL_ASR) - small >= len(partials)
    assert runs(engine.asr.worker, Priority.PARTIAL_ASR) == base_partials
    assert "australia" in log.first("final")["text"].lower()
