"""CPU work off the event loop: one small thread pool shared by the whole process.

Fuzzy entity matching, BM25 retrieval and index builds are pure CPU. Run inline they stall
every session on the server's one event loop, so they go to this pool (bounded: on a 2-core box
more threads would only fight over the GIL and the cores that ASR and TTS need).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def cpu_executor() -> ThreadPoolExecutor:
    """The process's shared pool for blocking tool work (created on first use)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            workers = max(1, min(2, os.cpu_count() or 1))
            _POOL = ThreadPoolExecutor(workers, thread_name_prefix="streamrag-cpu")
        return _POOL


async def off_loop(fn: Callable[..., T], *args: object, executor: Executor | None = None) -> T:
    """``fn(*args)`` in ``executor`` (default: the shared pool), awaited from the event loop.

    Cancelling the awaiting task abandons the result; work already running finishes."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor or cpu_executor(), fn, *args)
