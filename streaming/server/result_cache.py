"""A tool-result cache shared by every session of a process: TTL and size bounded, get / put.

Keys are tuples (tool, query key, evidence id, query time): a question asked again in another
session is answered from here with no tool wait. Results depend on the evidence a session
searches and on the date the knowledge graph reasons at, so both are part of the key (``scoped``
binds them once per session). The interface is two methods on purpose: a later store (Redis) only
has to provide ``get`` and ``put``.

Not thread-safe: every caller runs on the one event loop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class ResultCache:
    """Least recently used first; an entry older than ``ttl_s`` is never returned."""

    def __init__(
        self, ttl_s: float = 300.0, size: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s, self.size, self.clock = ttl_s, size, clock
        self._items: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: Hashable) -> Any | None:
        item = self._items.get(key)
        if item is None or self.clock() - item[0] > self.ttl_s:
            if item is not None:
                del self._items[key]
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return item[1]

    def put(self, key: Hashable, value: Any) -> None:
        if self.size <= 0 or self.ttl_s <= 0:
            return
        self._items[key] = (self.clock(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def scoped(self, evidence_id: str | None, query_time: str | None) -> ScopedResults:
        """The view one session uses: its evidence id and query time are in every key."""
        return ScopedResults(self, (evidence_id or "", query_time or ""))


class ScopedResults:
    """``get(tool, key)`` / ``put(tool, key, result)`` over a shared cache, for one scope."""

    def __init__(self, cache: ResultCache, scope: tuple[str, str]) -> None:
        self.cache, self.scope = cache, scope

    def get(self, tool: str, key: str) -> Any | None:
        return self.cache.get((tool, key, *self.scope))

    def put(self, tool: str, key: str, value: Any) -> None:
        self.cache.put((tool, key, *self.scope), value)
