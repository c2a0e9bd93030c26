"""Which browser pages may open sessions: the ``Origin`` check on ``/ws``.

A request without an ``Origin`` header is not a browser's and passes (the token, when set, still
applies: ``tools.runtime.auth``, shared with the search service).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web


def origin_ok(request: web.BaseRequest, allowed: str) -> bool:
    """``allowed``: comma-separated origins, ``*`` for any, empty for the request's own host."""
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser: curl, the Python clients
        return True
    entries = [o.strip().rstrip("/").lower() for o in allowed.split(",") if o.strip()]
    if "*" in entries:
        return True
    if entries:
        return origin.rstrip("/").lower() in entries
    return urlsplit(origin).netloc.lower() == request.host.lower()


def forbidden_origin() -> web.Response:
    return web.json_response(
        {"error": "forbidden_origin", "message": "this Origin may not open sessions"}, status=403
    )
