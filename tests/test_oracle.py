"""The oracle bound from word timestamps of a real spoken clip (piper speech, faster-whisper)."""

from __future__ import annotations

import json

import pytest

from streaming.client.connection import last_voiced_sample
from streaming.eval.manifest import Clip, TurnRecord
from streaming.eval.oracle import clip_words, oracle_fire_ms, oracle_turn, words_path
from streaming.eval.score import judge_records
from voice.audio import write_wav

pytestmark = pytest.mark.slow
QUESTION = "what is the capital of australia in the year two thousand"


@pytest.fixture(scope="module")
def clip(speech, tmp_path_factory):
    audio = speech(QUESTION)
    path = tmp_path_factory.mktemp("oracle") / "q.wav"
    write_wav(path, audio, 16000)
    return Clip("q", path, QUESTION, ("Canberra",)), audio


def test_the_oracle_fires_when_the_last_content_word_is_said(clip, engine, monkeypatch):
    c, audio = clip
    words = clip_words(c, engine.asr)
    heard = " ".join(w["word"] for w in words).lower()
    assert "australia" in heard and "capital" in heard, heard
    speech_end_ms = last_voiced_sample(audio, 16000) * 1000 // 16000
    full = oracle_fire_ms(words, "capital australia year two thousand")
    early = oracle_fire_ms(words, "capital australia")
    # "australia" is said well before the end; the whole query only at the end of speech
    assert abs(full - speech_end_ms) < 300, (full, speech_end_ms)
    assert 500 <= full - early < 2500, (early, full)
    assert early > 500  # after the half second of leading silence and "what is the capital of"
    # a query word nobody said counts as said at the end of speech
    assert oracle_fire_ms(words, "capital zanzibar") == max(w["end_ms"] for w in words)
    # computed once: the second time comes from the file beside the clip, without a model
    assert json.loads(words_path(c).read_text())["words"] == words
    monkeypatch.setattr("streaming.eval.oracle.load_asr", None)
    assert clip_words(c) == words


async def test_the_oracle_bound_of_a_turn(clip, engine):
    c, _ = clip
    fire = oracle_fire_ms(clip_words(c), "capital australia")
    m = {"speech_end_ms": fire + 1500, "end_of_turn_ms": fire + 1900, "asr_final_ms": 10.0,
         "tool_wait_ms": 800.0, "first_audio_ms": 1000.0, "speech_end_to_first_audio_ms": 1400.0,
         "query": "capital australia", "reuse": "fresh", "answer": "Canberra."}  # fmt: skip
    events = [{"type": "tool_call", "id": "c1", "speculative": False},
              {"type": "tool_result", "id": "c1", "elapsed_ms": 800.0}]  # fmt: skip
    record = TurnRecord("q", "final", QUESTION, ["Canberra"], "", "simple", "piper",
                        transcript=QUESTION, answer="Canberra.", metrics=m, events=events)  # fmt: skip
    [row] = await judge_records([record], words={"q": clip_words(c)})
    assert row["oracle_fire_ms"] == fire and row["tool_latency_ms"] == 800.0
    # fired 1.5 s before the end of speech, an 800 ms call is back before the final: no wait
    assert row["oracle_tool_wait_ms"] == 0.0
    assert row["oracle_first_answer_audio_ms"] == 1400.0 - 800.0
    # a 2.5 s call would still be out 590 ms after the final (fire + 2500 - (fire + 1910))
    slow = oracle_turn({**row, "tool_latency_ms": 2500.0}, fire)
    assert slow == {"oracle_tool_wait_ms": 590.0, "oracle_first_answer_audio_ms": 1190.0}
