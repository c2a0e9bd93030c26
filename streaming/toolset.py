"""The tools a server hands its sessions: web search over HTTP and the knowledge graph.

By default the search service runs in-process (one command for the demo) with the configured
latency profile; ``search_url`` points the assistant at any other service instead, ours or a
SearxNG-style JSON API.

A session may instead search one question's own evidence (CRAG Task 1): ``for_session(id)``
serves ``<evidence_dir>/<id>.jsonl`` through a local index with the same latency profile.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from aiohttp import web

from tools.corpus import load_documents
from tools.latency import LatencyProfile
from tools.search import Bm25Index, LocalSearchTool
from tools.web_search import HttpSearchTool, start_search_service

from .engine import Engine
from .lookup import Tool

log = logging.getLogger(__name__)


def _top_ids(index: Bm25Index, query: str, k: int) -> tuple[str, ...]:
    return tuple(h.doc.id for h in index.search(query, k))


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
        self._evidence_index = lru_cache(maxsize=32)(self._load_evidence)
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
        return _top_ids(self.engine.index, query, self.config.top_k)

    def same_results(self, a: str, b: str) -> bool:
        """Cheap local sufficiency check: both queries give the same top-k documents."""
        ids = self._top_ids(a)
        return bool(ids) and ids == self._top_ids(b)

    def kg_parse(self, text: str) -> tuple[str, str] | None:
        return self.engine.kg.kg_key(text) if self.engine.kg is not None else None

    def _load_evidence(self, evidence_id: str) -> Bm25Index:
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", evidence_id) or evidence_id.startswith("."):
            raise ValueError(f"bad evidence id {evidence_id!r}")
        if not self.config.evidence_dir:
            raise ValueError("this server has no evidence folder (--evidence-dir)")
        path = Path(self.config.evidence_dir) / f"{evidence_id}.jsonl"
        if not path.is_file():
            raise ValueError(f"no evidence {evidence_id!r} in {self.config.evidence_dir}")
        return Bm25Index(load_documents(path))

    def for_session(self, evidence_id: str | None = None) -> SessionTools:
        """The tools, KG parser and sufficiency check for one session: the server's own, or
        (CRAG Task 1) a search over one question's evidence only, with the same latency profile.
        Raises ValueError for an unknown or malformed evidence id."""
        if not evidence_id:
            local = self.same_results if self.local_corpus else None
            return SessionTools(self.tools(), self.kg_parse, local)
        index = self._evidence_index(evidence_id)
        self._evidence_calls += 1
        profile = LatencyProfile.parse(self.config.search_latency)
        k = self.config.top_k
        tool = LocalSearchTool(index, k, profile, self.config.seed + self._evidence_calls)

        def same_results(a: str, b: str) -> bool:
            ids = _top_ids(index, a, k)
            return bool(ids) and ids == _top_ids(index, b, k)

        return SessionTools({"search": tool}, None, same_results)

    async def close(self) -> None:
        if isinstance(self.search, HttpSearchTool):
            await self.search.close()
        if self._service is not None:
            await self._service.cleanup()
