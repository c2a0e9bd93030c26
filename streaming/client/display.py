"""One human line per server event worth showing, for the replay and microphone consoles."""

from __future__ import annotations

from typing import Any

from streaming.events import (
    AnswerDelta,
    FinalTranscript,
    Interrupted,
    ToolCall,
    ToolCancelled,
    ToolResultEvent,
    ToolReused,
    TurnMetrics,
)
from streaming.events import Error as ErrorEvent


def partial_line(stable: str, tail: str) -> str:
    """``... stable [tail]``: the agreed prefix, then the part that may still change."""
    return " ".join(x for x in ("...", stable, f"[{tail}]" if tail else "") if x)


def describe_event(event: dict[str, Any]) -> str | None:
    """One human line for the events worth showing (partials are drawn separately)."""
    kind = event["type"]
    if kind == FinalTranscript.type:
        return f"you: {event['text']}"
    if kind == ToolCall.type:
        spec = " (speculative)" if event.get("speculative") else ""
        return f"  tool {event['tool']}({event['query']!r}){spec}"
    if kind == ToolResultEvent.type:
        if event.get("error"):
            return f"  tool {event['id']} failed: {event['error']}"
        return f"  tool {event['id']}: {len(event.get('results') or [])} results in {event.get('elapsed_ms', 0):.0f} ms"
    if kind == ToolCancelled.type:
        return f"  tool {event['id']} cancelled ({event.get('reason')})"
    if kind == ToolReused.type:
        return f"  tool {event['id']} reused for {event.get('final_query')!r}"
    if kind == AnswerDelta.type:
        return f"assistant: {event['text'].strip()}"
    if kind == Interrupted.type:
        return f"[interrupted: {event.get('dropped_audio_ms', 0)} ms of answer audio dropped]"
    if kind == TurnMetrics.type:
        m = event["metrics"]
        latency = m.get("speech_end_to_first_audio_ms")
        shown = f"{latency:.0f} ms" if latency is not None else "n/a"
        return f"[turn {event['turn']}: speech end -> first answer audio {shown}]"
    if kind == ErrorEvent.type:
        return f"[server error {event.get('code')}: {event.get('message')}]"
    return None
