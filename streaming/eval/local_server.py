"""The model-loading local server: ``streamrag eval`` without ``--url`` replays through it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streaming.server.config import Config


@asynccontextmanager
async def local_server(config: Config) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Load the models, start the server on a free port; yields (ws url, server description).
    The server is in eval mode: the harness's audit, evidence and pace_audio options are its own."""
    from streaming.server.app import bound_port, start_server
    from streaming.server.engine import Engine

    # the harness's own sessions (--concurrency) are never refused as server_busy; no shared
    # result cache: it would hand one strategy's results to the next replaying the same clip
    config = config.replace(
        eval_mode=True, max_sessions=max(config.max_sessions, 64), result_cache_size=0
    )
    engine = await asyncio.to_thread(Engine.load, config)
    await asyncio.to_thread(engine.warm_up)
    runner = await start_server(engine, "127.0.0.1", 0)
    try:
        described = {
            "asr": engine.asr.name,
            "llm_backend": config.llm_backend,
            "search_latency": config.search_latency,
            "kg_latency": config.kg_latency if config.kg else None,
            "documents": len(engine.docs),
            "evidence_dir": config.evidence_dir or None,
        }
        yield f"ws://127.0.0.1:{bound_port(runner)}/ws", described
    finally:
        await runner.cleanup()
