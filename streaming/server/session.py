"""One voice session per websocket: the whole pipeline's shape is in this file.

    audio ─▶ AudioFrontEnd (16 kHz frames, VAD, pre-roll) ─▶ StreamingTranscriber ─partial─▶ Lookup
                   │ end_of_turn                                 │ final             (speculative
                   ▼                                             ▼                    tool calls)
              _spoken_turn() ─────────────────────────▶ Answering.answer: Lookup.resolve ─▶
                                                         Answerer ─sentences─▶ TTS ─PCM16─┐
    client ◀── Outbox (system events always; answer data dropped on barge-in) ◀──────────┘

Listening (VAD, ASR) never waits for the answer; the answer is one task per turn that barge-in
cancels, and every turn, finished or interrupted, ends with its ``turn_metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from streaming.events import (
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
from streaming.protocol import ProtocolError, Start, Stop, Text, parse_text_message
from streaming.rag.lookup import Lookup
from streaming.server.config import Config
from streaming.server.deadlines import ReceiveDeadlines, busy_message
from streaming.server.engine import Engine
from streaming.server.frontend import AudioFrontEnd, AudioRejected
from streaming.server.limits import TokenBucket
from streaming.server.metrics import TurnMarks, turn_metrics
from streaming.server.observability import bind_turn
from streaming.server.outbox import Outbox
from streaming.server.preempt import Preemptor
from streaming.server.toolset import ToolSet
from streaming.server.turn import Answering
from tools.language.text import is_dismissal
from voice.asr import Partial, StreamingTranscriber
from voice.endpoint import SemanticParams, make_endpoint
from voice.smart_turn import SmartTurn, TurnSignals
from voice.vad import TurnDetector, VadEvent

log = logging.getLogger(__name__)
DRAIN_TIMEOUT_S = 5.0  # on stop: how long queued events may take to reach the client
_CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


class Session:
    def __init__(
        self,
        engine: Engine,
        ws: web.WebSocketResponse,
        config: Config,
        tools: ToolSet,
        admit: Callable[[Session], bool] = lambda session: True,
    ) -> None:
        self.engine = engine
        self.toolset = tools
        self.ws = ws
        self.config = config
        self.id = uuid.uuid4().hex[:8]
        self.outbox = Outbox(ws)
        self.started = False
        self.stopping = False
        self._admit = admit  # claims a max_sessions slot at start (False: the server is full)
        self._deadlines = ReceiveDeadlines(config.start_timeout_s, config.idle_timeout_s)
        self._close_as: tuple[int, bytes] = (WSCloseCode.OK, b"")
        self.turns = 0
        self._turn_task: asyncio.Task | None = None
        self._last_error: dict[str, float] = {}
        self._typed = TokenBucket(config.typed_per_minute)
        self._speculating: asyncio.Task | None = None  # a query from the tentative final

    # --- websocket loop ------------------------------------------------------------------
    async def run(self) -> None:
        sender = asyncio.create_task(self.outbox.run(), name=f"outbox-{self.id}")
        try:
            while not self.stopping:
                msg = await self._receive()
                if msg is None or msg.type in _CLOSED:
                    break
                if msg.type == WSMsgType.TEXT:
                    await self._on_text_frame(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await self._on_audio(msg.data)
            if self.stopping:  # stop, or idle too long: what is queued goes out, then close
                await self._cancel_turn()
                with contextlib.suppress(TimeoutError):  # a client that stopped reading
                    await asyncio.wait_for(self.outbox.drained(), DRAIN_TIMEOUT_S)
                await self.ws.close(code=self._close_as[0], message=self._close_as[1])
        finally:
            self.outbox.closed = True
            await self._cancel_turn()
            if self.started:
                self.transcriber.cancel()
                self.signals.close()
                self.preemptor.close()
                self.lookup.close()
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)

    async def _receive(self) -> WSMessage | None:
        """The next message; None (and ``stopping``) once the client sent nothing for
        ``idle_timeout_s`` while no answer was running, or ``start_timeout_s`` passed since the
        connection opened without an accepted ``start``."""
        while True:
            wait, start_deadline = self._deadlines.next_wait(self.started)
            if wait is None or wait > 0:  # at 0, a client sending only junk is out of time too
                try:
                    return await self.ws.receive(timeout=wait)
                except TimeoutError:
                    pass
            if start_deadline or not self._answer_active():  # hearing an answer is not idling
                self._time_out(start_deadline)
                return None

    def _time_out(self, start_deadline: bool) -> None:
        """Close after the error that says which limit ran out."""
        if start_deadline:
            wait = self.config.start_timeout_s
            self.error("start_timeout", f"no valid start within {wait:g} s of connecting; closing")
            self._close_as = (WSCloseCode.POLICY_VIOLATION, b"start timeout")
        else:
            wait = self.config.idle_timeout_s
            self.error("idle_timeout", f"nothing received for {wait:g} s; closing")
        self.stopping = True

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
    async def _on_text_frame(self, raw: str) -> None:
        if len(raw) > self.config.max_frame_bytes:
            return self.error(
                "frame_too_large", f"text frame over {self.config.max_frame_bytes} bytes"
            )
        try:
            msg = parse_text_message(raw, self.config.eval_mode)
        except ProtocolError as exc:
            return self.error(exc.code, exc.message)
        if isinstance(msg, Start):
            await self._on_start(msg)
        elif isinstance(msg, Text):
            self._on_typed(msg.text)
        elif isinstance(msg, Stop):
            self.stopping = True

    async def _on_start(self, start: Start) -> None:
        if self.started:
            return self.error("already_started", "send start once per connection")
        if not self._admit(self):  # the last slot went since this connection opened
            self.error("server_busy", busy_message(self.config.max_sessions))
            self._close_as = (WSCloseCode.TRY_AGAIN_LATER, b"server busy")
            self.stopping = True
            return
        cfg, opts = self.config, start.options
        self.strategy = opts.get("strategy") or cfg.strategy
        self.out_rate = start.output_sample_rate or cfg.output_sample_rate
        fixed_ms = opts.get("end_of_turn_ms")  # a fixed window, whatever the policy
        policy = "fixed" if fixed_ms is not None else opts.get("end_of_turn", cfg.end_of_turn)
        use_smart = policy == "semantic" and cfg.smart_turn
        smart = await asyncio.to_thread(SmartTurn.shared) if use_smart else None
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
            self.engine.vad,
            self.detector,
            start.sample_rate,
            cfg.max_frame_bytes,
            cfg.max_audio_rate,
            AudioFrontEnd.preroll_frames(cfg.speech_pad_ms, cfg.min_speech_ms),
            int(cfg.max_turn_s * 1000),
        )
        self.transcriber = StreamingTranscriber(
            self.engine.asr,
            self._on_partial,
            cfg.partial_interval_ms,
            cfg.final_beam_size,
            self.engine.partial_asr,
        )
        try:  # "evidence": CRAG Task 1, search this question's own pages only
            evidence = opts.get("evidence")
            # this session's own latency draws: a replay names them (the clip), else its own id
            seed = opts.get("seed", evidence or self.id)
            chosen = await self.toolset.for_session(evidence, opts.get("query_time"), seed)
        except ValueError as exc:
            self.error("unknown_evidence", f"{exc}; using the server's own tools")
            chosen = await self.toolset.for_session(None, opts.get("query_time"), seed)
        self.lookup = Lookup(
            chosen.tools,
            self.emit,
            self.strategy,
            cfg.tool_deadline_ms / 1000,
            top_ids=chosen.top_ids,
            max_parallel=cfg.max_parallel_calls,
            audit=bool(opts.get("audit", False)),
            completer=chosen.completer,
            fanout=cfg.fanout,
            call_budget=cfg.call_budget,
            results=chosen.results,
            hedge_s=cfg.hedge_after_ms / 1000,
        )
        # the preparation's audio waits for the tentative final decode (the critical path)
        self.preemptor = Preemptor(self.engine, self.lookup, lambda: self.transcriber.tentative)
        self.answering = Answering(
            self.engine,
            self.lookup,
            self.preemptor,
            self.outbox,
            self.out_rate,
            cfg.tool_deadline_ms / 1000,
        )
        self.preemptive = bool(opts.get("preemptive", cfg.preemptive_answer))
        self.answering.acknowledge = bool(opts.get("acknowledge", cfg.acknowledge))
        self.asr_bias = bool(opts.get("asr_bias", True))  # retrieval-aware decoding
        self.outbox.pace = bool(opts.get("pace_audio", True))
        self._hypothesis = ""
        self.started = True
        asr_name, rates = self.engine.asr.name, (start.sample_rate, self.out_rate)
        self.emit(Ready(self.id, *rates, self.strategy, asr_name, cfg.llm_backend))

    async def _on_audio(self, data: bytes) -> None:
        if not self.started:
            return self.error("not_started", "send a start message before audio", 1.0)
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
            if self._answer_active():
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
        # corrected and, for a follow-up, rewritten: speculation asks what the final will ask
        heard = self.answering.understand(f"{partial.stable} {partial.tail}".strip())
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

    def _on_typed(self, text: str) -> None:
        if not self.started:
            return self.error("not_started", "send a start message first")
        if not self._typed.take():
            wait = self._typed.wait_s()
            return self.error("rate_limited", f"too many typed questions; retry in {wait:.0f} s")
        if self._answer_active():
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
        answering = getattr(self, "answering", None)  # built after the endpoint, in _on_start
        return answering is not None and answering.context is not None

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
