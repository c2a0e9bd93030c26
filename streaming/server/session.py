"""One started voice session: the whole pipeline's shape is in this file.

    audio ─▶ AudioFrontEnd (16 kHz frames, VAD, pre-roll) ─▶ StreamingTranscriber ─partial─▶ Lookup
                   │ end_of_turn                                 │ final             (speculative
                   ▼                                             ▼                    tool calls)
              _spoken_turn() ─────────────────────────▶ Answering.answer: Lookup.resolve ─▶
                                                         Answerer ─sentences─▶ TTS ─PCM16─┐
    client ◀── Outbox (system events always; answer data dropped on barge-in) ◀──────────┘

The session is built whole from the ``start`` message, out of the engine's shared models (the
interfaces of voice/interfaces.py), the session's tools and its connection's outbox
(streaming/server/connection.py owns the websocket). Listening (VAD, ASR) never waits for the
answer; the answer is one task per turn that barge-in cancels, and every turn, finished or
interrupted, ends with its ``turn_metrics``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Protocol

from streaming.events import (
    EndOfTurn,
    Event,
    FinalTranscript,
    Interrupted,
    PartialTranscript,
    SpeechStart,
    TurnMetrics,
)
from streaming.protocol import Start
from streaming.rag.lookup import Lookup
from streaming.server.config import Config
from streaming.server.engine import Engine
from streaming.server.frontend import AudioFrontEnd, AudioRejected
from streaming.server.limits import TokenBucket
from streaming.server.metrics import TurnMarks, turn_metrics
from streaming.server.observability import bind_turn
from streaming.server.outbox import Outbox
from streaming.server.preempt import Preemptor
from streaming.server.toolset import SessionTools
from streaming.server.turn import Answering
from tools.language.text import is_dismissal
from voice.asr import Partial, StreamingTranscriber
from voice.endpoint import SemanticParams, make_endpoint
from voice.smart_turn import TurnSignals
from voice.vad import TurnDetector, VadEvent

log = logging.getLogger(__name__)


class ErrorSink(Protocol):
    """Sends an ``error`` event (at most one per ``throttle_s`` per code)."""

    def __call__(self, code: str, message: str, throttle_s: float = 0.0) -> None: ...


class Session:
    def __init__(
        self,
        engine: Engine,
        config: Config,
        start: Start,
        tools: SessionTools,
        outbox: Outbox,
        session_id: str,
        error: ErrorSink,
    ) -> None:
        self.engine, self.config, self.outbox, self.error = engine, config, outbox, error
        self.id = session_id
        cfg, opts = config, start.options
        self.strategy: str = opts.get("strategy") or cfg.strategy
        self.out_rate: int = start.output_sample_rate or cfg.output_sample_rate
        self.turns = 0
        self._turn_task: asyncio.Task | None = None
        self._speculating: asyncio.Task | None = None  # a query from the tentative final
        self._typed = TokenBucket(cfg.typed_per_minute)
        self._hypothesis = ""  # the latest partial (or tentative final), as understood
        # listening: frames and VAD, the transcript, and what ends the turn
        fixed_ms = opts.get("end_of_turn_ms")  # a fixed window, whatever the policy
        policy = "fixed" if fixed_ms is not None else opts.get("end_of_turn", cfg.end_of_turn)
        smart = engine.smart_turn if policy == "semantic" and cfg.smart_turn else None
        endpoint = make_endpoint(
            policy,
            int(fixed_ms or cfg.end_of_turn_ms),
            SemanticParams(cfg.eot_min_ms, cfg.eot_max_ms, hold_for_text=cfg.eot_hold_for_text),
            smart is not None,
            self._has_referent,
        )
        self.signals = TurnSignals(endpoint, smart)  # what was said -> the endpoint's decision
        self.detector = TurnDetector(
            cfg.vad_threshold,
            cfg.vad_neg_threshold,
            int(fixed_ms or cfg.end_of_turn_ms),
            cfg.min_speech_ms,
            cfg.early_final_ms,
            endpoint,
        )
        self.front = AudioFrontEnd(
            engine.vad,
            self.detector,
            start.sample_rate,
            cfg.max_frame_bytes,
            cfg.max_audio_rate,
            AudioFrontEnd.preroll_frames(cfg.speech_pad_ms, cfg.min_speech_ms),
            int(cfg.max_turn_s * 1000),
        )
        self.transcriber = StreamingTranscriber(
            engine.asr,
            self._on_partial,
            cfg.partial_interval_ms,
            cfg.final_beam_size,
            engine.partial_asr,
        )
        # answering: the tool calls, the answer prepared at the pause, the turn's answer
        self.lookup = Lookup(
            tools.tools,
            self.emit,
            self.strategy,
            cfg.tool_deadline_ms / 1000,
            top_ids=tools.top_ids,
            max_parallel=cfg.max_parallel_calls,
            audit=bool(opts.get("audit", False)),
            completer=tools.completer,
            fanout=cfg.fanout,
            call_budget=cfg.call_budget,
            results=tools.results,
            hedge_s=cfg.hedge_after_ms / 1000,
        )
        # the preparation's audio waits for the tentative final decode (the critical path)
        self.preemptor = Preemptor(engine, self.lookup, lambda: self.transcriber.tentative)
        self.answering = Answering(
            engine, self.lookup, self.preemptor, outbox, self.out_rate, cfg.tool_deadline_ms / 1000
        )
        self.preemptive = bool(opts.get("preemptive", cfg.preemptive_answer))
        self.answering.acknowledge = bool(opts.get("acknowledge", cfg.acknowledge))
        self.asr_bias = bool(opts.get("asr_bias", True))  # retrieval-aware decoding
        outbox.pace = bool(opts.get("pace_audio", True))

    def emit(self, event: Event) -> None:
        self.outbox.send(event)

    async def close(self) -> None:
        """The connection is gone: the turn and everything still running for it stop."""
        await self.cancel_turn()
        self.transcriber.cancel()
        self.signals.close()
        self.preemptor.close()
        self.lookup.close()

    # --- listening -------------------------------------------------------------------------
    async def on_audio(self, data: bytes) -> None:
        try:
            async for frame in self.front.push(data):
                self.signals.push(frame.samples)
                if frame.in_speech and self.transcriber.active:
                    self.transcriber.push(frame.samples)
                if frame.capped:
                    cap = self.config.max_turn_s
                    self.error("turn_too_long", f"turns are capped at {cap:g} s; answering so far")
                for event in frame.events:
                    self._on_vad(event)
        except AudioRejected as exc:
            self.error(exc.code, exc.message, exc.throttle_s)

    def _on_vad(self, event: VadEvent) -> None:
        if event.kind == "speech_start":
            if self.answer_active():
                self._interrupt(event.audio_ms)
            self.preemptor.cancel()
            self.lookup.reset()
            self._hypothesis = ""
            self.transcriber.start_turn(*self.front.take_preroll(event.audio_ms))
            self.signals.start_turn(event.speech_ms)
            self.emit(SpeechStart(event.speech_ms))
        elif event.kind == "probe":
            self.signals.probe()  # Smart Turn on the turn so far
        elif event.kind == "pause":
            self._bias_asr()
            self.transcriber.pause(event.speech_ms)
            self.signals.on_tentative(self.transcriber.tentative, event.audio_ms)
            if self.preemptive and self._hypothesis:  # its audio waits for the decode below
                self.preemptor.start(self._hypothesis)
            if self.transcriber.tentative is not None:  # the likely final queries before EOT
                self._speculating = asyncio.create_task(
                    self._speculate_on(self.transcriber.tentative)
                )
        elif event.kind == "resume":
            self.transcriber.resume()
            self.preemptor.cancel()
        elif event.kind == "end_of_turn":
            self._bias_asr()
            reason = self.detector.endpoint.reason
            log.debug("session %s end of turn: %s", self.id, reason)
            self.emit(EndOfTurn(event.audio_ms, event.speech_ms, reason))
            if self._turn_task is not None and not self._turn_task.done():
                self._interrupt(event.audio_ms)  # a typed turn still running: speech wins
            marks = TurnMarks(
                speech_end_ms=event.speech_ms, eot_ms=event.audio_ms, eot_reason=reason
            )
            self._turn_task = asyncio.create_task(self._spoken_turn(marks))

    def _bias_asr(self) -> None:
        """Names in the speculative results so far bias the next decodes (docs/decisions.md)."""
        if self.asr_bias:
            self.transcriber.set_hotwords(self.lookup.hotwords())

    async def _on_partial(self, partial: Partial) -> None:
        self.emit(PartialTranscript(partial.stable, partial.tail, partial.audio_ms))
        self.signals.on_partial(f"{partial.stable} {partial.tail}", partial.audio_ms)
        # corrected and, for a follow-up, rewritten: speculation asks what the final will ask;
        # not before any word is stable ("and per" is the start of a new question, not a
        # follow-up to the last one)
        said = f"{partial.stable} {partial.tail}".strip()
        heard = self.answering.understand(said, followup=bool(partial.stable.strip()))
        self._hypothesis = heard.text
        self.lookup.on_partial(heard, partial.audio_ms, partial.tail)
        self.preemptor.prefill(self._hypothesis)  # the LLM's prompt prefix, while they talk
        self._bias_asr()

    async def _speculate_on(self, tentative: asyncio.Task) -> None:
        """The tentative final (base, decoded at the pause) is the best hypothesis before the
        end of turn: speculation and the preemptive answer act on it as on a partial, while
        the silence lasts (a resume or the end of turn drops it)."""
        try:
            text = await asyncio.shield(tentative)
        except (asyncio.CancelledError, Exception):
            return
        if self.transcriber.tentative is not tentative or not text.strip():
            return  # speech resumed, or the turn already ended
        heard = self.answering.understand(text.strip())
        self._hypothesis = heard.text
        self.lookup.on_partial(heard, self.detector.audio_ms)  # fired now
        if self.preemptive:
            self.preemptor.start(self._hypothesis)

    def on_typed(self, text: str) -> None:
        if not self._typed.take():
            wait = self._typed.wait_s()
            return self.error("rate_limited", f"too many typed questions; retry in {wait:.0f} s")
        if self.answer_active():
            self._interrupt(self.detector.audio_ms)
        self.lookup.reset()
        self._turn_task = asyncio.create_task(self._respond(text, TurnMarks(typed=True)))

    # --- the turn ------------------------------------------------------------------------
    async def _spoken_turn(self, marks: TurnMarks) -> None:
        bind_turn(self.turns + 1)  # log records of this turn's task carry its number
        try:
            text, reused = await self.transcriber.finish()
        except asyncio.CancelledError:  # barge-in before the final: the turn still reports
            marks.interrupted = True
            self._send_metrics(marks)
            raise
        except Exception as exc:
            log.exception("session %s: final transcript failed", self.id)
            marks.error = f"{type(exc).__name__}: {exc}"
            self.error("turn_failed", "the transcript failed; say it again")
            return self._send_metrics(marks)
        marks.final, marks.tentative_final_reused = time.monotonic(), reused
        marks.asr_decode_ms = self.transcriber.decode_ms
        self.emit(FinalTranscript(text, marks.eot_ms or 0))
        if is_dismissal(text):  # "stop", "wait", "thanks", silence: stay quiet
            return self._send_metrics(marks)
        await self._respond(text, marks)

    async def _respond(self, question: str, marks: TurnMarks) -> None:
        bind_turn(self.turns + 1)
        try:
            await self.answering.answer(question, marks, self.detector.audio_ms)
        except asyncio.CancelledError:
            marks.interrupted = True
            self._send_metrics(marks)
            raise
        except Exception as exc:  # a broken stage ends this turn, never the session
            log.exception("session %s: turn failed", self.id)
            marks.error = f"{type(exc).__name__}: {exc}"
            self.error("turn_failed", "the answer failed; ask again")
        self._send_metrics(marks)

    def _send_metrics(self, marks: TurnMarks) -> None:
        self.turns += 1
        metrics = turn_metrics(
            marks,
            self.outbox.first_audio_at,
            self.strategy,
            self.preemptor.started,
            self.preemptor.discarded,
        )
        self.emit(TurnMetrics(self.turns, metrics))

    # --- barge-in --------------------------------------------------------------------------
    def _has_referent(self) -> bool:
        """An earlier answer a pronoun may refer to ("who directed it"), for the end of turn."""
        return self.answering.context is not None

    def answer_active(self) -> bool:
        running = self._turn_task is not None and not self._turn_task.done()
        return running or self.outbox.playing

    def _interrupt(self, audio_ms: int) -> None:
        if self._turn_task is not None:
            self._turn_task.cancel()
        dropped = self.outbox.flush()
        self.emit(Interrupted(audio_ms, dropped))

    async def cancel_turn(self) -> None:
        if self._turn_task is not None and not self._turn_task.done():
            self._turn_task.cancel()
            await asyncio.gather(self._turn_task, return_exceptions=True)
