"""The tool-result cache shared by every server *process*: ``ResultCache``'s get / put over Redis.

A lookup reads the cache synchronously, on the event loop, while it applies a partial
(``streaming.rag.lookup``), so a network round trip per read would stall every session of the
process. Instead each process keeps a local mirror (a ``ResultCache``: TTL and size bounded) that
``get`` reads, and Redis is the meeting point:

- ``put`` stores locally at once and queues a write (bounded; dropped when Redis lags): ``SET``
  with the TTL, then ``PUBLISH`` on the namespace's channel;
- a subscriber task copies every other process's published results into the local mirror, so a
  question answered in one process is a cache hit in all the others a moment later;
- at start the mirror is warmed from the keys still in Redis (a process that joins later sees
  what the others found).

Every entry carries its origin's expiry (wall clock), so a copy never outlives the original's TTL.
Values are JSON (``SearchResult`` and its hits), never pickles: whoever can write to the Redis
cannot make the server run code. A Redis that is down costs the sharing, never an answer: the
mirror keeps working, writes are dropped, the subscriber reconnects with a capped backoff.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Hashable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from streaming.server.result_cache import ResultCache, ScopedResults
from tools.corpus import Document
from tools.result import Hit, SearchResult

log = logging.getLogger(__name__)
_CONNECTION_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


def result_to_json(result: SearchResult) -> dict[str, Any]:
    return {
        "query": result.query,
        "elapsed_ms": result.elapsed_ms,
        "error": result.error,
        "meta": result.meta,
        "hits": [
            {
                "doc": {
                    "id": h.doc.id,
                    "title": h.doc.title,
                    "text": h.doc.text,
                    "url": h.doc.url,
                    "domain": h.doc.domain,
                    "facts": [list(f) for f in h.doc.facts],
                },
                "score": h.score,
                "snippet": h.snippet,
                "answer": h.answer,
            }
            for h in result.hits
        ],
    }


def result_from_json(data: dict[str, Any]) -> SearchResult:
    hits = []
    for h in data["hits"]:
        d = h["doc"]
        facts = tuple(tuple(str(x) for x in f) for f in d.get("facts", []))
        doc = Document(d["id"], d["title"], d["text"], d.get("url", ""), d.get("domain", ""), facts)
        hits.append(Hit(doc, float(h["score"]), h["snippet"], bool(h.get("answer", False))))
    meta = data.get("meta") or {}
    return SearchResult(data["query"], hits, float(data["elapsed_ms"]), data.get("error"), meta)


class RedisResultCache:
    """``get`` / ``put`` / ``scoped`` like ``ResultCache``; ``start()`` and ``close()`` on the loop."""

    def __init__(
        self,
        url: str,
        ttl_s: float = 300.0,
        size: int = 1024,
        namespace: str = "streamrag:results",
        queue_size: int = 1024,
    ) -> None:
        self.url, self.ttl_s, self.size, self.namespace = url, ttl_s, size, namespace
        self.local = ResultCache(ttl_s, size)
        self.origin = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._writes: asyncio.Queue[tuple[Hashable, SearchResult, float]] = asyncio.Queue(
            queue_size
        )
        self._client: aioredis.Redis | None = None
        self._tasks: list[asyncio.Task] = []
        self.received = self.published = self.dropped = 0
        self._subscribed = asyncio.Event()

    # --- the ResultCache interface ---------------------------------------------------------
    def get(self, key: Hashable) -> Any | None:
        item = self.local.get(key)
        if item is None:
            return None
        value, expires_at = item
        return value if time.time() < expires_at else None

    def put(self, key: Hashable, value: Any) -> None:
        if self.size <= 0 or self.ttl_s <= 0:
            return
        expires_at = time.time() + self.ttl_s
        self.local.put(key, (value, expires_at))
        if not isinstance(value, SearchResult) or self._client is None:
            return  # only tool results travel (they are what the lookups store)
        try:
            self._writes.put_nowait((key, value, expires_at))
        except asyncio.QueueFull:
            self.dropped += 1  # Redis lags: this result stays local

    def __len__(self) -> int:
        return len(self.local)

    @property
    def hits(self) -> int:
        return self.local.hits

    @property
    def misses(self) -> int:
        return self.local.misses

    def scoped(self, evidence_id: str | None, query_time: str | None) -> ScopedResults:
        return ScopedResults(self, (evidence_id or "", query_time or ""))  # type: ignore[arg-type]

    # --- Redis -----------------------------------------------------------------------------
    def _redis_key(self, key: Hashable) -> str:
        return f"{self.namespace}:{json.dumps(_plain(key))}"

    def _payload(self, key: Hashable, value: SearchResult, expires_at: float) -> str:
        body = {"k": _plain(key), "x": expires_at, "o": self.origin, "v": result_to_json(value)}
        return json.dumps(body, separators=(",", ":"))

    def _accept(self, raw: bytes | str, own_ok: bool = False) -> bool:
        """Put one payload from Redis into the mirror; False when it was not taken."""
        try:
            body = json.loads(raw)
            if body.get("o") == self.origin and not own_ok:
                return False
            expires_at = float(body["x"])
            if expires_at <= time.time():
                return False
            key = _hashable(body["k"])
            self.local.put(key, (result_from_json(body["v"]), expires_at))
            self.received += 1
            return True
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("ignored a malformed shared cache entry")
            return False

    async def start(self, connect_timeout_s: float = 2.0) -> RedisResultCache:
        """Connect, warm the mirror from Redis, start the writer and the subscriber. A Redis
        that cannot be reached is logged and retried in the background."""
        self._client = aioredis.from_url(
            self.url, socket_connect_timeout=connect_timeout_s, socket_timeout=5.0
        )
        try:
            async with asyncio.timeout(connect_timeout_s * 2):
                await self._warm()
        except _CONNECTION_ERRORS as exc:
            log.error("shared result cache %s unreachable (%s): local only for now", self.url, exc)
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="redis-cache-writer"),
            asyncio.create_task(self._subscribe_loop(), name="redis-cache-subscriber"),
        ]
        return self

    async def wait_subscribed(self, timeout_s: float = 5.0) -> bool:
        """True once the subscriber listens (tests; readiness)."""
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout_s)
            return True
        except TimeoutError:
            return False

    async def _warm(self) -> None:
        assert self._client is not None
        await self._client.ping()
        keys: list[bytes] = []
        async for k in self._client.scan_iter(match=f"{self.namespace}:*", count=500):
            keys.append(k)
            if len(keys) >= self.size:
                break
        for i in range(0, len(keys), 200):
            for raw in await self._client.mget(keys[i : i + 200]):
                if raw is not None:
                    self._accept(raw, own_ok=True)
        if keys:
            log.info("shared result cache: %d entries warmed from %s", len(self.local), self.url)

    async def _write_loop(self) -> None:
        assert self._client is not None
        failing = False
        while True:
            key, value, expires_at = await self._writes.get()
            ttl_ms = int((expires_at - time.time()) * 1000)
            if ttl_ms <= 0:
                continue
            payload = self._payload(key, value, expires_at)
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    pipe.set(self._redis_key(key), payload, px=ttl_ms)
                    pipe.publish(self.namespace, payload)
                    await pipe.execute()
                self.published += 1
                if failing:
                    log.info("shared result cache %s reachable again", self.url)
                failing = False
            except _CONNECTION_ERRORS as exc:
                self.dropped += 1
                if not failing:
                    log.warning("shared result cache write failed (%s): kept local", exc)
                failing = True

    async def _subscribe_loop(self) -> None:
        assert self._client is not None
        backoff = 0.5
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.namespace)
                self._subscribed.set()
                backoff = 0.5
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is not None and message.get("type") == "message":
                        self._accept(message["data"])
            except _CONNECTION_ERRORS as exc:
                self._subscribed.clear()
                log.warning("shared result cache subscription lost (%s); retrying", exc)
            finally:
                await pubsub.aclose()
            await asyncio.sleep(backoff)  # reconnect backoff, capped
            backoff = min(backoff * 2, 10.0)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _plain(key: Hashable) -> Any:
    return list(key) if isinstance(key, tuple) else key


def _hashable(key: Any) -> Hashable:
    return tuple(key) if isinstance(key, list) else key
