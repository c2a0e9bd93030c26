"""Who may use the server: the shared token on /ws and on the search service (401), the browser
Origin allow-list (403), evaluation-only start options (bad_option), and no secret in any log."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging

import aiohttp
import pytest

from streaming.server.app import TOOLS, bound_port, start_server
from tests.conftest import RunningServer

TOKEN = "s3cret-T0ken-never-logged"  # noqa: S105 (a test secret)


@contextlib.asynccontextmanager
async def serving(engine, **changes):
    """A server of our own with these config changes (no simulated tool latency: quick)."""
    changes = {"search_latency": "none", "kg_latency": "none", **changes}
    eng = dataclasses.replace(engine, config=engine.config.replace(**changes))
    runner = await start_server(eng, "127.0.0.1", 0)
    try:
        yield RunningServer(runner, bound_port(runner))
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
async def secured(engine):
    async with serving(engine, token=TOKEN) as srv:
        yield srv


async def handshake_status(url: str, **kw) -> int:
    """The HTTP status of a websocket upgrade (101 when it went through)."""
    async with aiohttp.ClientSession() as http:
        try:
            async with http.ws_connect(url, **kw) as ws:
                await ws.send_str(json.dumps({"type": "start", "sample_rate": 16000}))
                msg = await ws.receive_json(timeout=10)
                assert msg["type"] == "ready"
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


async def ask(url: str, text: str = "what is the capital of austria", **kw) -> list[dict]:
    """A typed question over a session opened with ``kw``; its events up to answer_done."""
    events: list[dict] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(url, **kw) as ws:
        await ws.send_str(json.dumps({"type": "start", "sample_rate": 16000}))
        await ws.send_str(json.dumps({"type": "text", "text": text}))
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                events.append(json.loads(msg.data))
                if events[-1]["type"] in ("answer_done", "error"):
                    break
    return events


# --- the token on /ws ------------------------------------------------------------------------
async def test_ws_without_or_with_a_wrong_token_is_401(secured):
    assert await handshake_status(secured.ws_url) == 401
    assert await handshake_status(f"{secured.ws_url}?token=wrong") == 401
    bad = {"Authorization": "Bearer " + TOKEN[:-1]}
    assert await handshake_status(secured.ws_url, headers=bad) == 401
    assert await handshake_status(secured.ws_url, headers={"Authorization": TOKEN}) == 401


async def test_ws_with_the_token_in_the_header_or_the_query_is_served(secured):
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert await handshake_status(secured.ws_url, headers=bearer) == 101
    events = await ask(f"{secured.ws_url}?token={TOKEN}")
    assert events[-1]["type"] == "answer_done" and "vienna" in events[-1]["text"].lower()


async def test_the_page_is_served_without_a_token(secured):
    """The demo page loads; web/connection.js passes the page's ?token= on to /ws
    (tests/web/connection.test.mjs)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{secured.http_url}/?token={TOKEN}") as resp:
            assert resp.status == 200 and "<html" in (await resp.text()).lower()
        async with http.get(f"{secured.http_url}/static/connection.js") as resp:
            assert "token" in await resp.text()


# --- the token on the search service ---------------------------------------------------------
async def test_search_service_refuses_requests_without_the_token(secured):
    url = secured.runner.app[TOOLS].search_url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{url}/search", params={"q": "vienna"}) as resp:
            assert resp.status == 401
        async with http.get(f"{url}/search", params={"q": "vienna", "token": "nope"}) as resp:
            assert resp.status == 401
        ok = {"Authorization": f"Bearer {TOKEN}"}
        async with http.get(f"{url}/search", params={"q": "vienna"}, headers=ok) as resp:
            assert resp.status == 200 and (await resp.json())["results"]


async def test_the_assistant_sends_the_token_to_its_search_service(secured):
    tools = secured.runner.app[TOOLS]
    result = await tools.search("capital of austria", 5.0)
    assert result.error is None and result.hits
    session_view = (await tools.for_session(None, None, "s1")).tools["search"]
    result = await session_view("capital of austria", 5.0)
    assert result.error is None and result.hits


# --- Origin ----------------------------------------------------------------------------------
async def test_a_foreign_origin_is_refused_with_403(server):
    foreign = {"Origin": "http://evil.example"}
    assert await handshake_status(server.ws_url, headers=foreign) == 403
    own = {"Origin": server.http_url}
    assert await handshake_status(server.ws_url, headers=own) == 101
    assert await handshake_status(server.ws_url) == 101  # no Origin: not a browser


async def test_allowed_origins_is_an_allow_list(engine):
    async with serving(engine, allowed_origins="https://app.example, http://b.example") as srv:
        ok = {"Origin": "https://app.example"}
        assert await handshake_status(srv.ws_url, headers=ok) == 101
        assert await handshake_status(srv.ws_url, headers={"Origin": srv.http_url}) == 403
    async with serving(engine, allowed_origins="*") as srv:
        assert await handshake_status(srv.ws_url, headers={"Origin": "http://x.example"}) == 101


# --- evaluation-only options ------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [{"audit": True}, {"pace_audio": False}, {"evidence": "open-q001"}],
    ids=["audit", "pace_audio", "evidence"],
)
async def test_eval_only_options_are_bad_options_outside_eval_mode(engine, options):
    async with serving(engine) as srv, aiohttp.ClientSession() as http:
        async with http.ws_connect(srv.ws_url) as ws:
            start = {"type": "start", "sample_rate": 16000, "options": options}
            await ws.send_str(json.dumps(start))
            error = await ws.receive_json(timeout=10)
            assert error["type"] == "error" and error["code"] == "bad_option"
            assert next(iter(options)) in error["message"] and "eval" in error["message"]
            await ws.send_str(json.dumps({"type": "start", "sample_rate": 16000}))
            assert (await ws.receive_json(timeout=10))["type"] == "ready"


async def test_eval_mode_takes_the_eval_only_options(server):
    """The shared server is started for evaluation (as streamrag eval's is)."""
    options = {"audit": True, "pace_audio": False}
    async with aiohttp.ClientSession() as http, http.ws_connect(server.ws_url) as ws:
        await ws.send_str(json.dumps({"type": "start", "sample_rate": 16000, "options": options}))
        assert (await ws.receive_json(timeout=10))["type"] == "ready"


def test_streamrag_eval_starts_its_server_in_eval_mode():
    import inspect

    from streaming.eval import local_server

    assert "eval_mode=True" in inspect.getsource(local_server.local_server)


# --- no secret in any log ---------------------------------------------------------------------
async def test_the_token_never_appears_in_a_log(secured, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, every level
    assert await handshake_status(secured.ws_url, headers={"Authorization": "Bearer x"}) == 401
    assert await handshake_status(f"{secured.ws_url}?token={TOKEN}x") == 401
    events = await ask(f"{secured.ws_url}?token={TOKEN}")
    assert events[-1]["type"] == "answer_done"
    await ask(secured.ws_url, headers={"Authorization": f"Bearer {TOKEN}"}, text="who")
    assert caplog.records, "nothing was logged: the check would be vacuous"
    assert TOKEN not in caplog.text
    config = secured.runner.app[TOOLS].config
    assert config.token == TOKEN and TOKEN not in repr(config) and TOKEN not in str(config)
