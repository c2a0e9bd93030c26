"""Web search as a service: an HTTP search API over a corpus, and the client the assistant uses.

``create_search_app`` serves ``GET /search?q=...&k=3`` -> ``{"query", "results": [{id, title,
url, snippet, score}]}`` after a delay drawn from a latency profile, like a real web search API.
``HttpSearchTool`` calls it (or a SearxNG-style ``/search?format=json`` endpoint) with a deadline.

With a ``token`` the service answers ``/search`` only to requests that carry it (header or query,
``tools.runtime.auth``) and the client sends it as ``Authorization: Bearer``. A request's
``draw`` parameter (``<session seed>:<n>``, sent by a session's view of the client) seeds that
request's delay, so a session's latencies do not depend on other sessions' traffic.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import random
import time

import aiohttp
from aiohttp import web

from tools.corpus import Document
from tools.result import Hit, SearchResult
from tools.runtime.auth import token_ok, unauthorized
from tools.runtime.latency import LatencyProfile, derived_seed
from tools.search.bm25 import Bm25Index

log = logging.getLogger(__name__)
INDEX = web.AppKey("index", Bm25Index)
LATENCY = web.AppKey("latency", LatencyProfile)
RNG = web.AppKey("rng", random.Random)
SEED = web.AppKey("seed", str)
TOKEN = web.AppKey("token", str)


@web.middleware
async def _require_token(request: web.Request, handler):  # type: ignore[no-untyped-def]
    if request.path != "/healthz" and not token_ok(request, request.app[TOKEN]):
        return unauthorized()
    return await handler(request)


async def _search(request: web.Request) -> web.Response:
    query = request.query.get("q", "").strip()
    if not query:
        return web.json_response({"error": "missing q"}, status=400)
    try:
        k = max(1, min(20, int(request.query.get("k", "3"))))
    except ValueError:
        return web.json_response({"error": "k must be an integer"}, status=400)
    draw = request.query.get("draw", "")[:200]  # a session's own stream, else the shared one
    rng = random.Random(derived_seed(request.app[SEED], draw)) if draw else request.app[RNG]
    delay = await request.app[LATENCY].wait(rng)
    hits = await asyncio.to_thread(request.app[INDEX].search, query, k)
    return web.json_response(
        {
            "query": query,
            "latency_ms": round(delay * 1000, 1),
            "results": [h.as_dict() for h in hits],
        }
    )


async def _health(request: web.Request) -> web.Response:
    index = request.app[INDEX]  # Bm25Index, or tools.search.postgres's index (len: a query)
    size = len(index.docs) if isinstance(index, Bm25Index) else await asyncio.to_thread(len, index)
    return web.json_response(
        {
            "ok": True,
            "documents": size,
            "latency": str(request.app[LATENCY]),
        }
    )


def create_search_app(
    index: Bm25Index,
    latency: LatencyProfile | None = None,
    seed: int | None = None,
    token: str = "",
) -> web.Application:
    app = web.Application(middlewares=[_require_token])
    app[INDEX] = index
    app[LATENCY] = latency or LatencyProfile()
    app[RNG] = random.Random(seed)
    app[SEED] = str(seed)
    app[TOKEN] = token
    app.router.add_get("/search", _search)
    app.router.add_get("/healthz", _health)
    return app


async def start_search_service(
    index: Bm25Index,
    latency: LatencyProfile | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    seed: int | None = None,
    token: str = "",
) -> tuple[web.AppRunner, str]:
    """Serve in the running loop; returns the runner and the base URL."""
    runner = web.AppRunner(create_search_app(index, latency, seed, token), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://{host}:{bound}"


class HttpSearchTool:
    """Search over HTTP. ``api="streamrag"`` for our service, ``"searxng"`` for SearxNG's JSON API.

    Never raises: errors and deadlines become results. Cancellation propagates. ``token`` goes
    to our own service only (``api="streamrag"``), never to a third party's SearxNG."""

    name = "search"

    def __init__(self, base_url: str, api: str = "streamrag", k: int = 3, token: str = "") -> None:
        if api not in ("streamrag", "searxng"):
            raise ValueError(f"unknown search api {api!r}")
        self.base_url = base_url.rstrip("/")
        self.api = api
        self.k = k
        self._headers = {"Authorization": f"Bearer {token}"} if token and api == "streamrag" else {}
        self._pool: list[aiohttp.ClientSession] = []  # one connection pool, shared by the views
        self._draw_seed: str | None = None
        self._draws = 0

    def for_session(self, seed: str) -> HttpSearchTool:
        """A view for one session: same connections, its own latency draws (``draw=seed:n``)."""
        view = copy.copy(self)
        view._draw_seed, view._draws = seed, 0
        return view

    def _session(self) -> aiohttp.ClientSession:
        if not self._pool or self._pool[0].closed:
            self._pool[:] = [aiohttp.ClientSession(headers=self._headers)]
        return self._pool[0]

    async def close(self) -> None:
        if self._pool:
            await self._pool[0].close()

    async def __call__(self, query: str, deadline_s: float = 3.0) -> SearchResult:
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(deadline_s):
                hits, meta = await self._fetch(query)
            return SearchResult(query, hits, (time.perf_counter() - t0) * 1000, None, meta)
        except TimeoutError:
            return SearchResult(query, [], (time.perf_counter() - t0) * 1000, "deadline exceeded")
        except (aiohttp.ClientError, ValueError, KeyError) as exc:
            log.warning("search %r failed: %s", query, exc)
            return SearchResult(
                query, [], (time.perf_counter() - t0) * 1000, str(exc) or type(exc).__name__
            )

    async def _fetch(self, query: str) -> tuple[list[Hit], dict]:
        params = {"q": query, "k": str(self.k)}
        if self.api == "searxng":
            params = {"q": query, "format": "json"}
        elif self._draw_seed is not None:
            self._draws += 1  # counted at the call, so the sequence is the session's own
            params["draw"] = f"{self._draw_seed}:{self._draws}"
        async with self._session().get(f"{self.base_url}/search", params=params) as resp:
            resp.raise_for_status()
            data = await resp.json()
        if not isinstance(data, dict) or not isinstance(data.get("results", []), list):
            raise ValueError("search response is not an object with a results list")
        # a malformed entry (not an object) is skipped; fields of the wrong type count as absent
        rows = [r for r in data.get("results", []) if isinstance(r, dict)][: self.k]
        hits = []
        for i, r in enumerate(rows):
            snippet = _str(r.get("snippet")) or _str(r.get("content"))
            doc = Document(
                id=_str(r.get("id")) or _str(r.get("url")) or str(i),
                title=_str(r.get("title")),
                text=snippet,
                url=_str(r.get("url")),
            )
            score = r.get("score")
            ok = isinstance(score, int | float) and not isinstance(score, bool)
            ok = ok and math.isfinite(score)  # type: ignore[arg-type]
            hits.append(Hit(doc, float(score) if ok else 1.0 / (i + 1), snippet))
        served = data.get("latency_ms")  # our service's simulated delay
        return hits, ({"service_latency_ms": served} if served is not None else {})


def _str(value: object) -> str:
    """A text field of a search result: strings (and numbers, as text) only."""
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else ""
