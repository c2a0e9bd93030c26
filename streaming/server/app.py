"""The aiohttp server: ``/`` serves the web demo, ``/ws`` the voice sessions, ``/healthz`` status.

``/ws`` admits a session only with the shared token (when one is set: 401), from an allowed
browser Origin (403) and below ``max_sessions`` *started* sessions (a ``server_busy`` error
event, close 1013: at connect when the server is already full, else at ``start`` when the last
slot went meanwhile). A connection with no accepted ``start`` within ``start_timeout_s`` is
closed with ``start_timeout`` (close 1008); it never holds a slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import WSCloseCode, web

from streaming.events import Error
from streaming.server.config import Config
from streaming.server.connection import Connection
from streaming.server.deadlines import busy_message
from streaming.server.engine import Engine
from streaming.server.observability import Observability, bind_session
from streaming.server.origin import forbidden_origin, origin_ok
from streaming.server.toolset import ToolSet
from tools.runtime.auth import token_ok, unauthorized

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).resolve().parents[2] / "web"
ENGINE = web.AppKey("engine", Engine)
TOOLS = web.AppKey("tools", ToolSet)


class SessionRegistry:
    """The open sessions, with a way to wait for their number to change (for tests, shutdown).

    ``len`` counts every open connection; ``started`` those whose ``start`` was admitted, the
    ones ``max_sessions`` (``limit``) bounds."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: set[Connection] = set()
        self._started: set[Connection] = set()
        self._changed = asyncio.Condition()

    def __len__(self) -> int:
        return len(self._open)

    @property
    def started(self) -> int:
        return len(self._started)

    @property
    def full(self) -> bool:
        return len(self._started) >= self.limit

    def admit(self, session: Connection) -> bool:
        """Count ``session`` as started unless the server is full. No await: check and claim
        are one step, so two concurrent starts cannot both take the last slot."""
        if self.full:
            return False
        self._started.add(session)
        return True

    async def add(self, session: Connection) -> None:
        async with self._changed:
            self._open.add(session)
            self._changed.notify_all()

    async def discard(self, session: Connection) -> None:
        async with self._changed:
            self._open.discard(session)
            self._started.discard(session)
            self._changed.notify_all()

    async def wait_for_count(self, n: int, timeout: float = 5.0) -> int:
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: len(self._open) == n), timeout
                )
            except TimeoutError:
                pass
            return len(self._open)


SESSIONS = web.AppKey("sessions", SessionRegistry)
STARTED = web.AppKey("started", float)
OBSERVABILITY = web.AppKey("observability", Observability)


async def websocket(request: web.Request) -> web.StreamResponse:
    app = request.app
    engine = app[ENGINE]
    config = engine.config
    if not token_ok(request, config.token):  # refused before the upgrade; the token never logged
        log.info("refused /ws from %s: no valid token", request.remote)
        return unauthorized()
    if not origin_ok(request, config.allowed_origins):
        log.info("refused /ws from %s: Origin %r", request.remote, request.headers.get("Origin"))
        return forbidden_origin()
    # aiohttp's own limit closes the socket without a word; ours answers with an error event.
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=max(4 * config.max_frame_bytes, 1 << 20))
    await ws.prepare(request)
    sessions = app[SESSIONS]
    if sessions.full:  # already full: say so now rather than after the client's start
        await ws.send_json(Error("server_busy", busy_message(sessions.limit)).to_json())
        app[OBSERVABILITY].errors.labels("server_busy").inc()
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"server busy")
        return ws
    session = Connection(engine, ws, config, app[TOOLS], admit=sessions.admit)
    session.outbox.observer = app[OBSERVABILITY].on_event
    bind_session(session.id)  # this handler's log records, and its session's tasks'
    await sessions.add(session)
    log.info("session %s opened from %s (%d open)", session.id, request.remote, len(sessions))
    try:
        await session.run()
    except Exception:  # one broken session must never take the server down
        log.exception("session %s failed", session.id)
    finally:
        await sessions.discard(session)
        if not ws.closed:
            await ws.close()
        log.info("session %s closed (%d open)", session.id, len(sessions))
    return ws


async def healthz(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return web.json_response(
        {
            "ok": True,
            "sessions": len(request.app[SESSIONS]),  # open connections, started or not
            "started_sessions": request.app[SESSIONS].started,
            "asr_model": engine.asr.name,
            "llm_backend": engine.config.llm_backend,
            "documents": len(engine.docs),
            "search_url": request.app[TOOLS].search_url,
            "tools": sorted(request.app[TOOLS].tools()),
            "uptime_s": round(time.monotonic() - request.app[STARTED], 1),
            # scale-out (docs/deploy.md): which process behind the load balancer; the backends
            "server_id": f"{socket.gethostname()}:{os.getpid()}",
            "search_backend": engine.config.search_backend,
            "result_cache": {
                "shared": "redis" if engine.config.result_cache_url else "",
                "entries": len(request.app[TOOLS].results),
            },
        }
    )


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(WEB_DIR / "index.html")


def create_app(engine: Engine) -> web.Application:
    app = web.Application()
    app[ENGINE] = engine
    app[SESSIONS] = SessionRegistry(engine.config.max_sessions)
    app[STARTED] = time.monotonic()
    app.router.add_get("/", index)
    app.router.add_get("/ws", websocket)
    app.router.add_get("/healthz", healthz)
    app[OBSERVABILITY] = Observability(lambda: len(app[SESSIONS]))
    app.router.add_get("/metrics", app[OBSERVABILITY].handler)
    app.router.add_static("/static/", WEB_DIR, show_index=False)
    return app


async def start_server(engine: Engine, host: str, port: int) -> web.AppRunner:
    """Start serving in the running loop (used by tests and the CLI); returns the runner.
    The tools (and the in-process search service) start with it and stop on cleanup."""
    app = create_app(engine)
    app[TOOLS] = await ToolSet(engine).start()

    async def close_tools(app: web.Application) -> None:
        await app[TOOLS].close()

    app.on_cleanup.append(close_tools)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for site in runner.sites:
        server = getattr(site, "_server", None)
        if server and server.sockets:
            return server.sockets[0].getsockname()[1]
    raise RuntimeError("server is not listening")


def run_until_interrupted(start: Callable[[], Awaitable[web.AppRunner]]) -> None:
    """Start a server in a new event loop and keep it up until Ctrl-C or SIGTERM (``docker
    stop``, ``kill``; a PID 1 in a container ignores signals it has no handler for), then clean
    it up."""

    async def main() -> None:
        runner = await start()
        stop = asyncio.Event()
        got: list[str] = []
        for sig in (signal.SIGTERM, signal.SIGINT):  # one path for both: the stop event
            with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals off Unix
                asyncio.get_running_loop().add_signal_handler(
                    sig, lambda name=sig.name: (got.append(name), stop.set())
                )
        try:
            await stop.wait()
            log.info("%s: shutting down", got[0] if got else "signal")
        finally:
            await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


def serve(config: Config) -> None:
    engine = Engine.load(config)
    engine.warm_up()
    gc.freeze()  # the loaded graph and indexes live forever: full collections skip them

    async def start() -> web.AppRunner:
        runner = await start_server(engine, config.host, config.port)
        log.info("streamrag listening on http://%s:%d", config.host, bound_port(runner))
        return runner

    run_until_interrupted(start)
