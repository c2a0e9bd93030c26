"""The tools a server hands its sessions: web search over HTTP and the knowledge graph.

By default the search service runs in-process (one command for the demo) with the configured
latency profile; ``search_url`` points the assistant at any other service instead, ours or a
SearxNG-style JSON API.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from aiohttp import web

from tools.latency import LatencyProfile
from tools.search import LocalSearchTool
from tools.web_search import HttpSearchTool, start_search_service

from .engine import Engine
from .lookup import Tool

log = logging.getLogger(__name__)


class ToolSet:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config = engine.config
        self._service: web.AppRunner | None = None
        self.search_url = self.config.search_url
        self.search: Tool | None = None
        self.kg: Tool | None = None
        self._top_ids = lru_cache(maxsize=4096)(self._local_top_ids)

    async def start(self) -> ToolSet:
        cfg = self.config
        if cfg.search_url == "local":  # no HTTP at all: the index in-process, no latency
            self.search = LocalSearchTool(self.engine.index, cfg.top_k)
        else:
            if not cfg.search_url:
                profile = LatencyProfile.parse(cfg.search_latency)
                self._service, self.search_url = await start_search_service(
                    self.engine.index, profile, seed=cfg.seed
                )
                log.info("search service at %s (latency %s)", self.search_url, profile)
            self.search = HttpSearchTool(self.search_url, cfg.search_api, cfg.top_k)
        if self.engine.kg is not None:
            from tools.kg import KgTool

            docs = {d.id: d for d in self.engine.docs}
            self.kg = KgTool(self.engine.kg, docs, LatencyProfile.parse(cfg.kg_latency))
        return self

    def tools(self) -> dict[str, Tool]:
        found = {"search": self.search, "kg": self.kg}
        return {name: tool for name, tool in found.items() if tool is not None}

    @property
    def local_corpus(self) -> bool:
        """True when the search service serves the engine's own index (so a local check works)."""
        return not self.config.search_url or self.config.search_url == "local"

    def _local_top_ids(self, query: str) -> tuple[str, ...]:
        return tuple(h.doc.id for h in self.engine.index.search(query, self.config.top_k))

    def same_results(self, a: str, b: str) -> bool:
        """Cheap local sufficiency check: both queries give the same top-k documents."""
        ids = self._top_ids(a)
        return bool(ids) and ids == self._top_ids(b)

    def kg_parse(self, text: str) -> tuple[str, str] | None:
        return self.engine.kg.kg_key(text) if self.engine.kg is not None else None

    async def close(self) -> None:
        if isinstance(self.search, HttpSearchTool):
            await self.search.close()
        if self._service is not None:
            await self._service.cleanup()
