"""One websocket session with the server: stream audio (or text) in, record every event.

The replay and microphone commands, the benchmarks and the end-to-end tests are built on it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import websockets

from streaming.events import Ready, TurnMetrics
from streaming.protocol import start_message, text_message
from voice.audio import float32_to_pcm16, pcm16_to_float32

_CLOSED = "_closed"  # the reader's end-of-session marker in the inbox; never on the wire


def last_voiced_sample(samples: np.ndarray, rate: int, threshold: float = 0.01) -> int:
    """Index just after the last 10 ms window whose RMS exceeds ``threshold`` (-40 dBFS)."""
    win = max(1, rate // 100)
    n = samples.size // win
    if n == 0:
        return 0
    rms = np.sqrt((samples[: n * win].reshape(n, win).astype(np.float64) ** 2).mean(axis=1))
    voiced = np.nonzero(rms > threshold)[0]
    return int((voiced[-1] + 1) * win) if voiced.size else 0


@dataclass
class TurnLog:
    """Everything one exchange produced, with client-side timestamps (monotonic seconds)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    audio_chunks: list[tuple[float, int]] = field(default_factory=list)  # (t, bytes)
    output_rate: int = 16000
    speech_end_at: float | None = None  # when the last voiced sample was sent
    first_audio_at: float | None = None
    sent_at: float | None = None

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def first(self, kind: str) -> dict[str, Any] | None:
        found = self.of(kind)
        return found[0] if found else None

    @property
    def answer_audio(self) -> np.ndarray:
        return pcm16_to_float32(bytes(self.audio))

    @property
    def speech_end_to_first_audio_ms(self) -> float | None:
        if self.speech_end_at is None or self.first_audio_at is None:
            return None
        return (self.first_audio_at - self.speech_end_at) * 1000


class VoiceClient:
    """One websocket session. ``async with VoiceClient(url) as c: log = await c.ask_audio(...)``."""

    def __init__(
        self,
        url: str,
        sample_rate: int = 16000,
        output_sample_rate: int = 16000,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.url = url
        self.sample_rate = sample_rate
        self.output_sample_rate = output_sample_rate
        self.options = options or {}
        self.ready: dict[str, Any] | None = None
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._reader: asyncio.Task | None = None
        self._audio_arrived = asyncio.Event()
        self.log = TurnLog(output_rate=output_sample_rate)
        # Optional hook, called from the reader with each answer audio frame as it arrives
        # (live playback: the microphone client feeds its speaker from here).
        self.on_audio: Callable[[bytes], None] | None = None

    async def __aenter__(self) -> VoiceClient:
        self.ws = await websockets.connect(self.url, max_size=8 << 20)
        self._reader = asyncio.create_task(self._read())
        await self.ws.send(start_message(self.sample_rate, self.output_sample_rate, self.options))
        try:
            self.ready = await self.wait_for(Ready.type, timeout=10)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader:
            self._reader.cancel()
        await self.ws.close()

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                now = time.monotonic()
                if isinstance(message, bytes):
                    if self.log.first_audio_at is None:
                        self.log.first_audio_at = now
                    self.log.audio += message
                    self.log.audio_chunks.append((now, len(message)))
                    self._audio_arrived.set()
                    if self.on_audio is not None:
                        self.on_audio(message)
                    continue
                event = json.loads(message)
                event["t"] = now
                self.log.events.append(event)
                await self._inbox.put(event)
        except websockets.ConnectionClosed:
            pass
        finally:
            await self._inbox.put({"type": _CLOSED, "t": time.monotonic()})

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            event = await self._inbox.get()
            if event["type"] == _CLOSED:
                return
            yield event

    async def wait_for(self, kind: str, timeout: float = 60) -> dict[str, Any]:
        async def scan() -> dict[str, Any]:
            async for event in self.events():
                if event["type"] == kind:
                    return event
            raise ConnectionError(f"connection closed before {kind!r}")

        return await asyncio.wait_for(scan(), timeout)

    def new_turn(self) -> TurnLog:
        self.log = TurnLog(output_rate=self.output_sample_rate)
        self._audio_arrived.clear()
        return self.log

    async def wait_for_audio(self, timeout: float = 60) -> None:
        """Until this turn's first answer audio frame has arrived."""
        await asyncio.wait_for(self._audio_arrived.wait(), timeout)

    async def send_audio(
        self,
        samples: np.ndarray,
        speed: float = 1.0,
        chunk_ms: int = 20,
        trailing_silence_s: float = 1.5,
    ) -> None:
        """Stream float32 samples at ``speed`` x real time, then silence so the turn can end."""
        rate = self.sample_rate
        speech_end = last_voiced_sample(samples, rate)
        audio = np.concatenate([samples, np.zeros(int(trailing_silence_s * rate), np.float32)])
        step = rate * chunk_ms // 1000
        t0 = time.monotonic()
        self.log.sent_at = t0
        for i in range(0, audio.size, step):
            await self.ws.send(float32_to_pcm16(audio[i : i + step]))
            if self.log.speech_end_at is None and i + step >= speech_end:
                self.log.speech_end_at = t0 + speech_end / rate / speed
            delay = t0 + (i + step) / rate / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # real-time pacing, not synchronisation

    async def ask_audio(self, samples: np.ndarray, timeout: float = 60, **kw: Any) -> TurnLog:
        """One spoken turn: stream it, wait for its ``turn_metrics``; returns the turn's log."""
        log = self.new_turn()
        sender = asyncio.create_task(self.send_audio(samples, **kw))
        try:
            await self.wait_for(TurnMetrics.type, timeout)
        finally:
            if not sender.done():
                sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return log

    async def ask_text(self, text: str, timeout: float = 60) -> TurnLog:
        log = self.new_turn()
        log.sent_at = log.speech_end_at = time.monotonic()
        await self.ws.send(text_message(text))
        await self.wait_for(TurnMetrics.type, timeout)
        return log
