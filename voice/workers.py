"""One worker thread per model, with a priority queue: blocking inference off the event loop.

Sessions wait in line for a model (final ASR before answers before partials) instead of
thrashing the cores; ``run_in_thread`` and ``lower_thread_priority`` let a model's own compute
threads yield the CPU to another model's (speculation behind finals).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import queue
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from enum import IntEnum
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class Priority(IntEnum):
    """Lower runs first when several jobs wait for the same model."""

    FINAL_ASR = 1
    ANSWER = 2  # what a listener waits for now: an answer's first piece of audio
    ANSWER_REST = 3  # the rest of an answer: it has the first piece's playback time as slack
    SPECULATIVE = 4
    PARTIAL_ASR = 5


def lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's nice value by ``nice`` (Linux, where nice is per thread;
    threads it starts later inherit it). Elsewhere, or if refused, it logs and does nothing."""
    if nice <= 0 or sys.platform != "linux":
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError as exc:
        log.warning("could not lower thread priority by %d: %s", nice, exc)


def run_in_thread(fn: Callable[[], T], nice: int = 0) -> T:
    """``fn()`` on a short-lived thread at ``nice``: a model built there starts its own
    compute threads at that priority (CTranslate2's replica threads are made at load).
    At ``nice`` 0 it is simply ``fn()``: the caller's priority is the one wanted."""
    if nice == 0:
        return fn()
    box: dict[str, Any] = {}

    def body() -> None:
        lower_thread_priority(nice)
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the caller
            box["error"] = exc

    thread = threading.Thread(target=body, name="model-load", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class ModelWorker:
    """One thread per model with a priority queue, so sessions wait in line instead of thrashing.

    ``running`` is the priority of the job on the thread now (None when idle), so another model's
    low-priority work can stand back while this one serves a final; ``runs`` counts the jobs run
    per priority and ``recent`` keeps the last 1000 ``(priority, seconds)``, for benchmarks.

    A job given a ``batch`` function is run together with the jobs of the same priority and
    batch function waiting when it starts (up to ``max_batch``): ``batch([args, ...])`` returns
    one result per job. Several sessions' decodes then cost one batched model call
    (``batched`` counts the jobs that ran in a batch of two or more)."""

    def __init__(self, name: str, max_batch: int = 8, nice: int = 0) -> None:
        self.name = name
        self.max_batch = max_batch
        self.nice = nice  # > 0: this model's work yields the CPU to others' (speculation)
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._seq = itertools.count()
        self.running: int | None = None
        self.runs: Counter[int] = Counter()
        self.batched = 0
        self.recent: deque[tuple[int, float]] = deque(maxlen=1000)
        self._thread = threading.Thread(target=self._loop, name=f"model-{name}", daemon=True)
        self._thread.start()

    async def run(
        self,
        priority: Priority,
        fn: Callable[..., T],
        *args: Any,
        timeout: float | None = None,
        batch: Callable[[list[tuple]], list[T]] | None = None,
    ) -> T:
        """``fn(*args)`` on this model's thread (or one row of ``batch``); ``TimeoutError``
        after ``timeout`` seconds."""
        if not self._thread.is_alive():
            raise RuntimeError(f"the {self.name} worker thread is not running")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        self._jobs.put((int(priority), next(self._seq), _Job(fn, args, fut, loop, batch)))
        return await asyncio.wait_for(fut, timeout) if timeout is not None else await fut

    def pending(self) -> int:
        return self._jobs.qsize()

    def _loop(self) -> None:
        lower_thread_priority(self.nice)
        while True:
            priority, _, job = self._jobs.get()
            if job.fut.cancelled():
                continue
            jobs = [job, *self._companions(priority, job)]
            self.running, t0 = priority, time.perf_counter()
            try:
                if len(jobs) == 1:
                    results, error = [job.fn(*job.args)], None
                else:
                    results, error = list(job.batch([j.args for j in jobs])), None  # type: ignore[misc]
                    self.batched += len(jobs)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting tasks
                results, error = [None] * len(jobs), exc
            finally:
                self.running = None
                self.runs[priority] += len(jobs)
                self.recent.append((priority, time.perf_counter() - t0))
            for one, result in zip(jobs, results, strict=True):
                try:
                    one.loop.call_soon_threadsafe(_settle, one.fut, result, error)
                except RuntimeError:  # that caller's loop is closed: nobody waits, serve the next
                    log.debug("worker %s: result for a closed event loop dropped", self.name)

    def _companions(self, priority: int, job: _Job) -> list[_Job]:
        """Jobs waiting now that can share ``job``'s batch; the others go back in line."""
        if job.batch is None:
            return []
        taken, others = [], []
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                break
            same = item[0] == priority and item[2].batch == job.batch
            if same and not item[2].fut.cancelled() and len(taken) < self.max_batch - 1:
                taken.append(item[2])
            elif not item[2].fut.cancelled():
                others.append(item)
        for item in others:
            self._jobs.put(item)
        return taken


class _Job:
    __slots__ = ("fn", "args", "fut", "loop", "batch")

    def __init__(self, fn, args, fut, loop, batch) -> None:  # noqa: ANN001
        self.fn, self.args, self.fut, self.loop, self.batch = fn, args, fut, loop, batch

    def __lt__(self, other: _Job) -> bool:  # never compared: (priority, seq) are unique
        return False


def _settle(fut: asyncio.Future, result: Any, exc: BaseException | None) -> None:
    if fut.cancelled():
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(result)
