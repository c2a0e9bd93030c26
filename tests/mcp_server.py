"""A small MCP server for the tests: a read-only weather lookup and a note taker with a side effect.

    python tests/mcp_server.py [--notes FILE] [--pid-file FILE]              # stdio
    python tests/mcp_server.py --http PORT [--notes FILE] [--pid-file FILE]  # streamable HTTP
                                                                             # at 127.0.0.1:PORT/mcp

Runs on the ``mcp`` SDK 1.x (``FastMCP``) and 2.x (``MCPServer``, its new name).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mcp.types import ToolAnnotations

try:  # mcp 2.x
    from mcp.server.mcpserver import MCPServer as Server
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server
    from mcp.server.fastmcp.exceptions import ToolError

WEATHER = {
    "paris": "18 degrees Celsius and sunny",
    "london": "12 degrees Celsius and raining",
    "tokyo": "22 degrees Celsius and cloudy",
}
NOTES = Path(os.environ.get("MCP_TEST_NOTES", os.devnull))

server = Server("streamrag-test")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True, idempotentHint=True))
def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    weather = WEATHER.get(city.strip().lower())
    if weather is None:
        raise ToolError(f"no weather known for {city!r}")
    return f"The weather in {city.strip().title()} is {weather}."


@server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False))
def add_note(text: str) -> str:
    """Append a note to the notes file."""
    with NOTES.open("a", encoding="utf-8") as f:
        f.write(text + "\n")
    return f"Noted: {text}"


def main() -> None:
    global NOTES
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP")
    parser.add_argument("--notes", help="the file add_note appends to (or $MCP_TEST_NOTES)")
    parser.add_argument("--pid-file", help="write this process's id here")
    args = parser.parse_args()
    if args.notes:
        NOTES = Path(args.notes)
    if args.pid_file:
        Path(args.pid_file).write_text(str(os.getpid()))
    if args.http is None:
        server.run()  # stdio
        return
    import uvicorn

    # the Starlette app (its lifespan runs the session manager) is built the same way in 1.x and 2.x
    uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=args.http, log_level="warning")


if __name__ == "__main__":
    main()
