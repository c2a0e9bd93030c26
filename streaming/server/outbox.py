"""The outgoing side of a session: one ordered queue to the websocket, real-time audio pacing,
and instant flushing of answer data on barge-in.

Data items carry the answer *generation* they belong to; ``flush()`` bumps the generation, so
everything still queued for the interrupted answer is dropped, while system events always go out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from streaming.events import Event

log = logging.getLogger(__name__)
AUDIO_CHUNK_MS = 80
AUDIO_LEAD_MS = 240  # how far audio may run ahead of real-time playback at the client


class Outbox:
    def __init__(self, ws: web.WebSocketResponse, max_items: int = 4096) -> None:
        self.ws = ws
        self.generation = 0
        self._queue: asyncio.Queue[tuple[int | None, Any]] = asyncio.Queue(max_items)
        self._playback_end = 0.0  # monotonic time when audio sent so far finishes playing
        self.first_audio_at: float | None = None  # wall time the current answer's first audio left
        # the same, for audio of the answer itself (not a spoken acknowledgement before it)
        self.first_answer_audio_at: float | None = None
        self.closed = False
        # False for clients that buffer (evaluation, files): audio goes out as fast as it is made.
        self.pace = True
        self.gone = asyncio.Event()  # set when the client can no longer be written to
        self.observer: Callable[[Event], None] | None = None  # sees every event (metrics)

    # --- producers ----------------------------------------------------------------------
    def send(self, event: Event, generation: int | None = None) -> None:
        """Queue an event. Data events must name the answer generation they belong to."""
        if self.observer is not None:
            self.observer(event)
        if self.closed:
            return
        gen = None if event.system else (self.generation if generation is None else generation)
        self._put((gen, event))

    def send_audio(self, pcm16: bytes, rate: int, generation: int, answer: bool = True) -> None:
        """Queue answer audio; ``answer=False`` for an acknowledgement ("Let me check."), which
        is dropped on barge-in the same way but does not count as the answer's first audio."""
        if self.closed:
            return
        step = rate * AUDIO_CHUNK_MS // 1000 * 2
        for i in range(0, len(pcm16), step):
            self._put((generation, (pcm16[i : i + step], rate, answer)))

    def _put(self, item: tuple[int | None, Any]) -> None:
        if self._queue.full():  # a client that stopped reading: drop data, keep system events
            if item[0] is not None or not self._evict_data():
                return self._give_up() if item[0] is None else None
        self._queue.put_nowait(item)

    def _evict_data(self) -> bool:
        """Drop every queued answer item to make room for a system event; False if none."""
        kept, dropped = [], 0
        while not self._queue.empty():
            entry = self._queue.get_nowait()
            self._queue.task_done()
            if entry[0] is None:
                kept.append(entry)
            else:
                dropped += 1
        for entry in kept:
            self._queue.put_nowait(entry)
        return dropped > 0

    def _give_up(self) -> None:
        """The queue is full of system events the client never read: stop writing to it."""
        self.closed = True
        self.gone.set()

    def flush(self) -> int:
        """Drop queued answer data; returns milliseconds of audio that will never play."""
        self.generation += 1
        unplayed = max(0.0, self._playback_end - time.monotonic())
        self._playback_end = time.monotonic()
        return int(unplayed * 1000)

    def new_answer(self) -> int:
        self.generation += 1
        self.first_audio_at = self.first_answer_audio_at = None
        return self.generation

    @property
    def playing(self) -> bool:
        """True while the client is (by our clock) still playing answer audio."""
        return time.monotonic() < self._playback_end

    async def drained(self) -> None:
        """Wait until every queued item is sent, or the client is gone (then nothing will be)."""
        if self.gone.is_set():
            return
        joined = asyncio.ensure_future(self._queue.join())
        gone = asyncio.ensure_future(self.gone.wait())
        try:
            await asyncio.wait({joined, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            joined.cancel()
            gone.cancel()

    # --- consumer -----------------------------------------------------------------------
    async def run(self) -> None:
        """Send queued items in order until cancelled or the client cannot be written to."""
        try:
            while True:
                gen, item = await self._queue.get()
                try:
                    if gen is not None and gen != self.generation:
                        continue
                    if isinstance(item, Event):
                        await self.ws.send_str(json.dumps(item.to_json()))
                    else:
                        await self._send_audio_chunk(*item, gen)
                finally:
                    self._queue.task_done()
        except (ConnectionError, RuntimeError) as exc:  # closed or reset under us
            log.info("outbox stopped: %s", exc)
        finally:
            self.closed = True
            self.gone.set()

    async def _send_audio_chunk(
        self, chunk: bytes, rate: int, answer: bool, gen: int | None
    ) -> None:
        now = time.monotonic()
        ahead = self._playback_end - now
        if self.pace and ahead > AUDIO_LEAD_MS / 1000:
            await asyncio.sleep(ahead - AUDIO_LEAD_MS / 1000)  # pace to real time
            if gen != self.generation:
                return
            now = time.monotonic()
        await self.ws.send_bytes(chunk)
        if self.first_audio_at is None:
            self.first_audio_at = time.monotonic()
        if answer and self.first_answer_audio_at is None:
            self.first_answer_audio_at = time.monotonic()
        self._playback_end = max(self._playback_end, now) + len(chunk) / 2 / rate
