"""The tools a server hands its sessions: every provider in ``tools/registry.py``.

The server owns what the providers share: the search backend (below), the knowledge graph, the
result cache, the evidence indexes. Each session gets its own plugins (``ToolContext``: its
latency seed, query time and evidence id) from every registered provider.

By default the search service runs in-process (one command for the demo) with the configured
latency profile; ``search_url`` points the assistant at any other service instead, ours or a
SearxNG-style JSON API.

A session may instead search one question's own evidence (CRAG Task 1): ``for_session(id)``
serves ``<evidence_dir>/<id>.jsonl`` through a local index with the same latency profile. The
index is built in the shared CPU pool (never on the event loop) and kept in an LRU by id, so
sessions on the same question share one build.

Held here for every session of the server: the shared result cache (a question asked again in
another session is answered without a tool wait; its keys carry the evidence id and query time)
and the completer of unfinished entity names (KG entities and document titles) for fan-out.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from aiohttp import web

from streaming.protocol import EVIDENCE_ID
from streaming.rag.fanout import Completer
from streaming.server.engine import Engine
from streaming.server.result_cache import ResultCache, ScopedResults
from tools.corpus import load_documents
from tools.plugin import ToolContext, ToolPlugin, ToolProvider
from tools.registry import PROVIDERS
from tools.runtime.latency import LatencyProfile, derived_seed
from tools.runtime.offload import cpu_executor
from tools.search.bm25 import Bm25Index, LocalSearchTool
from tools.search.web import HttpSearchTool, start_search_service

if TYPE_CHECKING:  # optional extras (scale): imported only when configured
    from streaming.server.redis_cache import RedisResultCache
    from tools.search.postgres import PgSearchIndex

    SearchIndex = Bm25Index | PgSearchIndex

log = logging.getLogger(__name__)


def _top_ids(index: Bm25Index, query: str, k: int) -> tuple[str, ...]:
    return tuple(h.doc.id for h in index.search(query, k))


class Evidence(NamedTuple):
    """One question's evidence index and its memoized top-k ids (for the sufficiency check)."""

    index: Bm25Index
    top_ids: Callable[[str], tuple[str, ...]]
    completer: Completer | None = None  # its documents' titles, for fan-out


class SessionTools(NamedTuple):
    tools: dict[str, ToolPlugin]
    top_ids: Callable[[str], tuple[str, ...]] | None  # the local ranking (the reflector's check)
    completer: Completer | None = None  # unfinished entity names -> candidates (fan-out)
    results: ScopedResults | None = None  # the server's shared result cache, this scope


class ToolSet:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config = engine.config
        self._service: web.AppRunner | None = None
        self.search_url = self.config.search_url
        self.search: LocalSearchTool | HttpSearchTool | None = None  # the search backend
        self.providers: list[ToolProvider] = [provider() for provider in PROVIDERS]
        self._docs_by_id = {d.id: d for d in engine.docs}
        self._top_ids = lru_cache(maxsize=4096)(self._local_top_ids)
        # evidence id -> its build (done or under way), least recently used first
        self._evidence: OrderedDict[str, Future[Evidence]] = OrderedDict()
        self.evidence_cache_size = 32
        cfg = self.config
        self.results: ResultCache | RedisResultCache = ResultCache(
            cfg.result_cache_ttl_s, cfg.result_cache_size
        )
        self.search_index: SearchIndex = engine.index  # what the search service searches
        self.completer: Completer | None = None

    async def start(self) -> ToolSet:
        cfg = self.config
        await self._start_scale_out()
        if cfg.search_url == "local":  # no HTTP at all: the index in-process, no latency
            self.search = LocalSearchTool(self.search_index, cfg.top_k)  # type: ignore[arg-type]
        else:
            if not cfg.search_url:
                profile = LatencyProfile.parse(cfg.search_latency)
                self._service, self.search_url = await start_search_service(
                    self.search_index,  # type: ignore[arg-type]
                    profile,
                    seed=cfg.seed,
                    token=cfg.token,
                )
                log.info("search service at %s (latency %s)", self.search_url, profile)
            self.search = HttpSearchTool(self.search_url, cfg.search_api, cfg.top_k, cfg.token)
        for provider in self.providers:
            await provider.start(cfg)
        names = [d.title for d in self.engine.docs]
        if self.engine.kg is not None:
            names += [e.name for e in self.engine.kg.entities.values()]
        self.completer = Completer(names)
        return self

    def tools(self) -> dict[str, ToolPlugin]:
        """The tools a session with no evidence and no query time gets."""
        return self._plugins(self._context())

    def _context(self, seed: str = "", query_time: str | None = None) -> ToolContext:
        """A session's tool context over the server's own corpus and graph."""
        search, kg = self._search_for(seed), self.engine.kg
        return ToolContext(self.config, seed, query_time, None, search, kg, self._docs_by_id)

    def _search_for(self, seed: str) -> LocalSearchTool | HttpSearchTool | None:
        """The search backend with this session's own latency draws."""
        if isinstance(self.search, HttpSearchTool) and seed:
            return self.search.for_session(seed)
        return self.search

    def _plugins(self, ctx: ToolContext) -> dict[str, ToolPlugin]:
        """Every provider's plugins for one session, by name (a clash is a configuration error)."""
        found: dict[str, ToolPlugin] = {}
        for provider in self.providers:
            for plugin in provider.for_session(ctx):
                if plugin.name in found:
                    raise ValueError(f"two tools are named {plugin.name!r}")
                found[plugin.name] = plugin
        return found

    @property
    def local_corpus(self) -> bool:
        """True when the search service serves the engine's own index (so a local check works;
        not for PostgreSQL, whose table may hold a larger corpus than the engine's)."""
        own = not self.config.search_url or self.config.search_url == "local"
        return own and self.config.search_backend == "bm25"

    def _local_top_ids(self, query: str) -> tuple[str, ...]:
        return _top_ids(self.engine.index, query, self.config.top_k)

    def top_ids(self, query: str) -> tuple[str, ...]:
        """The engine index's top-k document ids for ``query`` (memoized)."""
        return self._top_ids(query)

    def _evidence_path(self, evidence_id: str) -> Path:
        """Where an evidence id's passages are; ValueError for a malformed id or no folder."""
        if not EVIDENCE_ID.fullmatch(evidence_id):
            raise ValueError(f"bad evidence id {evidence_id!r}")
        if not self.config.evidence_dir:
            raise ValueError("this server has no evidence folder (--evidence-dir)")
        return Path(self.config.evidence_dir) / f"{evidence_id}.jsonl"

    def _load_evidence(self, evidence_id: str, path: Path) -> Evidence:
        """Blocking (file read, tokenizing, BM25): runs in the shared CPU pool."""
        if not path.is_file():
            raise ValueError(f"no evidence {evidence_id!r} in {self.config.evidence_dir}")
        index = Bm25Index(load_documents(path))
        top_ids = lru_cache(maxsize=1024)(partial(_top_ids, index, k=self.config.top_k))
        return Evidence(index, top_ids, Completer(d.title for d in index.docs))

    async def evidence(self, evidence_id: str) -> Evidence:
        """The evidence index for an id: from the LRU, or built off the event loop (concurrent
        sessions asking for one id share one build). Raises ValueError for an unknown id."""
        path = self._evidence_path(evidence_id)
        build = self._evidence.get(evidence_id)
        if build is None or build.cancelled() or (build.done() and build.exception()):
            build = cpu_executor().submit(self._load_evidence, evidence_id, path)
            self._evidence[evidence_id] = build
        self._evidence.move_to_end(evidence_id)
        while len(self._evidence) > max(1, self.evidence_cache_size):
            self._evidence.popitem(last=False)
        try:  # shielded: a session that gives up must not cancel a build others wait for
            return await asyncio.shield(asyncio.wrap_future(build))
        except Exception:
            if self._evidence.get(evidence_id) is build:  # failures are not cached
                del self._evidence[evidence_id]
            raise

    async def for_session(
        self, evidence_id: str | None = None, query_time: str | None = None, seed: str = ""
    ) -> SessionTools:
        """The tools and the local ranking check for one session: the server's own, or (CRAG
        Task 1) a search over one question's evidence only, with the same latency profile.
        ``query_time`` (CRAG's, e.g. "03/15/2025, 10:00:00 PT") dates ages and "years ago".
        Raises ValueError for an unknown or malformed evidence id. A session's latency draws
        depend only on the config seed, ``seed`` and its own call sequence."""
        if not evidence_id:
            ctx = self._context(seed, query_time)
            local = self.top_ids if self.local_corpus else None
            results = self.results.scoped(None, query_time)
            return SessionTools(self._plugins(ctx), local, self.completer, results)
        evidence = await self.evidence(evidence_id)
        profile = LatencyProfile.parse(self.config.search_latency)
        draws = derived_seed(self.config.seed, seed, LocalSearchTool.name)
        search = LocalSearchTool(evidence.index, self.config.top_k, profile, draws)
        ctx = ToolContext(self.config, seed, query_time, evidence_id, search, None, {})
        results = self.results.scoped(evidence_id, query_time)
        return SessionTools(self._plugins(ctx), evidence.top_ids, evidence.completer, results)

    async def _start_scale_out(self) -> None:
        """Scale-out backends (docs/deploy.md): the result cache in Redis, search in PostgreSQL
        (the table loaded from the engine's corpus when it is empty)."""
        cfg = self.config
        if cfg.result_cache_url:
            from streaming.server.redis_cache import RedisResultCache

            cache = RedisResultCache(cfg.result_cache_url, cfg.result_cache_ttl_s,
                                     cfg.result_cache_size)  # fmt: skip
            self.results = await cache.start()
        if cfg.search_backend == "postgres":
            from tools.search.postgres import PgSearchIndex

            index = PgSearchIndex(cfg.pg_dsn, cfg.pg_table)
            count = await asyncio.to_thread(index.ensure_loaded, self.engine.docs)
            log.info("search backend: PostgreSQL table %s (%d documents)", cfg.pg_table, count)
            self.search_index = index
        elif cfg.search_backend != "bm25":
            raise ValueError(f"unknown search_backend {cfg.search_backend!r} (bm25 | postgres)")

    async def close(self) -> None:
        for provider in self.providers:
            await provider.close()
        close_cache = getattr(self.results, "close", None)  # the Redis one
        if close_cache is not None:
            await close_cache()
        if self.search_index is not self.engine.index:
            self.search_index.close()  # type: ignore[union-attr]
        if isinstance(self.search, HttpSearchTool):
            await self.search.close()
        if self._service is not None:
            await self._service.cleanup()
