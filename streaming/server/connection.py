"""One websocket connection: its deadlines, the client's messages, and the session it starts.

A connection holds no session (and no ``max_sessions`` slot) until an accepted ``start``:
admission, then the session's tools, then the ``Session`` (streaming/server/session.py), built
whole from the ``start`` message; from then on audio and typed questions go to it. A connection
that sends no valid ``start`` within ``start_timeout_s`` of opening, or nothing for
``idle_timeout_s`` while no answer runs, is closed after the error that says which; ``stop``
lets what is queued go out first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from streaming.events import Error, Event, Ready
from streaming.protocol import ProtocolError, Start, Stop, Text, parse_text_message
from streaming.server.config import Config
from streaming.server.deadlines import ReceiveDeadlines, busy_message
from streaming.server.engine import Engine
from streaming.server.outbox import Outbox
from streaming.server.session import Session
from streaming.server.toolset import ToolSet

log = logging.getLogger(__name__)
DRAIN_TIMEOUT_S = 5.0  # on stop: how long queued events may take to reach the client
_CLOSED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)


class Connection:
    def __init__(
        self,
        engine: Engine,
        ws: web.WebSocketResponse,
        config: Config,
        tools: ToolSet,
        admit: Callable[[Connection], bool] = lambda connection: True,
    ) -> None:
        self.engine = engine
        self.toolset = tools
        self.ws = ws
        self.config = config
        self.id = uuid.uuid4().hex[:8]
        self.outbox = Outbox(ws)
        self.session: Session | None = None  # built by the accepted start
        self.stopping = False
        self._admit = admit  # claims a max_sessions slot at start (False: the server is full)
        self._deadlines = ReceiveDeadlines(config.start_timeout_s, config.idle_timeout_s)
        self._close_as: tuple[int, bytes] = (WSCloseCode.OK, b"")
        self._last_error: dict[str, float] = {}

    @property
    def started(self) -> bool:
        return self.session is not None

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
                if self.session is not None:
                    await self.session.cancel_turn()
                with contextlib.suppress(TimeoutError):  # a client that stopped reading
                    await asyncio.wait_for(self.outbox.drained(), DRAIN_TIMEOUT_S)
                await self.ws.close(code=self._close_as[0], message=self._close_as[1])
        finally:
            self.outbox.closed = True
            if self.session is not None:
                await self.session.close()
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
            answering = self.session is not None and self.session.answer_active()
            if start_deadline or not answering:  # hearing an answer is not idling
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
            if self.session is None:
                return self.error("not_started", "send a start message first")
            self.session.on_typed(msg.text)
        elif isinstance(msg, Stop):
            self.stopping = True

    async def _on_audio(self, data: bytes) -> None:
        if self.session is None:
            return self.error("not_started", "send a start message before audio", 1.0)
        await self.session.on_audio(data)

    async def _on_start(self, start: Start) -> None:
        if self.started:
            return self.error("already_started", "send start once per connection")
        if not self._admit(self):  # the last slot went since this connection opened
            self.error("server_busy", busy_message(self.config.max_sessions))
            self._close_as = (WSCloseCode.TRY_AGAIN_LATER, b"server busy")
            self.stopping = True
            return
        opts = start.options
        try:  # "evidence": CRAG Task 1, search this question's own pages only
            evidence = opts.get("evidence")
            # this session's own latency draws: a replay names them (the clip), else its own id
            seed = opts.get("seed", evidence or self.id)
            chosen = await self.toolset.for_session(evidence, opts.get("query_time"), seed)
        except ValueError as exc:
            self.error("unknown_evidence", f"{exc}; using the server's own tools")
            chosen = await self.toolset.for_session(None, opts.get("query_time"), seed)
        session = Session(self.engine, self.config, start, chosen, self.outbox, self.id, self.error)
        self.session = session
        rates = (start.sample_rate, session.out_rate)
        asr, llm = self.engine.asr.name, self.config.llm_backend
        self.emit(Ready(self.id, *rates, session.strategy, asr, llm))
