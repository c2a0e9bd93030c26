"""Replay recorded questions through the server and log what came back.

Each file (WAV/FLAC/MP3, any rate or channel count) is decoded to 16 kHz mono, streamed at
``speed`` x real time through its *own* websocket session (so the server's audio clock, its turn
counter and its speculative tool state start fresh for every file and files cannot interfere),
followed by trailing silence so the last turn ends. A file may hold several questions: the replay
waits until the turn of the last ``end_of_turn`` has its ``turn_metrics``.

Latency: ``speech_end_to_first_audio_ms`` is the server's figure, which counts the VAD's silence
window in *audio* time, so at ``speed`` != 1 it is off by ``end_of_turn_wait_ms * (1 - 1/speed)``;
``client_speech_end_to_first_audio_ms`` is wall time measured here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import websockets

from streaming.client.session_io import (
    ClientError,
    decode_all,
    open_client,
    pump_events,
    stop_session,
)
from streaming.events import AnswerDone, EndOfTurn, FinalTranscript, ToolCall, TurnMetrics
from voice.audio import write_wav

log = logging.getLogger(__name__)

MAX_SPEED = 4.0  # the server's default max_audio_rate; faster audio is dropped (rate_limited)
EventCallback = Callable[[Path, dict[str, Any]], None]


@dataclass
class ReplayResult:
    """What one file produced. ``events`` carry ``t_ms``: client time since streaming began."""

    path: Path
    input_s: float
    ready: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    audio_frames: list[tuple[float, int]] = field(default_factory=list)  # (t_ms, bytes)
    answer_audio: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    output_rate: int = 16000
    speed: float = 1.0
    error: str | None = None
    events_path: Path | None = None
    wav_path: Path | None = None

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    @property
    def final(self) -> str:
        return " ".join(e["text"] for e in self.of(FinalTranscript.type) if e["text"]).strip()

    @property
    def answer(self) -> str:
        return " ".join(e["text"] for e in self.of(AnswerDone.type) if e["text"]).strip()

    @property
    def turn_metrics(self) -> list[dict[str, Any]]:
        return [e["metrics"] for e in self.of(TurnMetrics.type)]

    @property
    def client_turn_latencies_ms(self) -> list[float | None]:
        """Per turn, wall time from sending the last voiced sample (the server's
        ``end_of_turn.speech_end_ms``) to receiving that turn's first answer frame."""
        ends = [e for e in self.events if e["type"] == EndOfTurn.type]
        bounds = [e["t_ms"] for e in ends[1:]] + [float("inf")]
        out: list[float | None] = []
        for eot, until in zip(ends, bounds, strict=True):
            first = next((t for t, _ in self.audio_frames if eot["t_ms"] < t < until), None)
            sent = eot["speech_end_ms"] / self.speed  # audio time -> client wall time
            out.append(None if first is None else round(first - sent, 1))
        return out

    @property
    def client_latency_ms(self) -> float | None:
        """The client's figure for the first turn that spoke an answer."""
        return next((v for v in self.client_turn_latencies_ms if v is not None), None)

    @property
    def speech_end_to_first_audio_ms(self) -> float | None:
        """The server's figure for the first turn that spoke an answer."""
        values = [m.get("speech_end_to_first_audio_ms") for m in self.turn_metrics]
        return next((v for v in values if v is not None), None)

    def summary(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "final": self.final,
            "answer": self.answer,
            "tool_calls": [
                {k: e.get(k) for k in ("id", "tool", "query", "speculative")}
                for e in self.of(ToolCall.type)
            ],
            "speech_end_to_first_audio_ms": self.speech_end_to_first_audio_ms,
            "client_speech_end_to_first_audio_ms": self.client_latency_ms,
            "client_turn_latencies_ms": self.client_turn_latencies_ms,
            "answer_audio_ms": round(self.answer_audio.size * 1000 / self.output_rate),
            "turn_metrics": self.turn_metrics,
            "error": self.error,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "input_s": round(self.input_s, 3),
            "speed": self.speed,
            "session": self.ready,
            "summary": self.summary(),
            "events": self.events,
            "audio_frames": [[round(t, 1), n] for t, n in self.audio_frames],
        }

    def write(self, out_dir: Path, stem: str) -> None:
        self.events_path = out_dir / f"{stem}.events.json"
        self.wav_path = out_dir / f"{stem}.answer.wav"
        self.events_path.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False))
        write_wav(self.wav_path, self.answer_audio, self.output_rate)


async def _replay_one(
    url: str,
    path: Path,
    samples: np.ndarray,
    *,
    speed: float,
    trailing_silence_s: float,
    output_sample_rate: int,
    options: dict[str, Any] | None,
    on_event: EventCallback | None,
    timeout_s: float,
) -> ReplayResult:
    result = ReplayResult(path, samples.size / 16000, speed=speed)
    async with open_client(url, output_sample_rate=output_sample_rate, options=options) as client:
        result.ready = {k: v for k, v in (client.ready or {}).items() if k != "t"}
        result.output_rate = int(result.ready.get("output_sample_rate", output_sample_rate))
        t0 = time.monotonic()
        sender = asyncio.create_task(
            client.send_audio(samples, speed=speed, trailing_silence_s=trailing_silence_s)
        )

        def record(event: dict[str, Any]) -> None:
            item = {"t_ms": round((event["t"] - t0) * 1000, 1)}
            item.update({k: v for k, v in event.items() if k != "t"})
            result.events.append(item)
            if on_event is not None:
                on_event(path, item)

        if client.ready:
            record(client.ready)  # negative t_ms: it came before streaming began

        try:
            if not await pump_events(client, sender, record, drain_timeout_s=timeout_s):
                result.error = f"timed out after {timeout_s:.0f} s waiting for the answer"
        except (ConnectionError, websockets.ConnectionClosed) as exc:
            result.error = f"connection lost: {exc}"
        if result.error is None:
            await stop_session(client, record)
        result.audio_frames = [((t - t0) * 1000, n) for t, n in client.log.audio_chunks]
        result.answer_audio = client.log.answer_audio
    return result


async def replay_files(
    url: str,
    paths: Sequence[str | Path],
    *,
    speed: float = 1.0,
    trailing_silence_s: float = 1.5,
    out_dir: str | Path | None = None,
    options: dict[str, Any] | None = None,
    on_event: EventCallback | None = None,
    on_result: Callable[[ReplayResult], None] | None = None,
    output_sample_rate: int = 16000,
    timeout_s: float = 90.0,
) -> list[ReplayResult]:
    """Replay ``paths`` one after another, one session each; write logs if ``out_dir``.
    ``on_event(path, event)`` sees every event live, ``on_result`` each finished file;
    ``timeout_s`` bounds the wait for the last answer once a file has been sent."""
    if not 0 < speed <= MAX_SPEED:
        raise ClientError(f"speed must be in (0, {MAX_SPEED}]: the server drops faster audio")
    decoded = await asyncio.to_thread(decode_all, paths)
    if out_dir is not None:
        try:  # fail before streaming, not after
            await asyncio.to_thread(Path(out_dir).mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise ClientError(f"cannot create {out_dir}: {exc}") from exc
    results, stems = [], set()
    for path, samples in zip(paths, decoded, strict=True):
        path = Path(path)
        log.info("replaying %s (%.1f s at %gx)", path, samples.size / 16000, speed)
        result = await _replay_one(
            url,
            path,
            samples,
            speed=speed,
            trailing_silence_s=trailing_silence_s,
            output_sample_rate=output_sample_rate,
            options=options,
            on_event=on_event,
            timeout_s=timeout_s,
        )
        if out_dir is not None:
            stem, n = path.stem, 1
            while stem in stems:  # a/q.wav and b/q.wav in one batch
                n += 1
                stem = f"{path.stem}-{n}"
            stems.add(stem)
            try:
                await asyncio.to_thread(result.write, Path(out_dir), stem)
            except OSError as exc:
                raise ClientError(f"cannot write the logs to {out_dir}: {exc}") from exc
        if on_result is not None:
            on_result(result)
        results.append(result)
    return results
