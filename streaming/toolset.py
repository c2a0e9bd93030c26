"""The tools a server hands its sessions: web search over HTTP and the knowledge graph.

By default the search service runs in-process (one command for the demo) with the configured
latency profile; ``search_url`` points the assistant at any other service instead, ours or a
SearxNG-style JSON API.

A session may instead search one question's own evidence (CRAG Task 1): ``evidence_tools(id)``
serves ``<evidence_dir>/<id>.jsonl`` through a local index with the same latency profile.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from aiohttp import web

from tools.corpus import load_documents
from tools.latency import LatencyProfile
from tools.search import Bm25Index, LocalSearchTool
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
        return tuple(h.doc.id for h in self.engine.index.search(query, self.config.top_k))

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

    def evidence_tools(
        self, evidence_id: str
    ) -> tuple[dict[str, Tool], Callable[[str, str], bool]]:
        """Search over one question's evidence, and its local sufficiency check.
        Raises ValueError for an unknown or malformed id."""
        index = self._evidence_index(evidence_id)
        self._evidence_calls += 1
        profile = LatencyProfile.parse(self.config.search_latency)
        tool = LocalSearchTool(
            index, self.config.top_k, profile, self.config.seed + self._evidence_calls
        )
        k = self.config.top_k

        def same_results(a: str, b: str) -> bool:
            ids_a = [h.doc.id for h in index.search(a, k)]
            return bool(ids_a) and ids_a == [h.doc.id for h in index.search(b, k)]

        return {"search": tool}, same_results

    async def close(self) -> None:
        if isinstance(self.search, HttpSearchTool):
            await self.search.close()
        if self._service is not None:
            await self._service.cleanup()
