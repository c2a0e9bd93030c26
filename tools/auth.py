"""Who may call our HTTP services: the shared token (header or query) and the browser Origin.

The token is compared in constant time and never logged; a request without an ``Origin`` header
is not a browser's and passes the Origin check (the token, when set, still applies).
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import web

TOKEN_PARAM = "token"


def presented_token(request: web.BaseRequest) -> str:
    """The token a request carries: ``Authorization: Bearer <t>`` first, else ``?token=<t>``."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query.get(TOKEN_PARAM, "")


def token_ok(request: web.BaseRequest, token: str) -> bool:
    """True when no token is configured or the request presents it (constant-time compare)."""
    if not token:
        return True
    return hmac.compare_digest(presented_token(request).encode(), token.encode())


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


def unauthorized() -> web.Response:
    return web.json_response(
        {"error": "unauthorized", "message": "a valid token is required"},
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )


def forbidden_origin() -> web.Response:
    return web.json_response(
        {"error": "forbidden_origin", "message": "this Origin may not open sessions"}, status=403
    )
