"""MCP servers' tools as plugins, against a real server (tests/mcp_server.py) over stdio and over
streamable HTTP: listing, speculation only for read-only tools, planning from a question, evidence,
errors as results, and a clean shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("mcp")

from tools.language.understood import understand  # noqa: E402
from tools.plugin import ToolContext  # noqa: E402
from tools.plugins.mcp import McpProvider, McpTool, name_words, server_label  # noqa: E402

SERVER = Path(__file__).with_name("mcp_server.py")
WEATHER = "what's the weather like in paris"
PARIS = "The weather in Paris is 18 degrees Celsius and sunny."


def stdio_command(notes: Path, pid_file: Path | None = None) -> str:
    argv = [sys.executable, str(SERVER), "--notes", str(notes)]
    return shlex.join(argv + (["--pid-file", str(pid_file)] if pid_file else []))


def tools_of(provider: McpProvider) -> dict[str, McpTool]:
    return {t.name: t for t in provider.for_session(ToolContext(config=None))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
async def stdio(tmp_path_factory):
    notes = tmp_path_factory.mktemp("mcp-stdio") / "notes.txt"
    provider = McpProvider()
    # a server that cannot start is logged and skipped; the others still serve. The server's
    # config is one string, entries separated by ';'
    servers = f"/nonexistent/mcp-server ; {stdio_command(notes)}"
    await provider.start(SimpleNamespace(mcp_servers=servers))
    yield provider, notes
    await provider.close()


@pytest.fixture(scope="module")
async def http(tmp_path_factory):
    notes = tmp_path_factory.mktemp("mcp-http") / "notes.txt"
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVER),
        "--http",
        str(port),
        "--notes",
        str(notes),
        stdin=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:  # ready once it accepts a connection (uvicorn binds after its startup)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert proc.returncode is None, "the MCP test server exited"
                assert time.monotonic() < deadline, "the MCP test server never listened"
                await asyncio.sleep(0.05)
        provider = McpProvider()
        await provider.start(SimpleNamespace(mcp_servers=[f"http://127.0.0.1:{port}/mcp"]))
        yield provider, notes
        await provider.close()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


def test_planning_rule_without_a_server():
    assert name_words("getWeatherForecast") == ["get", "weather", "forecast"]
    assert name_words("list_open-issues.v2") == ["list", "open", "issue", "v2"]
    assert server_label("python3 tests/mcp_server.py --notes x") == "mcp_server"
    assert server_label("npx -y @modelcontextprotocol/server-github") == "server_github"
    assert server_label("http://127.0.0.1:8123/mcp") == "127_0_0_1_8123"

    stats = McpTool(
        None,
        {
            "name": "lookup",
            "description": "Population and area statistics of a country.",
            "inputSchema": {"type": "object", "properties": {"country": {"type": "string"}}},
        },
    )
    # no topic word in the name: two description words are needed, and are dropped from the value
    assert stats.plan(understand("what is the population and area of france")).query == (
        '{"country": "france"}'
    )
    assert stats.plan(understand("what is the population of france")) is None

    clock = McpTool(None, {"name": "get_time", "inputSchema": {"type": "object"}})
    assert clock.plan(understand("what time is it")).query == "{}"
    assert clock.spec.speculative is False  # no annotations: not known to be read-only

    two = McpTool(
        None,
        {
            "name": "get_weather",
            "inputSchema": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city", "days"],
            },
        },
    )
    assert two.plan(understand(WEATHER)) is None  # more than one required argument


async def test_stdio_lists_tools_with_their_safety(stdio):
    provider, _ = stdio
    assert len(provider.servers) == 1  # the one that could not start was skipped
    tools = tools_of(provider)
    assert set(tools) == {"get_weather", "add_note"}
    weather, note = tools["get_weather"], tools["add_note"]
    assert weather.spec.speculative is True  # readOnlyHint
    assert note.spec.speculative is False  # a side effect: only after the turn ends
    assert weather.spec.parameters["required"] == ["city"]
    assert weather.spec.parameters["properties"]["city"]["type"] == "string"
    assert "weather" in weather.spec.description.lower()
    assert (weather.spec.match, weather.spec.composes, weather.spec.order) == ("exact", False, 60)
    assert weather.spec.schema()["function"]["name"] == "get_weather"


async def test_stdio_plans_and_runs_from_a_question(stdio):
    tools = tools_of(stdio[0])
    weather, note = tools["get_weather"], tools["add_note"]
    plan = weather.plan(understand(WEATHER))
    assert plan is not None
    assert json.loads(plan.query) == {"city": "paris"}
    assert plan.key == plan.query == '{"city": "paris"}'
    assert plan.tool == "get_weather"
    assert note.plan(understand(WEATHER)) is None
    assert weather.plan(understand("who wrote hamlet")) is None
    assert weather.plan(understand("what's the weather like")) is None  # no city yet
    assert json.loads(note.plan(understand("add a note buy oat milk")).query) == {
        "text": "buy oat milk"
    }

    result = await weather.run(plan.query, 5.0)
    assert result.error is None
    assert [h.snippet for h in result.hits] == [PARIS]
    assert result.hits[0].doc.title == "get weather"
    assert result.meta["tool"] == "get_weather"


async def test_stdio_errors_are_results(stdio):
    weather = tools_of(stdio[0])["get_weather"]
    failed = await weather.run('{"city": "atlantis"}', 5.0)  # the tool itself fails
    assert failed.hits == [] and "atlantis" in failed.error
    bad = await weather.run("not json", 5.0)
    assert bad.hits == [] and bad.error.startswith("bad arguments")
    late = await weather.run('{"city": "paris"}', 0.0)
    assert late.hits == [] and late.error.startswith("timeout")
    again = await weather.run('{"city": "london"}', 5.0)  # the session survives all three
    assert again.error is None and "London" in again.hits[0].snippet


async def test_http_server(http):
    provider, notes = http
    tools = tools_of(provider)
    assert set(tools) == {"get_weather", "add_note"}
    assert tools["get_weather"].spec.speculative and not tools["add_note"].spec.speculative
    plan = tools["get_weather"].plan(understand(WEATHER))
    result = await tools["get_weather"].run(plan.query, 5.0)
    assert [h.snippet for h in result.hits] == [PARIS]

    assert not notes.exists()  # listing and planning never call the note tool
    plan = tools["add_note"].plan(understand("add a note buy oat milk"))
    added = await tools["add_note"].run(plan.query, 5.0)
    assert added.error is None and added.hits[0].snippet == "Noted: buy oat milk"
    assert notes.read_text() == "buy oat milk\n"


async def test_colliding_names_get_the_server_label(stdio, http):
    both = McpProvider()
    both.servers = stdio[0].servers + http[0].servers  # the same two tools from two servers
    names = [t.name for t in both._plugins(both.servers)]
    label = http[0].servers[0].label  # 127_0_0_1_<port>
    assert names == ["get_weather", "add_note", f"{label}__get_weather", f"{label}__add_note"]


async def test_close_ends_the_server_process(tmp_path):
    pid_file = tmp_path / "pid"
    provider = McpProvider()
    await provider.start(SimpleNamespace(mcp_servers=[stdio_command(tmp_path / "n", pid_file)]))
    pid = int(pid_file.read_text())
    assert not gone(pid) and tools_of(provider)
    await provider.close()
    assert gone(pid)
    assert tools_of(provider) == {}
    result = await McpTool(None, {"name": "get_weather"}).run('{"city": "paris"}', 1.0)
    assert result.error == "MCP server not connected"


async def test_through_the_lookup_a_side_effect_waits_for_the_end_of_turn(stdio):
    """The pipeline, not just the declaration: while the user speaks, the read-only weather
    tool runs early and the note tool never does; at the end of turn the note is written once."""
    from streaming.events import ToolCall
    from streaming.rag.lookup import Lookup

    provider, notes = stdio
    events: list = []
    lookup = Lookup(tools_of(provider), events.append, "fixed-interval", deadline_s=10)
    lookup.on_partial("add a note remember the", 800)
    lookup.on_partial("add a note remember the weather in paris", 1600)
    await lookup._flush()
    await asyncio.gather(*(c.task for c in lookup.calls if c.task))
    early = {e.tool for e in events if isinstance(e, ToolCall) and e.speculative}
    assert "get_weather" in early and "add_note" not in early
    assert not notes.exists() or "remember" not in notes.read_text()
    outcome = await lookup.resolve("add a note remember the weather in paris", 2000)
    assert outcome.hits
    assert notes.read_text().count("remember") == 1
    lookup.close()
