"""Replay recorded questions through the server and log what came back.

Each file (WAV/FLAC/MP3, any rate or channel count) is decoded to 16 kHz mono, streamed at
``speed`` x real time through its *own* websocket session (so the server's audio clock, its turn
counter and its speculative tool state start fresh for every file and files cannot interfere),
followed by trailing silence so the last turn ends. A file may hold several questions: the replay
waits until the turn of the last ``end_of_turn`` has its ``turn_metrics``.

Latency: ``speech_end_to_first_audio_ms`` is the server's figure, which counts the VAD's silence
window in *audio* time, so at ``speed`` != 1 it is off by ``end_of_turn_wait_ms * (1 - 1/speed)``;
``client_speech_end_to_first_audio_ms`` is wall time measured here.

Also home to what the microphone client shares: :func:`open_client`, :func:`pump_events`,
:class:`ClientError` and the event formatting.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import websockets

from voice.audio import decode_file, write_wav

from .client import VoiceClient

log = logging.getLogger(__name__)

MAX_SPEED = 4.0  # the server's default max_audio_rate; faster audio is dropped (rate_limited)
EventCallback = Callable[[Path, dict[str, Any]], None]


class ClientError(Exception):
    """A problem worth one line to the user (no traceback): unreachable server, bad file ..."""


@asynccontextmanager
async def open_client(
    url: str, *, output_sample_rate: int = 16000, options: dict[str, Any] | None = None
) -> AsyncIterator[VoiceClient]:
    """A started :class:`VoiceClient`; connection problems become :class:`ClientError`."""
    client = VoiceClient(url, output_sample_rate=output_sample_rate, options=options)
    try:
        await client.__aenter__()
    except (OSError, TimeoutError, ConnectionError, websockets.WebSocketException) as exc:
        errors = [e for e in client.log.events if e.get("type") == "error"]
        if hasattr(client, "ws"):
            await client.__aexit__(None, None, None)
        if errors:
            reason = f"{errors[-1]['code']}: {errors[-1]['message']}"
        elif isinstance(exc, TimeoutError):
            reason = "no answer from the server in time"
        else:
            reason = str(exc) or type(exc).__name__
        raise ClientError(f"cannot open a session at {url}: {reason}") from exc
    try:
        yield client
    finally:
        await client.__aexit__(None, None, None)


def partial_line(stable: str, tail: str) -> str:
    """``... stable [tail]``: the agreed prefix, then the part that may still change."""
    return " ".join(x for x in ("...", stable, f"[{tail}]" if tail else "") if x)


def describe_event(event: dict[str, Any]) -> str | None:
    """One human line for the events worth showing (partials are drawn separately)."""
    kind = event["type"]
    if kind == "final":
        return f"you: {event['text']}"
    if kind == "tool_call":
        spec = " (speculative)" if event.get("speculative") else ""
        return f"  tool {event['tool']}({event['query']!r}){spec}"
    if kind == "tool_result":
        if event.get("error"):
            return f"  tool {event['id']} failed: {event['error']}"
        return f"  tool {event['id']}: {len(event.get('results') or [])} results in {event.get('elapsed_ms', 0):.0f} ms"
    if kind == "tool_cancelled":
        return f"  tool {event['id']} cancelled ({event.get('reason')})"
    if kind == "tool_reused":
        return f"  tool {event['id']} reused for {event.get('final_query')!r}"
    if kind == "answer_delta":
        return f"assistant: {event['text'].strip()}"
    if kind == "interrupted":
        return f"[interrupted: {event.get('dropped_audio_ms', 0)} ms of answer audio dropped]"
    if kind == "turn_metrics":
        m = event["metrics"]
        latency = m.get("speech_end_to_first_audio_ms")
        shown = f"{latency:.0f} ms" if latency is not None else "n/a"
        return f"[turn {event['turn']}: speech end -> first answer audio {shown}]"
    if kind == "error":
        return f"[server error {event.get('code')}: {event.get('message')}]"
    return None


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
        return " ".join(e["text"] for e in self.of("final") if e["text"]).strip()

    @property
    def answer(self) -> str:
        return " ".join(e["text"] for e in self.of("answer_done") if e["text"]).strip()

    @property
    def turn_metrics(self) -> list[dict[str, Any]]:
        return [e["metrics"] for e in self.of("turn_metrics")]

    @property
    def client_turn_latencies_ms(self) -> list[float | None]:
        """Per turn, wall time from sending the last voiced sample (the server's
        ``end_of_turn.speech_end_ms``) to receiving that turn's first answer frame."""
        ends = [e for e in self.events if e["type"] == "end_of_turn"]
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
                for e in self.of("tool_call")
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


async def next_event(client: VoiceClient) -> dict[str, Any]:
    """The next event; ``ConnectionError`` once the server has closed the session."""
    async with aclosing(client.events()) as events:
        async for event in events:
            return event
    raise ConnectionError("the server closed the session")


def turns_done(kinds: Sequence[str]) -> bool:
    """No speech in progress, and the turn of the last ``end_of_turn`` has its metrics (a
    barged-in turn's metrics come right after the next ``speech_start``, before its end)."""
    last = {k: -1 for k in ("speech_start", "end_of_turn", "turn_metrics")}
    for i, kind in enumerate(kinds):
        if kind in last:
            last[kind] = i
    in_speech = last["speech_start"] > last["end_of_turn"]
    return not in_speech and last["turn_metrics"] >= last["end_of_turn"]


async def pump_events(
    client: VoiceClient,
    sender: asyncio.Task,
    handle: Callable[[dict[str, Any]], None],
    *,
    until: Callable[[], bool] = lambda: False,
    drain_timeout_s: float = 90.0,
) -> bool:
    """Hand events to ``handle`` while ``sender`` streams, then until the open turn is done
    (or ``until()``). False when it gave up ``drain_timeout_s`` after the sender ended. Always
    cancels ``sender`` on the way out; re-raises what stopped it."""
    kinds: list[str] = []
    waiter: asyncio.Task | None = None
    deadline: float | None = None
    try:
        while not until():
            if sender.done():
                sender.result()
                if turns_done(kinds):
                    return True
                deadline = deadline or time.monotonic() + drain_timeout_s
            waiter = waiter or asyncio.create_task(next_event(client))
            watch = {waiter} if sender.done() else {waiter, sender}
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            await asyncio.wait(watch, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            if waiter.done():
                event, waiter = waiter.result(), None
                kinds.append(event["type"])
                handle(event)
            elif deadline is not None and time.monotonic() >= deadline:
                return False
        return True
    finally:
        for task in (waiter, sender):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


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
            await _stop(client, record)
        result.audio_frames = [((t - t0) * 1000, n) for t, n in client.log.audio_chunks]
        result.answer_audio = client.log.answer_audio
    return result


async def _stop(client: VoiceClient, record: Callable[[dict[str, Any]], None]) -> None:
    """Send ``stop`` and keep recording until the server closes (it drains first)."""
    try:
        await client.ws.send(json.dumps({"type": "stop"}))

        async def drain() -> None:
            async for event in client.events():
                record(event)

        await asyncio.wait_for(drain(), 5)
    except (TimeoutError, websockets.ConnectionClosed):
        pass


def decode_all(paths: Sequence[str | Path]) -> list[np.ndarray]:
    """Decode every file up front, so a bad file fails the batch before anything is sent."""
    decoded = []
    for path in paths:
        try:
            decoded.append(decode_file(path, 16000))
        except (av.FFmpegError, OSError, ValueError, IndexError) as exc:
            raise ClientError(f"cannot decode {path}: {exc}") from exc
    return decoded


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
