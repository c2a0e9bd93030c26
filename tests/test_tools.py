"""The web-search service and its HTTP client: results, latency profiles, deadlines, failures."""

import asyncio

import pytest
from aiohttp import web
from conftest import serve_routes

from tools.corpus import load_documents
from tools.latency import LatencyProfile
from tools.search import Bm25Index
from tools.web_search import HttpSearchTool, start_search_service


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
