"""The web-search service and its HTTP client: results, latency profiles, deadlines, failures."""

import asyncio
import threading

import pytest
from aiohttp import web
from conftest import serve_routes

from tools.corpus import load_documents
from tools.runtime.latency import LatencyProfile
from tools.search.bm25 import Bm25Index
from tools.search.web import HttpSearchTool, start_search_service


@pytest.fixture(scope="module")
def index():
    return Bm25Index(load_documents())


async def test_search_service_returns_pages_after_its_latency(index):
    runner, url = await start_search_service(index, LatencyProfile.parse("fixed:0.05"))
    tool = HttpSearchTool(url)
    try:
        result = await tool("capital of australia")
    finally:
        await tool.close()
        await runner.cleanup()
    assert result.error is None and result.elapsed_ms >= 50
    top = result.hits[0]
    assert (
        top.doc.title == "Australia"
        and "Canberra" in top.snippet
        and top.doc.url.startswith("http")
    )


async def test_deadline_and_cancellation(index):
    runner, url = await start_search_service(index, LatencyProfile.parse("fixed:0.5"))
    tool = HttpSearchTool(url)
    try:
        late = await tool("capital of australia", deadline_s=0.05)
        assert late.error == "deadline exceeded" and late.hits == [] and late.elapsed_ms < 400
        task = asyncio.create_task(tool("capital of austria"))
        await asyncio.sleep(0.05)  # let the request leave
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await tool.close()
        await runner.cleanup()


async def test_dead_service_is_an_error_result_not_an_exception():
    tool = HttpSearchTool("http://127.0.0.1:9")
    result = await tool("anything", deadline_s=2)
    await tool.close()
    assert result.error and result.hits == []


async def test_searxng_style_json_api():
    async def search(request):
        assert request.query["format"] == "json"
        return web.json_response(
            {
                "results": [
                    {
                        "title": "Vienna",
                        "url": "https://example.org/vienna",
                        "content": "Vienna is the capital of Austria.",
                    }
                ]
            }
        )

    async with serve_routes(("GET", "/search", search)) as url:
        tool = HttpSearchTool(url, api="searxng")
        try:
            result = await tool("capital of austria")
        finally:
            await tool.close()
    assert result.hits[0].doc.title == "Vienna" and "capital of Austria" in result.hits[0].snippet


# --- ToolSet: the per-question evidence index, built off the event loop, kept in an LRU -------
def _evidence_toolset(tmp_path, index, **config):
    from types import SimpleNamespace

    from streaming.server.config import Config
    from streaming.server.toolset import ToolSet

    cfg = Config(evidence_dir=str(tmp_path), search_latency="none", **config)
    engine = SimpleNamespace(config=cfg, index=index, kg=None, docs=index.docs)
    toolset = ToolSet(engine)
    builds: list[tuple[str, str]] = []
    load = toolset._load_evidence

    def counting(evidence_id, path):
        builds.append((evidence_id, threading.current_thread().name))
        return load(evidence_id, path)

    toolset._load_evidence = counting
    return toolset, builds


def _write_evidence(folder, name, docs):
    import json

    with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"id": d.id, "title": d.title, "text": d.text}) + "\n")


async def test_evidence_index_is_built_off_the_loop_and_reused(tmp_path, index):
    docs = load_documents()
    _write_evidence(tmp_path, "q1", [d for d in docs if d.domain == "open"][:30])
    toolset, builds = _evidence_toolset(tmp_path, index)
    first, second = await asyncio.gather(toolset.for_session("q1"), toolset.for_session("q1"))
    third = await toolset.for_session("q1")
    search = [s.tools["search"].backend for s in (first, second, third)]
    assert search[0].index is search[1].index is search[2].index  # one build, shared
    assert len(builds) == 1 and builds[0][1] != threading.current_thread().name
    assert "kg" not in first.tools and "search" in first.tools  # its own pages only
    result = await search[2]("capital of australia")
    assert result.error is None and result.hits and result.hits[0].doc.title == "Australia"
    assert first.top_ids("capital australia") == first.top_ids("australia capital") != ()
    assert first.top_ids("zzzz qqqq") == ()


async def test_evidence_lru_is_bounded_and_failures_are_not_cached(tmp_path, index):
    docs = load_documents()
    for n in range(3):
        _write_evidence(tmp_path, f"q{n}", docs[10 * n : 10 * n + 10])
    toolset, builds = _evidence_toolset(tmp_path, index)
    toolset.evidence_cache_size = 2
    for name in ("q0", "q1", "q0", "q2", "q0", "q1"):
        await toolset.for_session(name)
    assert [b for b, _ in builds] == ["q0", "q1", "q2", "q1"]  # q1 was the least recent
    for bad in ("../etc/passwd", ".hidden", "", "x" * 200):
        if bad:
            with pytest.raises(ValueError):
                await toolset.for_session(bad)
    with pytest.raises(ValueError, match="no evidence"):
        await toolset.for_session("later")
    _write_evidence(tmp_path, "later", docs[:5])
    later = (await toolset.for_session("later")).tools["search"].backend.index.docs
    assert [d.id for d in later] == [d.id for d in docs[:5]]


async def test_server_tools_for_a_session_without_evidence(tmp_path, index):
    toolset, builds = _evidence_toolset(tmp_path, index, search_url="local")
    chosen = await toolset.for_session(None)
    assert chosen.top_ids == toolset.top_ids and builds == []
    assert chosen.top_ids("capital of australia") == chosen.top_ids("australia capital") != ()
