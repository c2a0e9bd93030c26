"""Typed server -> client events (the wire protocol is in docs/protocol.md).

*System* events are never dropped. *Data* events (answer text, answer audio) belong to one answer
and are dropped when the user interrupts it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Event:
    type: ClassVar[str] = "event"
    system: ClassVar[bool] = True

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **dataclasses.asdict(self)}


@dataclass
class Ready(Event):
    type: ClassVar[str] = "ready"
    session_id: str
    input_sample_rate: int
    output_sample_rate: int
    strategy: str
    asr_model: str
    llm_backend: str


@dataclass
class SpeechStart(Event):
    type: ClassVar[str] = "speech_start"
    audio_ms: int


@dataclass
class EndOfTurn(Event):
    type: ClassVar[str] = "end_of_turn"
    audio_ms: int
    speech_end_ms: int
    reason: str = ""  # why the end-of-turn policy ended it (voice/endpoint.py)


@dataclass
class PartialTranscript(Event):
    type: ClassVar[str] = "partial"
    stable: str
    tail: str
    audio_ms: int


@dataclass
class FinalTranscript(Event):
    type: ClassVar[str] = "final"
    text: str
    audio_ms: int


@dataclass
class ToolCall(Event):
    type: ClassVar[str] = "tool_call"
    id: str
    tool: str
    query: str
    speculative: bool
    audio_ms: int


@dataclass
class ToolResultEvent(Event):
    type: ClassVar[str] = "tool_result"
    id: str
    tool: str
    elapsed_ms: float
    results: list[dict] = field(default_factory=list)
    error: str | None = None


@dataclass
class ToolCancelled(Event):
    type: ClassVar[str] = "tool_cancelled"
    id: str
    reason: str


@dataclass
class ToolReused(Event):
    type: ClassVar[str] = "tool_reused"
    id: str
    query: str
    final_query: str


@dataclass
class AnswerDelta(Event):
    type: ClassVar[str] = "answer_delta"
    system: ClassVar[bool] = False
    text: str
    source: str
    answer: int = 0  # the answer generation: the binary audio frames after it belong to it


@dataclass
class AnswerDone(Event):
    type: ClassVar[str] = "answer_done"
    system: ClassVar[bool] = False
    text: str
    audio_ms: int
    answer: int = 0
    complete: bool = True  # False: a stage failed mid-answer (an error event follows)


@dataclass
class Interrupted(Event):
    type: ClassVar[str] = "interrupted"
    audio_ms: int
    dropped_audio_ms: int


@dataclass
class TurnMetrics(Event):
    type: ClassVar[str] = "turn_metrics"
    turn: int
    metrics: dict[str, Any]


@dataclass
class Error(Event):
    type: ClassVar[str] = "error"
    code: str
    message: str
