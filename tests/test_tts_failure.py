"""TTS raising mid-answer: the answer that started still closes with ``answer_done`` (marked
``complete: false``, carrying the text that was sent), then the ``turn_failed`` error and the
``turn_metrics``, in that order; the session answers the next question with its voice back."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from benchmarks.faults import QUESTION, SECOND, ask, with_config
from streaming.client.connection import VoiceClient
from streaming.server.app import bound_port, start_server


class FlakyTts:
    """The real voice, except that while ``broken`` each synthesis raises."""

    def __init__(self, tts: Any) -> None:
        self._tts, self.broken = tts, True
        self.rate, self.worker = tts.rate, tts.worker

    async def stream(self, text: str, *args: Any, **kwargs: Any):
        async for piece in self._tts.stream(text, *args, **kwargs):
            if self.broken:
                raise RuntimeError("piper crashed")
            yield piece

    def synthesize(self, text: str, *args: Any, **kwargs: Any):
        if self.broken:
            raise RuntimeError("piper crashed")
        return self._tts.synthesize(text, *args, **kwargs)


async def test_tts_raising_still_closes_the_answer_with_answer_done(engine):
    tts = FlakyTts(engine.tts)
    broken = dataclasses.replace(
        with_config(engine, search_latency="none", kg_latency="none", eval_mode=True), tts=tts
    )
    async with contextlib.AsyncExitStack() as stack:
        runner = await start_server(broken, "127.0.0.1", 0)
        stack.push_async_callback(runner.cleanup)
        url = f"ws://127.0.0.1:{bound_port(runner)}/ws"
        async with VoiceClient(url, options={"strategy": "final", "pace_audio": False}) as client:
            first, _ = await ask(client, QUESTION)
            tts.broken = False
            second, _ = await ask(client, SECOND)

    kinds = [e["type"] for e in first.events]
    assert "answer_delta" in kinds and "answer_done" in kinds, kinds
    done = first.first("answer_done")
    assert done["complete"] is False
    text = "".join(e["text"] for e in first.of("answer_delta")).strip()
    assert done["text"] == text and "vienna" in text.lower()
    assert done["audio_ms"] == 0 and not first.audio  # nothing could be spoken
    assert [e["code"] for e in first.of("error")] == ["turn_failed"]
    # the answer closes first, then the error, then the metrics that close the turn
    assert kinds.index("answer_done") < kinds.index("error") < kinds.index("turn_metrics")
    metrics = first.first("turn_metrics")["metrics"]
    assert "piper crashed" in metrics["error"] and metrics["answer"] == text
    # the voice is back: the next answer is spoken and complete
    done2 = second.first("answer_done")
    assert done2["complete"] is True and "omaha" in done2["text"].lower()
    assert done2["audio_ms"] > 0 and second.audio
    assert not second.of("error")
