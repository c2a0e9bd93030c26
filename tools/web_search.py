"""Web search as a service: an HTTP search API over a corpus, and the client the assistant uses.

``create_search_app`` serves ``GET /search?q=...&k=3`` -> ``{"query", "results": [{id, title,
url, snippet, score}]}`` after a delay drawn from a latency profile, like a real web search API.
``HttpSearchTool`` calls it (or a SearxNG-style ``/search?format=json`` endpoint) with a deadline.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import aiohttp
from aiohttp import web

from .corpus import Document
from .latency import LatencyProfile
from .search import Bm25Index, Hit, SearchResult

log = logging.getLogger(__name__)
INDEX = web.AppKey("index", Bm25Index)
LATENCY = web.AppKey("latency", LatencyProfile)
RNG = web.AppKey("rng", random.Random)


async def _search(request: web.Request) -> web.Response:
    query = request.query.get("q", "").strip()
    if not query:
        return web.json_response({"error": "missing q"}, status=400)
    try:
        k = max(1, min(20, int(request.query.get("k", "3"))))
    except ValueError:
        return web.json_response({"error": "k must be an integer"}, status=400)
    delay = await request.app[LATENCY].wait(request.app[RNG])
    hits = await asyncio.to_thread(request.app[INDEX].search, query, k)
    return web.json_response(
        {
            "query": query,
            "latency_ms": round(delay * 1000, 1),
            "results": [h.as_dict() for h in hits],
        }
    )


async def _health(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "ok": True,
            "documents": len(request.app[INDEX].docs),
            "latency": str(request.app[LATENCY]),
        }
    )


def create_search_app(
    index: Bm25Index, latency: LatencyProfile | None = None, seed: int | None = None
) -> web.Application:
    app = web.Application()
    app[INDEX] = index
    app[LATENCY] = latency or LatencyProfile()
    app[RNG] = random.Random(seed)
    app.router.add_get("/search", _search)
    app.router.add_get("/healthz", _health)
    return app


async def start_search_service(
    index: Bm25Index,
    latency: LatencyProfile | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
) -> tuple[web.AppRunner, str]:
    """Serve in the running loop; returns the runner and the base URL."""
    runner = web.AppRunner(create_search_app(index, latency, seed), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://{host}:{bound}"


class HttpSearchTool:
    """Search over HTTP. ``api="streamrag"`` for our service, ``"searxng"`` for SearxNG's JSON API.

    Never raises: errors and deadlines become results. Cancellation propagates."""

    name = "search"

    def __init__(self, base_url: str, api: str = "streamrag", k: int = 3) -> None:
        if api not in ("streamrag", "searxng"):
            raise ValueError(f"unknown search api {api!r}")
        self.base_url = base_url.rstrip("/")
        self.api = api
        self.k = k
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def __call__(self, query: str, deadline_s: float = 3.0) -> SearchResult:
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(deadline_s):
                hits = await self._fetch(query)
            return SearchResult(query, hits, (time.perf_counter() - t0) * 1000)
        except TimeoutError:
            return SearchResult(query, [], (time.perf_counter() - t0) * 1000, "deadline exceeded")
        except (aiohttp.ClientError, ValueError, KeyError) as exc:
            log.warning("search %r failed: %s", query, exc)
            return SearchResult(
                query, [], (time.perf_counter() - t0) * 1000, str(exc) or type(exc).__name__
            )

    async def _fetch(self, query: str) -> list[Hit]:
        params = {"q": query, "k": str(self.k)}
        if self.api == "searxng":
            params = {"q": query, "format": "json"}
        async with self._session().get(f"{self.base_url}/search", params=params) as resp:
            resp.raise_for_status()
            data = await resp.json()
        hits = []
        for i, r in enumerate(data.get("results", [])[: self.k]):
            snippet = r.get("snippet") or r.get("content") or ""
            doc = Document(
                id=str(r.get("id") or r.get("url") or i),
                title=r.get("title", ""),
                text=snippet,
                url=r.get("url", ""),
            )
            hits.append(Hit(doc, float(r.get("score", 1.0 / (i + 1))), snippet))
        return hits
