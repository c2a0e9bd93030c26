"""Lexical document search: BM25 (bm25s) over the knowledge base, and the in-process async tool."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import bm25s
import numpy as np

from tools.corpus import Document
from tools.language.text import content_words, overlap, split_sentences
from tools.result import Hit, SearchResult
from tools.runtime.latency import LatencyProfile
from tools.runtime.offload import off_loop

log = logging.getLogger(__name__)


def best_sentences(query: str, text: str, n: int = 2) -> str:
    """The ``n`` sentences of ``text`` sharing most content words with ``query``, in text order."""
    sentences = split_sentences(text)
    if len(sentences) <= n:
        return " ".join(sentences)
    ranked = sorted(range(len(sentences)), key=lambda i: (-overlap(query, sentences[i]), i))[:n]
    return " ".join(sentences[i] for i in sorted(ranked))


class Bm25Index:
    """An in-memory BM25 index over documents (title weighted by repetition)."""

    def __init__(self, docs: list[Document]) -> None:
        self.docs = docs
        corpus = [content_words(f"{d.title} {d.title} {d.text}") for d in docs]
        self.vocab = {w for toks in corpus for w in toks}
        self.bm25 = bm25s.BM25()
        self.bm25.index(corpus, show_progress=False)

    def search(self, query: str, k: int = 3) -> list[Hit]:
        terms = [w for w in content_words(query) if w in self.vocab]
        if not terms:
            return []
        k = min(k, len(self.docs))
        ids, scores = self.bm25.retrieve([terms], k=k, show_progress=False, n_threads=1)
        hits = []
        for i, s in zip(np.asarray(ids)[0], np.asarray(scores)[0], strict=True):
            if s <= 0:
                continue
            doc = self.docs[int(i)]
            hits.append(Hit(doc, float(s), best_sentences(query, doc.text)))
        return hits


class LocalSearchTool:
    """Async search over a local index, with a deadline. Never raises: errors become results."""

    name = "search"

    def __init__(
        self, index: Bm25Index, k: int = 3, latency: LatencyProfile | None = None, seed: int = 0
    ) -> None:
        self.index = index
        self.k = k
        self.latency = latency or LatencyProfile()
        self._rng = random.Random(seed)

    async def _search(self, query: str) -> list[Hit]:
        await self.latency.wait(self._rng)  # the simulated network and service time
        return await off_loop(self.index.search, query, self.k)

    async def __call__(self, query: str, deadline_s: float = 3.0) -> SearchResult:
        t0 = time.perf_counter()
        try:
            hits = await asyncio.wait_for(self._search(query), deadline_s)
            return SearchResult(query, hits, (time.perf_counter() - t0) * 1000)
        except TimeoutError:
            return SearchResult(query, [], (time.perf_counter() - t0) * 1000, "deadline exceeded")
        except Exception as exc:  # a broken tool degrades the answer, never the session
            log.exception("search failed")
            return SearchResult(query, [], (time.perf_counter() - t0) * 1000, str(exc))
