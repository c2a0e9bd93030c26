"""Talk to the server live: stream an audio source in, play and print what comes back.

The devices are in :mod:`streaming.client.devices`; with a file source and a buffer sink the same
loop runs in tests.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import websockets

from streaming.client.connection import VoiceClient
from streaming.client.devices import AudioSink, AudioSource
from streaming.client.display import describe_event, partial_line
from streaming.client.session_io import ClientError, open_client, pump_events
from streaming.events import (
    AnswerDone,
    FinalTranscript,
    Interrupted,
    PartialTranscript,
    ToolCall,
    TurnMetrics,
)
from voice.audio import float32_to_pcm16

log = logging.getLogger(__name__)


@dataclass
class MicSummary:
    """What a conversation amounted to, tallied from its events."""

    turns: int = 0
    finals: list[str] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    tool_calls: list[str] = field(default_factory=list)
    interruptions: int = 0
    latencies_ms: list[float | None] = field(default_factory=list)
    audio_bytes: int = 0


async def _stream(client: VoiceClient, source: AudioSource) -> None:
    """Send every chunk of ``source`` as PCM16; close the source however this ends."""
    chunks = source.__aiter__()
    try:
        async for chunk in chunks:
            await client.ws.send(float32_to_pcm16(chunk))
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()


def _show(printer: Callable[[str], object], event: dict[str, Any]) -> None:
    """Print the event's line; a printer with ``partial()`` draws partial transcripts itself."""
    if event["type"] == PartialTranscript.type:
        partial = getattr(printer, "partial", None)
        if partial is not None:
            partial(event["stable"], event["tail"])
        else:
            printer(partial_line(event["stable"], event["tail"]))
        return
    line = describe_event(event)
    if line is not None:
        printer(line)


def _tally(event: dict[str, Any], summary: MicSummary, sink: AudioSink) -> None:
    """Count the event into ``summary``; on barge-in, drop what ``sink`` has not played."""
    kind = event["type"]
    if kind == Interrupted.type:
        sink.flush()  # barge-in: what is queued must not play
        summary.interruptions += 1
    elif kind == FinalTranscript.type:
        summary.finals.append(event["text"])
    elif kind == ToolCall.type:
        summary.tool_calls.append(event["query"])
    elif kind == AnswerDone.type:
        summary.answers.append(event["text"])
    elif kind == TurnMetrics.type:
        summary.turns += 1
        summary.latencies_ms.append(event["metrics"].get("speech_end_to_first_audio_ms"))


async def run_mic(
    url: str,
    source: AudioSource,
    sink: AudioSink,
    *,
    options: dict[str, Any] | None = None,
    printer: Callable[[str], object] = print,
    stop_after_turns: int | None = None,
    drain_timeout_s: float = 60.0,
) -> MicSummary:
    """Stream ``source`` until it ends (then finish the open turn) or ``stop_after_turns``."""
    summary = MicSummary()

    def play(pcm16: bytes) -> None:
        summary.audio_bytes += len(pcm16)
        sink.write(pcm16)

    def handle(event: dict[str, Any]) -> None:
        _show(printer, event)
        _tally(event, summary, sink)
        if event["type"] == TurnMetrics.type:
            client.new_turn()  # keep memory flat over a long conversation

    def enough() -> bool:
        return stop_after_turns is not None and summary.turns >= stop_after_turns

    async with open_client(url, output_sample_rate=sink.rate, options=options) as client:
        sink.start()
        client.on_audio = play
        sender = asyncio.create_task(_stream(client, source))
        try:
            if not await pump_events(
                client, sender, handle, until=enough, drain_timeout_s=drain_timeout_s
            ):
                log.warning("gave up on the last turn after %.0f s", drain_timeout_s)
        except (ConnectionError, websockets.ConnectionClosed) as exc:
            raise ClientError(f"lost the session: {exc}") from exc
        finally:
            client.on_audio = None
            await asyncio.to_thread(sink.close)
    return summary
