"""MCP servers' tools as tool plugins: any Model Context Protocol server (stdio or streamable HTTP)
lends its tools to the pipeline, each declared, planned and run like a built-in tool.

``config.mcp_servers`` lists the servers (a sequence of strings, or one string separated by
``;``): an ``http://`` or ``https://`` URL is a streamable HTTP endpoint (``http://host:port/mcp``);
anything else is a command line (split with ``shlex``) that starts a stdio server. A stdio server
gets the SDK's safe default environment (PATH, HOME, ...); prefix the command with
``env NAME=value`` to give it more. Each server is held by one background task that enters the SDK's
context managers, lists the tools, and exits them when ``close`` asks (anyio context managers must
be entered and left in the same task). A server that does not start or answer within
``config.mcp_connect_timeout_s`` (10 s) is logged and skipped.

Declaration (``ToolSpec``) from the MCP tool: its name (made safe for function calling; prefixed
with the server's label only when an earlier server already lends a tool of that name), its
description, ``parameters`` = its ``inputSchema``. ``speculative`` only when the server annotates
it ``readOnlyHint: true`` (and not ``destructiveHint: true``): anything else may change the world,
so the pipeline calls it only after the turn ends. ``match="exact"``: an early call covers the
final question only when the arguments are the same.

Planning without an LLM, from the understood question (``Understood.query``, its search words):

1. Topic: the tool is planned when a content word of the question (stemmed) is a word of the
   tool's name (split on ``_ - .`` and camelCase, stemmed; generic words such as get, list,
   search, add are not topics) or, failing that, when at least two of the question's content
   words are non-generic content words of the tool's description.
2. Arguments: a tool without parameters is called with ``{}``; otherwise exactly one property is
   filled: the only required property, when it is a string, or, with nothing required, the only
   string property (an ``enum`` is not free text). Any other schema: no plan. The value is the
   question's search words minus the words that matched in step 1 (and the name's own words):
   ``get_weather(city)`` and "what's the weather like in paris" -> ``{"city": "paris"}``. Nothing
   left: no plan.

``Plan.query`` and ``Plan.key`` are the arguments as JSON (sorted keys); ``run`` decodes them and
calls the tool within the deadline. Each text content becomes a passage (``text_hit``; a
structured-only result is passed as its JSON); ``isError``, a timeout, a lost server or bad
arguments become an error result. Tested against both major versions of the ``mcp`` SDK (1.x:
``FastMCP``, camelCase fields; 2.x: ``MCPServer``, snake_case fields): fields are read from
``model_dump(by_alias=True)``, which is camelCase in both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shlex
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from tools.language.text import content_words, stem, tokens
from tools.language.understood import Understood
from tools.plugin import Plan, ToolContext, ToolPlugin, ToolProvider, ToolSpec, text_hit, timed
from tools.result import SearchResult

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0  # start, initialize and list tools; config.mcp_connect_timeout_s
CLOSE_TIMEOUT_S = 5.0  # a server's own shutdown, then its task is cancelled
MAX_PAGES = 20  # tools/list pages read from one server

# Words of tool names and descriptions that say what a tool does, not what it is about.
GENERIC = frozenset(
    """get set list fetch find search lookup look query read retrieve return give show add create
    insert update delete remove put post run call make execute tool info information data detail
    current given specified provided use using input output value result string text number item
    object id name type field api request response default optional""".split()
)
_INTERPRETERS = frozenset("python python3 node npx uv uvx bun bunx deno docker sh bash env".split())


def name_words(name: str) -> list[str]:
    """The words of a tool name, stemmed: ``getWeather``, ``get_weather`` -> get, weather."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", name)
    return [stem(t) for t in tokens(spaced)]


def safe_name(name: str) -> str:
    """A function-calling safe name (letters, digits, ``_``, ``-``; at most 64 characters)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:64] or "tool"


def server_label(spec: str) -> str:
    """A short safe label for a server: the URL's host (and port), or the stdio program's name."""
    if is_url(spec):
        parts = urlsplit(spec)
        label = f"{parts.hostname or 'mcp'}_{parts.port}" if parts.port else parts.hostname or "mcp"
    else:
        argv = shlex.split(spec) or ["mcp"]
        label = os.path.basename(argv[0])
        if re.sub(r"[\d.]+$", "", label) in _INTERPRETERS:
            rest = [a for a in argv[1:] if not a.startswith("-") and "=" not in a]
            label = os.path.basename(rest[0]) if rest else label
        label = re.sub(r"\.(py|js|mjs|ts)$", "", label)
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "mcp"


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def _is_text(prop: Any) -> bool:
    """A JSON Schema property that takes free text (``str`` or ``str | None``, no enum)."""
    if not isinstance(prop, Mapping) or "enum" in prop or "const" in prop:
        return False
    kind = prop.get("type")
    if kind == "string" or (isinstance(kind, list) and "string" in kind):
        return True
    options = prop.get("anyOf") or prop.get("oneOf") or []
    return any(_is_text(o) for o in options) and all(
        _is_text(o) or (isinstance(o, Mapping) and o.get("type") == "null") for o in options
    )


def fillable(schema: Mapping[str, Any]) -> str | None:
    """The one property a question fills ('' for a tool without parameters), or None."""
    props = schema.get("properties") or {}
    required = list(schema.get("required") or [])
    if required:
        return required[0] if len(required) == 1 and _is_text(props.get(required[0])) else None
    if not props:
        return ""
    texts = [k for k, v in props.items() if _is_text(v)]
    return texts[0] if len(texts) == 1 else None


def reason(error: BaseException | None) -> str:
    """An error for a log line: the leaves of anyio's exception groups, not the groups."""
    inner = getattr(error, "exceptions", None)
    if inner:
        return "; ".join(reason(e) for e in inner)
    return repr(error)


def _dump(model: Any) -> dict[str, Any]:
    """An SDK model as its wire dict (camelCase keys in SDK 1.x and 2.x alike)."""
    if isinstance(model, Mapping):
        return dict(model)
    return model.model_dump(by_alias=True, exclude_none=True, mode="json")


class McpServer:
    """One MCP server's connection, held open by one background task."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.label = server_label(spec)
        self.session: Any = None  # mcp.ClientSession while connected
        self.tools: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _transport(self) -> contextlib.AbstractAsyncContextManager[Any]:
        if is_url(self.spec):
            try:  # SDK >= 1.24 (and 2.x)
                from mcp.client.streamable_http import streamable_http_client as client
            except ImportError:  # SDK 1.9 - 1.23
                from mcp.client.streamable_http import streamablehttp_client as client
            return client(self.spec)
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client

        argv = shlex.split(self.spec)
        if not argv:
            raise ValueError("empty MCP server command")
        return stdio_client(StdioServerParameters(command=argv[0], args=argv[1:]))

    async def _hold(self) -> None:
        """Enter the transport and session, list the tools, wait for ``stop``, exit (one task)."""
        try:
            from mcp import ClientSession

            async with contextlib.AsyncExitStack() as stack:
                # HTTP yields (read, write, session id getter) in 1.x, (read, write) in 2.x
                streams = await stack.enter_async_context(self._transport())
                session = await stack.enter_async_context(ClientSession(streams[0], streams[1]))
                await session.initialize()
                self.tools = await self._list_tools(session)
                self.session = session
                self._ready.set()
                await self._stop.wait()
                self.session = None
        except Exception as e:  # a failed start, or a server that went away
            self.error = e
            if self._ready.is_set():
                log.warning("MCP server %s ended: %s", self.spec, reason(e))
        finally:
            self.session = None
            self._ready.set()

    @staticmethod
    async def _list_tools(session: Any) -> list[dict[str, Any]]:
        tools, cursor = [], None
        for _ in range(MAX_PAGES):
            if cursor is None:
                page = await session.list_tools()
            else:
                from mcp.types import PaginatedRequestParams

                page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
            data = _dump(page)
            tools += data.get("tools", [])
            cursor = data.get("nextCursor")
            if not cursor:
                break
        return tools

    async def start(self, timeout_s: float) -> bool:
        """Connect and list the tools; False (logged, task ended) when that fails in time."""
        self._task = asyncio.create_task(self._hold(), name=f"mcp:{self.label}")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except asyncio.TimeoutError:
            self.error = TimeoutError(f"no answer in {timeout_s:g} s")
        if self.session is not None:
            log.info("MCP server %s: %d tools", self.spec, len(self.tools))
            return True
        log.error("MCP server %s skipped: %s", self.spec, reason(self.error))
        await self.close(wait_s=0.0)  # stuck in its start: cancelled at once
        return False

    async def close(self, wait_s: float = CLOSE_TIMEOUT_S) -> None:
        """Ask the holding task to leave its contexts (ends a stdio server's process); cancel it
        when it has not within ``wait_s``."""
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        if wait_s > 0:
            await asyncio.wait([task], timeout=wait_s)  # never raises the task's own outcome
        if not task.done():
            task.cancel()
            await asyncio.wait([task])


class McpTool(ToolPlugin):
    """One remote MCP tool as a plugin (see the module docstring for the planning rule)."""

    def __init__(self, server: McpServer | None, tool: Mapping[str, Any], name: str = "") -> None:
        self.server = server
        self.remote = str(tool["name"])
        annotations = tool.get("annotations") or {}
        schema = tool.get("inputSchema") or {"type": "object", "properties": {}}
        description = (tool.get("description") or "").strip()
        self.spec = ToolSpec(
            name=name or safe_name(self.remote),
            description=description or tool.get("title") or self.remote,
            parameters=schema,
            speculative=annotations.get("readOnlyHint") is True
            and annotations.get("destructiveHint") is not True,
            match="exact",
            composes=False,
            plan_cost="cheap",
            order=60,
        )
        self.title = (
            tool.get("title") or annotations.get("title") or " ".join(tokens(self.remote)) or "tool"
        )
        self._words = set(name_words(self.remote))
        self._topics = self._words - GENERIC
        self._described = set(content_words(description)) - GENERIC - self._words
        self._field = fillable(schema)

    def plan(self, question: Understood) -> Plan | None:
        if self._field is None:
            return None
        asked = set(content_words(question.query))
        matched = asked & self._topics
        if not matched:
            matched = asked & self._described
            if len(matched) < 2:
                return None
        arguments: dict[str, str] = {}
        if self._field:
            drop = matched | self._words
            value = " ".join(w for w in question.words if stem(w) not in drop)
            if not value:
                return None
            arguments[self._field] = value
        encoded = json.dumps(arguments, sort_keys=True)
        return Plan(self.name, encoded, encoded)

    async def run(self, query: str, deadline_s: float) -> SearchResult:
        t0 = time.perf_counter()
        try:
            arguments = json.loads(query) if query.strip() else {}
            if not isinstance(arguments, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as e:
            return timed(query, t0, [], error=f"bad arguments: {e}", tool=self.name)
        session = self.server.session if self.server is not None else None
        if session is None:
            return timed(query, t0, [], error="MCP server not connected", tool=self.name)
        try:
            result = await asyncio.wait_for(
                session.call_tool(self.remote, arguments), max(deadline_s, 0.0)
            )
            data = _dump(result)
        except asyncio.TimeoutError:
            return timed(query, t0, [], error=f"timeout after {deadline_s:g} s", tool=self.name)
        except Exception as e:  # a protocol error, a lost connection
            return timed(query, t0, [], error=f"{type(e).__name__}: {e}", tool=self.name)
        texts = [
            c["text"]
            for c in data.get("content") or []
            if c.get("type") == "text" and str(c.get("text") or "").strip()
        ]
        if data.get("isError"):
            return timed(query, t0, [], error=" ".join(texts) or "tool error", tool=self.name)
        if not texts and data.get("structuredContent") is not None:
            texts = [json.dumps(data["structuredContent"], sort_keys=True)]
        hits = [
            text_hit(self.name, self.title if i == 0 else f"{self.title} ({i + 1})", text)
            for i, text in enumerate(texts)
        ]
        return timed(query, t0, hits, tool=self.name)


class McpProvider(ToolProvider):
    """Connects to ``config.mcp_servers`` at start; each session gets every listed tool."""

    def __init__(self) -> None:
        self.servers: list[McpServer] = []
        self.tools: list[McpTool] = []

    async def start(self, config: Any) -> None:
        specs = getattr(config, "mcp_servers", ()) or ()
        if isinstance(specs, str):  # the server's config: one string, entries separated by ';'
            specs = specs.split(";")
        specs = [s.strip() for s in specs if s and s.strip()]
        if not specs or self.servers:
            return
        try:
            import mcp  # noqa: F401
        except ImportError:
            log.error("mcp_servers configured but the mcp package is not installed; skipped")
            return
        timeout_s = float(getattr(config, "mcp_connect_timeout_s", CONNECT_TIMEOUT_S))
        servers = [McpServer(s) for s in specs]
        ok = await asyncio.gather(*(s.start(timeout_s) for s in servers))
        self.servers = [s for s, up in zip(servers, ok, strict=True) if up]
        self.tools = self._plugins(self.servers)

    @staticmethod
    def _plugins(servers: Sequence[McpServer]) -> list[McpTool]:
        plugins, taken, labels = [], set(), set()
        for server in servers:
            label = server.label
            while label in labels:
                label += "_"
            labels.add(label)
            for tool in server.tools:
                name = safe_name(str(tool.get("name", "")))
                if name in taken:  # an earlier server lends a tool of this name
                    name = safe_name(f"{label}__{name}")
                if name in taken:
                    log.warning("MCP tool %s of %s: name taken, skipped", name, server.spec)
                    continue
                taken.add(name)
                plugins.append(McpTool(server, tool, name))
        return plugins

    def for_session(self, ctx: ToolContext) -> list[ToolPlugin]:
        return list(self.tools)

    async def close(self) -> None:
        servers, self.servers, self.tools = self.servers, [], []
        await asyncio.gather(*(s.close() for s in servers))
