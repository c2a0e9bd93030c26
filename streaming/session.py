"""One voice session per websocket: the whole pipeline's shape is in this file.

    audio frames ─▶ resample 16 kHz ─▶ VAD (TurnDetector) ─▶ StreamingTranscriber ─partial─▶ Lookup
                                          │ end_of_turn                 │ final            (speculative
                                          ▼                             ▼                   tool calls)
                                        _turn() ──▶ Lookup.resolve ──▶ Answerer ──sentences──▶ TTS
                                                                                               │
    client ◀── Outbox (system events always; answer data dropped on barge-in) ◀── PCM16 ◀──────┘

Listening (VAD, ASR) runs inline on every frame and never waits for the answer; the answer is one
task per turn that barge-in cancels.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import TypeVar

import numpy as np
from aiohttp import WSMsgType, web

from tools.text import is_dismissal
from voice.asr import Partial, StreamingTranscriber
from voice.audio import ASR_RATE, StreamResampler, float32_to_pcm16, pcm16_to_float32, resample
from voice.vad import FRAME, FRAME_MS, TurnDetector, VadEvent

from .config import Config
from .engine import Engine
from .events import (
    AnswerDelta,
    AnswerDone,
    EndOfTurn,
    Error,
    Event,
    FinalTranscript,
    Interrupted,
    PartialTranscript,
    Ready,
    SpeechStart,
    TurnMetrics,
)
from .lookup import Lookup
from .outbox import Outbox
from .predictor import apply_corrections
from .preempt import Preemptor
from .protocol import ProtocolError, Start, Stop, Text, parse_text_message
from .toolset import ToolSet

log = logging.getLogger(__name__)
T = TypeVar("T")


async def _replay(items: list[T]) -> AsyncIterator[T]:
    for item in items:
        yield item


class RateLimiter:
    """Token bucket in milliseconds of audio: bursts up to ``burst_ms``, refills at ``rate``x."""

    def __init__(self, rate: float, burst_ms: float = 3000) -> None:
        self.rate, self.burst = rate, burst_ms
        self.tokens, self.t = burst_ms, time.monotonic()

    def allow(self, cost_ms: float) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * 1000 * self.rate)
        self.t = now
        if self.tokens < cost_ms:
            return False
        self.tokens -= cost_ms
        return True


class Session:
    def __init__(
        self, engine: Engine, ws: web.WebSocketResponse, config: Config, tools: ToolSet
    ) -> None:
        self.engine = engine
        self.toolset = tools
        self.ws = ws
        self.config = config
        self.id = uuid.uuid4().hex[:8]
        self.outbox = Outbox(ws)
        self.started = False
        self.stopping = False
        self.turns = 0
        self._turn_task: asyncio.Task | None = None
        self._limiter = RateLimiter(config.max_audio_rate)
        self._last_error: dict[str, float] = {}

    # --- websocket loop ------------------------------------------------------------------
    async def run(self) -> None:
        sender = asyncio.create_task(self.outbox.run(), name=f"outbox-{self.id}")
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text_frame(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._on_audio(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
                if self.stopping:
                    await self._cancel_turn()
                    await self.outbox.drained()
                    await self.ws.close()
                    break
        finally:
            self.outbox.closed = True
            await self._cancel_turn()
            if self.started:
                self.transcriber.cancel()
                self.preemptor.cancel()
                self.lookup.close()
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    def error(self, code: str, message: str, throttle_s: float = 0.0) -> None:
        now = time.monotonic()
        if throttle_s and now - self._last_error.get(code, -1e9) < throttle_s:
            return
        self._last_error[code] = now
        log.info("session %s error %s: %s", self.id, code, message)
        self.outbox.send(Error(code, message))

    def emit(self, event: Event) -> None:
        self.outbox.send(event)

    # --- client messages -----------------------------------------------------------------
    def _on_text_frame(self, raw: str) -> None:
        if len(raw) > self.config.max_frame_bytes:
            return self.error(
                "frame_too_large", f"text frame over {self.config.max_frame_bytes} bytes"
            )
        try:
            msg = parse_text_message(raw)
        except ProtocolError as exc:
            return self.error(exc.code, exc.message)
        if isinstance(msg, Start):
            self._on_start(msg)
        elif isinstance(msg, Text):
            self._on_typed(msg.text)
        elif isinstance(msg, Stop):
            self.stopping = True

    def _on_start(self, start: Start) -> None:
        if self.started:
            return self.error("already_started", "send start once per connection")
        opts = start.options
        self.strategy = opts.get("strategy") or self.config.strategy
        self.in_rate = start.sample_rate
        self.out_rate = start.output_sample_rate or self.config.output_sample_rate
        self.resampler = StreamResampler(self.in_rate, ASR_RATE)
        self.pending = np.zeros(0, np.float32)
        self.vad = self.engine.vad.new_stream()
        self.detector = TurnDetector(
            self.config.vad_threshold,
            self.config.vad_neg_threshold,
            int(opts.get("end_of_turn_ms", self.config.end_of_turn_ms)),
            self.config.min_speech_ms,
            self.config.early_final_ms,
        )
        pad_frames = (self.config.speech_pad_ms + self.config.min_speech_ms) // FRAME_MS + 1
        self.preroll: collections.deque[np.ndarray] = collections.deque(maxlen=pad_frames)
        self.transcriber = StreamingTranscriber(
            self.engine.asr,
            self._on_partial,
            self.config.partial_interval_ms,
            self.config.final_beam_size,
        )
        try:  # "evidence": CRAG Task 1, search this question's own pages only
            evidence = opts.get("evidence")
            chosen = self.toolset.for_session(str(evidence) if evidence else None)
        except ValueError as exc:
            self.error("unknown_evidence", f"{exc}; using the server's own tools")
            chosen = self.toolset.for_session()
        self.lookup = Lookup(
            chosen.tools,
            self.emit,
            self.strategy,
            self.config.tool_deadline_ms / 1000,
            kg_parse=chosen.kg_parse,
            same_results=chosen.same_results,
            max_parallel=self.config.max_parallel_calls,
            audit=bool(opts.get("audit", False)),
        )
        self.preemptor = Preemptor(self.engine, self.lookup)
        self.preemptive = bool(opts.get("preemptive", self.config.preemptive_answer))
        self.outbox.pace = bool(opts.get("pace_audio", True))
        self._hypothesis = ""
        self.started = True
        self.emit(
            Ready(
                self.id,
                self.in_rate,
                self.out_rate,
                self.strategy,
                self.engine.asr.name,
                self.config.llm_backend,
            )
        )

    def _on_audio(self, data: bytes) -> None:
        if not self.started:
            return self.error("not_started", "send a start message before audio", 1.0)
        if len(data) > self.config.max_frame_bytes:
            return self.error(
                "frame_too_large", f"audio frame over {self.config.max_frame_bytes} bytes"
            )
        if len(data) % 2:
            return self.error("bad_audio", "PCM16 frames need an even number of bytes")
        duration_ms = len(data) / 2 / self.in_rate * 1000
        if not self._limiter.allow(max(duration_ms, 2.0)):
            return self.error(
                "rate_limited",
                f"audio arrives faster than {self.config.max_audio_rate}x real time; frames dropped",
                1.0,
            )
        samples = self.resampler.push(pcm16_to_float32(data))
        self.pending = np.concatenate([self.pending, samples])
        while self.pending.size >= FRAME:
            frame, self.pending = self.pending[:FRAME], self.pending[FRAME:]
            self._on_frame(frame)

    def _on_frame(self, frame: np.ndarray) -> None:
        events = self.detector.update(self.vad.prob(frame))
        self.preroll.append(frame)
        if self.detector.in_speech and self.transcriber.active:
            self.transcriber.push(frame)
        for event in events:
            self._on_vad(event)

    def _on_vad(self, event: VadEvent) -> None:
        if event.kind == "speech_start":
            if self._answer_active():
                self._interrupt(event.audio_ms)
            self.preemptor.cancel()
            self.lookup.reset()
            self._hypothesis = ""
            preroll = np.concatenate(list(self.preroll))
            self.transcriber.start_turn(preroll, event.audio_ms - len(preroll) * 1000 // ASR_RATE)
            self.emit(SpeechStart(event.speech_ms))
        elif event.kind == "pause":
            self.transcriber.pause(event.speech_ms)
            if self.preemptive and self._hypothesis:
                self.preemptor.start(self._hypothesis)
        elif event.kind == "resume":
            self.transcriber.resume()
            self.preemptor.cancel()
        elif event.kind == "end_of_turn":
            self.emit(EndOfTurn(event.audio_ms, event.speech_ms))
            marks = {
                "eot": time.monotonic(),
                "speech_end_ms": event.speech_ms,
                "eot_ms": event.audio_ms,
            }
            self._turn_task = asyncio.create_task(self._spoken_turn(marks))

    async def _on_partial(self, partial: Partial) -> None:
        self.emit(PartialTranscript(partial.stable, partial.tail, partial.audio_ms))
        self._hypothesis = f"{partial.stable} {partial.tail}".strip()
        self.lookup.on_partial(self._hypothesis, partial.audio_ms)

    def _on_typed(self, text: str) -> None:
        if not self.started:
            return self.error("not_started", "send a start message first")
        if self._answer_active():
            self._interrupt(self.detector.audio_ms)
        self.lookup.reset()
        marks = {"eot": time.monotonic(), "typed": True}
        self._turn_task = asyncio.create_task(self._respond(text, marks))

    # --- the turn ------------------------------------------------------------------------
    async def _spoken_turn(self, marks: dict) -> None:
        try:
            text, reused = await self.transcriber.finish()
        except asyncio.CancelledError:  # barge-in before the final: the turn still reports
            marks["interrupted"] = True
            self._send_metrics(marks)
            raise
        marks["final"] = time.monotonic()
        marks["tentative_final_reused"] = reused
        self.emit(FinalTranscript(text, marks["eot_ms"]))
        if is_dismissal(text):  # "stop", "wait", "thanks", silence: stay quiet
            return self._send_metrics(marks)
        await self._respond(text, marks)

    async def _respond(self, question: str, marks: dict) -> None:
        try:
            await self._answer(question, marks)
        except asyncio.CancelledError:
            marks["interrupted"] = True
            self._send_metrics(marks)
            raise

    async def _answer(self, question: str, marks: dict) -> None:
        marks.setdefault("final", marks["eot"])
        generation = self.outbox.new_answer()
        question = apply_corrections(question)  # "austria, no, australia" asks about australia
        outcome = await self.lookup.resolve(question, self.detector.audio_ms)
        marks["retrieved"] = time.monotonic()
        marks["tool_wait_ms"] = outcome.tool_wait_ms
        marks["query"] = outcome.query
        marks.update(outcome.stats)
        prepared = await self.preemptor.take(question, outcome.hits)
        marks["preempted"] = prepared is not None
        sentences = (
            _replay(prepared.sentences)
            if prepared
            else self.engine.answerer.answer(question, outcome.hits)
        )
        spoken, audio_ms = [], 0
        async for sentence in sentences:
            marks.setdefault("first_sentence", time.monotonic())
            marks["answer_source"] = sentence.source
            self.outbox.send(AnswerDelta(sentence.text + " ", sentence.source), generation)
            if prepared and not spoken and prepared.first_audio:
                pieces = _replay(prepared.first_audio)
            else:
                pieces = self.engine.tts.stream(sentence.text)
            spoken.append(sentence.text)
            async for audio in pieces:
                pcm = float32_to_pcm16(resample(audio, self.engine.tts.rate, self.out_rate))
                self.outbox.send_audio(pcm, self.out_rate, generation)
                audio_ms += len(pcm) * 500 // self.out_rate
        self.outbox.send(AnswerDone(" ".join(spoken), audio_ms), generation)
        await self.outbox.drained()
        if outcome.audit is not None:
            try:
                marks["reuse_differs"] = await asyncio.wait_for(
                    outcome.audit, self.config.tool_deadline_ms / 1000
                )
            except TimeoutError:
                marks["reuse_differs"] = None
        marks["answer"] = " ".join(spoken)
        self._send_metrics(marks)

    def _send_metrics(self, marks: dict) -> None:
        self.turns += 1
        eot = marks["eot"]

        def since(key: str, start: float) -> float | None:
            return round((marks[key] - start) * 1000, 1) if key in marks else None

        first_audio = self.outbox.first_audio_at if marks.get("first_sentence") else None
        metrics = {
            "typed": marks.get("typed", False),
            "speech_end_ms": marks.get("speech_end_ms"),
            "end_of_turn_ms": marks.get("eot_ms"),
            "end_of_turn_wait_ms": (
                marks["eot_ms"] - marks["speech_end_ms"] if "eot_ms" in marks else None
            ),
            "asr_final_ms": since("final", eot),
            "tentative_final_reused": marks.get("tentative_final_reused"),
            "retrieval_ms": since("retrieved", marks.get("final", eot)),
            "tool_wait_ms": round(marks.get("tool_wait_ms", 0.0), 1),
            "llm_first_sentence_ms": since("first_sentence", marks.get("retrieved", eot)),
            "first_audio_ms": round((first_audio - eot) * 1000, 1) if first_audio else None,
            "answer_source": marks.get("answer_source"),
            "answer": marks.get("answer", ""),
            "query": marks.get("query"),
            "calls": marks.get("calls", 0),
            "speculative_calls": marks.get("speculative_calls", 0),
            "cancelled": marks.get("cancelled", 0),
            "wasted": marks.get("wasted", 0),
            "reuse": marks.get("reuse"),
            "reuse_differs": marks.get("reuse_differs"),
            "strategy": self.strategy,
            "interrupted": marks.get("interrupted", False),
            "preempted": marks.get("preempted", False),
            "preempt_started": self.preemptor.started,
            "preempt_discarded": self.preemptor.discarded,
        }
        if metrics["first_audio_ms"] is not None and metrics["end_of_turn_wait_ms"] is not None:
            metrics["speech_end_to_first_audio_ms"] = round(
                metrics["first_audio_ms"] + metrics["end_of_turn_wait_ms"], 1
            )
        self.emit(TurnMetrics(self.turns, metrics))

    # --- barge-in --------------------------------------------------------------------------
    def _answer_active(self) -> bool:
        running = self._turn_task is not None and not self._turn_task.done()
        return running or self.outbox.playing

    def _interrupt(self, audio_ms: int) -> None:
        if self._turn_task is not None:
            self._turn_task.cancel()
        dropped = self.outbox.flush()
        self.emit(Interrupted(audio_ms, dropped))

    async def _cancel_turn(self) -> None:
        if self._turn_task is not None and not self._turn_task.done():
            self._turn_task.cancel()
            await asyncio.gather(self._turn_task, return_exceptions=True)
