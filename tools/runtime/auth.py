"""The shared token our HTTP services check: a Bearer header or ``?token=``, constant-time.

Both the assistant's server (``/ws``) and the search service (``tools.search.web``, which also
runs on its own: ``streamrag search-server``, ``python -m tools.search.postgres serve``) ask
for it, so it sits here, below both. The token is never logged. The browser Origin check is the
server's alone (``streaming.server.origin``).
"""

from __future__ import annotations

import hmac

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


def unauthorized() -> web.Response:
    return web.json_response(
        {"error": "unauthorized", "message": "a valid token is required"},
        status=401,
        headers={"WWW-Authenticate": "Bearer"},
    )
