"""The record of one turn: timestamps and facts marked as it runs, turned into ``turn_metrics``.

Wall-clock marks (``time.monotonic()``) give latencies; audio-time marks (ms of audio received)
say where in the stream speech ended and the turn was decided. See docs/protocol.md for the keys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TurnMarks:
    eot: float = field(default_factory=time.monotonic)  # end of turn (or a typed question)
    typed: bool = False
    speech_end_ms: int | None = None  # audio time of the last voiced sample
    eot_ms: int | None = None  # audio time of the VAD's decision
    eot_reason: str = ""  # why the end-of-turn policy decided then
    final: float | None = None
    tentative_final_reused: bool | None = None
    asr_decode_ms: float | None = None  # the final model's decode (wall, queue included)
    retrieved: float | None = None
    tool_wait_ms: float = 0.0
    query: str | None = None
    lookup: dict[str, Any] = field(default_factory=dict)  # calls, cancelled, wasted, reuse ...
    first_sentence: float | None = None
    answer_source: str | None = None
    answer: str = ""
    preempted: bool = False
    preempt_commit: str | None = None  # "answer" (text and audio) | "audio" (first audio only)
    preempt_discarded_cpu_ms: float = 0.0  # CPU spent on preparations thrown away (session)
    acknowledged: bool = False  # a spoken acknowledgement played before the answer
    first_answer_audio: float | None = None  # wall time the answer's own first audio left
    reuse_differs: bool | None = None
    interrupted: bool = False
    error: str | None = None  # the exception that ended the turn, if one did


def _ms(end: float | None, start: float | None) -> float | None:
    return round((end - start) * 1000, 1) if end is not None and start is not None else None


def turn_metrics(
    marks: TurnMarks,
    first_audio_at: float | None,
    strategy: str,
    preempt_started: int,
    preempt_discarded: int,
) -> dict[str, Any]:
    """The ``turn_metrics.metrics`` object of a finished (or interrupted) turn."""
    eot = marks.eot
    first_audio = first_audio_at if marks.first_sentence is not None or marks.acknowledged else None
    # without an acknowledgement the first audio is the answer's
    first_answer = marks.first_answer_audio if marks.acknowledged else first_audio
    final = marks.final if marks.final is not None else eot
    wait = marks.eot_ms - marks.speech_end_ms if marks.eot_ms is not None else None
    stats = marks.lookup
    metrics: dict[str, Any] = {
        "typed": marks.typed,
        "speech_end_ms": marks.speech_end_ms,
        "end_of_turn_ms": marks.eot_ms,
        "end_of_turn_wait_ms": wait,
        "end_of_turn_reason": marks.eot_reason or None,
        "asr_final_ms": _ms(marks.final, eot),
        "tentative_final_reused": marks.tentative_final_reused,
        "asr_decode_ms": round(marks.asr_decode_ms, 1) if marks.asr_decode_ms else None,
        "retrieval_ms": _ms(marks.retrieved, final),
        "tool_wait_ms": round(marks.tool_wait_ms, 1),
        "llm_first_sentence_ms": _ms(
            marks.first_sentence, marks.retrieved if marks.retrieved is not None else eot
        ),
        "first_audio_ms": _ms(first_audio, eot),
        "first_answer_audio_ms": _ms(first_answer, eot),
        "acknowledged": marks.acknowledged,
        "answer_source": marks.answer_source,
        "answer": marks.answer,
        "query": marks.query,
        "calls": stats.get("calls", 0),
        "speculative_calls": stats.get("speculative_calls", 0),
        "cancelled": stats.get("cancelled", 0),
        "wasted": stats.get("wasted", 0),
        "hedged": stats.get("hedged", 0),
        "reuse": stats.get("reuse"),
        "covering": stats.get("covering", 0),  # search calls that together held the documents
        "reuse_differs": marks.reuse_differs,
        "strategy": strategy,
        "interrupted": marks.interrupted,
        "error": marks.error,
        "preempted": marks.preempted,
        "preempt_started": preempt_started,
        "preempt_discarded": preempt_discarded,
        "preempt_commit": marks.preempt_commit,
        "preempt_discarded_cpu_ms": round(marks.preempt_discarded_cpu_ms, 1),
    }
    for key in ("first_audio", "first_answer_audio"):
        if metrics[f"{key}_ms"] is not None and wait is not None:
            metrics[f"speech_end_to_{key}_ms"] = round(metrics[f"{key}_ms"] + wait, 1)
    return metrics
