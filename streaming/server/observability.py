"""Operations: Prometheus metrics at ``/metrics`` and JSON-lines logs that carry session and turn ids.

Metrics are fed by the events a session sends (every event passes through its outbox, which calls
``Observability.on_event``): ``ready`` opens a session, ``tool_call`` / ``tool_reused`` /
``tool_cancelled`` count speculative calls, ``error`` counts by code, and each ``turn_metrics``
record counts the turn and feeds the stage-latency histograms. Each app has its own
``CollectorRegistry``, so several servers in one process (the tests) never collide.

Logs: ``bind_session`` / ``bind_turn`` put ids in context variables, which asyncio copies into
every task a session starts; ``JsonFormatter`` writes one JSON object per record with them.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from streaming.events import Error, Event, Ready, ToolCall, ToolCancelled, ToolReused, TurnMetrics

# seconds; a spoken turn's first audio lands around 1-3 s on two cores, tools wait up to 4 s
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 15.0)
# turn_metrics key (milliseconds) -> histogram stage label
STAGES = {
    "speech_end_to_first_audio_ms": "speech_end_to_first_audio",
    "first_audio_ms": "end_of_turn_to_first_audio",
    "end_of_turn_wait_ms": "end_of_turn_wait",
    "asr_final_ms": "asr_final",
    "tool_wait_ms": "tool_wait",
    "llm_first_sentence_ms": "first_sentence",
}
SPOKEN_ONLY = {"asr_final_ms", "end_of_turn_wait_ms", "speech_end_to_first_audio_ms"}


class Observability:
    """The metrics of one server app."""

    def __init__(self, open_sessions: Callable[[], int] = lambda: 0) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.sessions_open = Gauge("streamrag_sessions_open", "open sessions", registry=r)
        self.sessions_open.set_function(lambda: float(open_sessions()))
        self.sessions = Counter("streamrag_sessions", "sessions started", registry=r)
        self.turns = Counter("streamrag_turns", "finished turns", ["kind", "outcome"], registry=r)
        self.answers = Counter("streamrag_answers", "answers by source", ["source"], registry=r)
        self.errors = Counter("streamrag_errors", "error events by code", ["code"], registry=r)
        self.speculative = Counter(
            "streamrag_speculative_calls",
            "speculative tool calls: fired, reused at end of turn, wasted (done, unused), cancelled",
            ["tool", "outcome"],
            registry=r,
        )
        self.final_calls = Counter(
            "streamrag_final_calls", "tool calls fired after the end of turn", ["tool"], registry=r
        )
        self.stage = Histogram(
            "streamrag_stage_seconds",
            "per-turn stage latencies (docs/protocol.md, turn_metrics)",
            ["stage"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._call_tools: dict[str, str] = {}  # call id -> tool, for reuse and cancellation

    def on_event(self, event: Event) -> None:
        """Count one event a session sends (called by its outbox). Never raises."""
        try:
            self._count(event)
        except Exception:  # metrics must never break a session
            logging.getLogger(__name__).exception("metrics: %s", event.type)

    def _count(self, event: Event) -> None:
        if isinstance(event, TurnMetrics):
            self.observe_turn(event.metrics)
        elif isinstance(event, ToolCall):
            if event.speculative:
                self._call_tools[event.id] = event.tool
                self.speculative.labels(event.tool, "fired").inc()
            else:
                self.final_calls.labels(event.tool).inc()
        elif isinstance(event, ToolReused):
            self.speculative.labels(self._call_tools.get(event.id, "?"), "reused").inc()
        elif isinstance(event, ToolCancelled):
            tool = self._call_tools.pop(event.id, None)
            if tool is not None:  # final calls cancelled by a new turn are not speculation
                self.speculative.labels(tool, "cancelled").inc()
        elif isinstance(event, Error):
            self.errors.labels(event.code).inc()
        elif isinstance(event, Ready):
            self.sessions.inc()
        if len(self._call_tools) > 10_000:  # ids of long-finished calls: forget the oldest
            for key in list(self._call_tools)[:5_000]:
                del self._call_tools[key]

    def observe_turn(self, m: dict[str, Any]) -> None:
        """One ``turn_metrics.metrics`` record: the turn, its answer, wasted calls, latencies."""
        kind = "typed" if m.get("typed") else "spoken"
        if m.get("error"):
            outcome = "failed"
        elif m.get("interrupted"):
            outcome = "interrupted"
        else:
            outcome = "answered" if m.get("answer") else "silent"
        self.turns.labels(kind, outcome).inc()
        if m.get("answer_source") and outcome == "answered":
            self.answers.labels(m["answer_source"]).inc()
        if m.get("wasted"):
            self.speculative.labels("any", "wasted").inc(m["wasted"])
        for key, stage in STAGES.items():
            value = m.get(key)
            if value is None or (kind == "typed" and key in SPOKEN_ONLY):
                continue
            if isinstance(value, int | float) and value >= 0:
                self.stage.labels(stage).observe(value / 1000)

    async def handler(self, request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# --- logs ----------------------------------------------------------------------------------
SESSION_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("session", default=None)
TURN_ID: contextvars.ContextVar[int | None] = contextvars.ContextVar("turn", default=None)


def bind_session(session_id: str) -> None:
    """Tag this task's log records (and those of every task it starts) with the session id."""
    SESSION_ID.set(session_id)


def bind_turn(turn: int) -> None:
    """Tag this task's log records (a turn's task and what it starts) with the turn number."""
    TURN_ID.set(turn)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, session, turn (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        session, turn = SESSION_ID.get(), TURN_ID.get()
        if session is not None:
            out["session"] = session
        if turn is not None:
            out["turn"] = turn
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is at the time of each record, so
    a stream swapped out (and closed) after set-up, as pytest's capture does, is never written."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # noqa: ANN001
        pass


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Configure the root logger: plain text lines, or JSON lines (``fmt="json"``)."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log_format must be text or json, not {fmt!r}")
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
