"""The tools a server hands its sessions: web search over HTTP and the knowledge graph.

By default the search service runs in-process (one command for the demo) with the configured
latency profile; ``search_url`` points the assistant at any other service instead, ours or a
SearxNG-style JSON API.

A session may instead search one question's own evidence (CRAG Task 1): ``for_session(id)``
serves ``<evidence_dir>/<id>.jsonl`` through a local index with the same latency profile. The
index is built in the shared CPU pool (never on the event loop) and kept in an LRU by id, so
sessions on the same question share one build.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from functools import lru_cache, partial
from pathlib import Path
from typing import NamedTuple

from aiohttp import web

from streaming.protocol import EVIDENCE_ID
from streaming.rag.lookup import Tool
from streaming.server.engine import Engine
from tools.corpus import load_documents
from tools.latency import LatencyProfile
from tools.offload import cpu_executor
from tools.search import Bm25Index, LocalSearchTool
from tools.web_search import HttpSearchTool, start_search_service

log = logging.getLogger(__name__)


def _top_ids(index: Bm25Index, query: str, k: int) -> tuple[str, ...]:
    return tuple(h.doc.id for h in index.search(query, k))


class Evidence(NamedTuple):
    """One question's evidence index and its memoized top-k ids (for the sufficiency check)."""

    index: Bm25Index
    top_ids: Callable[[str], tuple[str, ...]]


class SessionTools(NamedTuple):
    tools: dict[str, Tool]
    kg_parse: Callable[[str], tuple[str, str] | None] | None
    same_results: Callable[[str, str], bool] | None


class ToolSet:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config = engine.config
        self._service: web.AppRunner | None = None
        self.search_url = self.config.search_url
        self.search: Tool | None = None
        self.kg: Tool | None = None
        self._top_ids = lru_cache(maxsize=4096)(self._local_top_ids)
        # evidence id -> its build (done or under way), least recently used first
        self._evidence: OrderedDict[str, Future[Evidence]] = OrderedDict()
        self.evidence_cache_size = 32
        self._evidence_calls = 0

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
            from tools.kg_tool import KgTool

            self._kg_docs = {d.id: d for d in self.engine.docs}
            self.kg = KgTool(self.engine.kg, self._kg_docs, LatencyProfile.parse(cfg.kg_latency))
        return self

    def tools(self) -> dict[str, Tool]:
        found = {"search": self.search, "kg": self.kg}
        return {name: tool for name, tool in found.items() if tool is not None}

    @property
    def local_corpus(self) -> bool:
        """True when the search service serves the engine's own index (so a local check works)."""
        return not self.config.search_url or self.config.search_url == "local"

    def _local_top_ids(self, query: str) -> tuple[str, ...]:
        return _top_ids(self.engine.index, query, self.config.top_k)

    def same_results(self, a: str, b: str) -> bool:
        """Cheap local sufficiency check: both queries give the same top-k documents."""
        ids = self._top_ids(a)
        return bool(ids) and ids == self._top_ids(b)

    def kg_parse(self, text: str) -> tuple[str, str] | None:
        return self.engine.kg.kg_key(text) if self.engine.kg is not None else None

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
        return Evidence(index, top_ids)

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

    def _tools_at(self, query_time: str | None) -> dict[str, Tool]:
        """The server's tools; with a ``query_time``, a KG tool that reasons as of that date."""
        tools = self.tools()
        if query_time and self.kg is not None:
            from tools.kg_tool import KgTool

            latency = LatencyProfile.parse(self.config.kg_latency)
            tools["kg"] = KgTool(self.engine.kg, self._kg_docs, latency, query_time=query_time)
        return tools

    async def for_session(
        self, evidence_id: str | None = None, query_time: str | None = None
    ) -> SessionTools:
        """The tools, KG parser and sufficiency check for one session: the server's own, or
        (CRAG Task 1) a search over one question's evidence only, with the same latency profile.
        ``query_time`` (CRAG's, e.g. "03/15/2025, 10:00:00 PT") dates ages and "years ago".
        Raises ValueError for an unknown or malformed evidence id."""
        if not evidence_id:
            local = self.same_results if self.local_corpus else None
            return SessionTools(self._tools_at(query_time), self.kg_parse, local)
        evidence = await self.evidence(evidence_id)
        self._evidence_calls += 1
        profile = LatencyProfile.parse(self.config.search_latency)
        k = self.config.top_k
        tool = LocalSearchTool(evidence.index, k, profile, self.config.seed + self._evidence_calls)
        top_ids = evidence.top_ids

        def same_results(a: str, b: str) -> bool:
            ids = top_ids(a)
            return bool(ids) and ids == top_ids(b)

        return SessionTools({"search": tool}, None, same_results)

    async def close(self) -> None:
        if isinstance(self.search, HttpSearchTool):
            await self.search.close()
        if self._service is not None:
            await self._service.cleanup()
