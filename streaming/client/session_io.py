"""Run one client session: open it, pump its events until the open turn is done, stop it.

What the replay and microphone clients share, besides the event formatting in
:mod:`streaming.client.display`: :func:`open_client`, :func:`pump_events`, :func:`stop_session`,
the up-front decoding of input files, and :class:`ClientError` for every problem worth one line
to the user.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import Any

import av
import numpy as np
import websockets

from streaming.client.connection import VoiceClient
from streaming.events import EndOfTurn, SpeechStart, TurnMetrics
from streaming.events import Error as ErrorEvent
from streaming.protocol import stop_message
from voice.audio import decode_file


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
        errors = [e for e in client.log.events if e.get("type") == ErrorEvent.type]
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


async def next_event(client: VoiceClient) -> dict[str, Any]:
    """The next event; ``ConnectionError`` once the server has closed the session."""
    async with aclosing(client.events()) as events:
        async for event in events:
            return event
    raise ConnectionError("the server closed the session")


def turns_done(kinds: Sequence[str]) -> bool:
    """No speech in progress, and the turn of the last ``end_of_turn`` has its metrics (a
    barged-in turn's metrics come right after the next ``speech_start``, before its end)."""
    last = {k: -1 for k in (SpeechStart.type, EndOfTurn.type, TurnMetrics.type)}
    for i, kind in enumerate(kinds):
        if kind in last:
            last[kind] = i
    in_speech = last[SpeechStart.type] > last[EndOfTurn.type]
    return not in_speech and last[TurnMetrics.type] >= last[EndOfTurn.type]


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


async def stop_session(client: VoiceClient, record: Callable[[dict[str, Any]], None]) -> None:
    """Send ``stop`` and keep recording until the server closes (it drains first)."""
    try:
        await client.ws.send(stop_message())

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
