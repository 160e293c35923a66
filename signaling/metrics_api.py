"""GET /metrics: the node's Prometheus exposition, which the composition root makes.

On the public port it answers only an admin's console session (METRICS_READ) or
`Authorization: Bearer <metrics token>` (the node's `metrics_token`): 401 without
either, 403 for a role that may not read it. Scrapers normally use the node's metrics
listener (`metrics_listen`, loopback by default), where `serve_metrics` answers anyone.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from .auth import authorize_session
from .errors import SignalingError
from .exposition import MetricsExposition
from .json_api import text_answer
from .keys import METRICS_KEY
from .policy import Permission

BEARER = "bearer "
NOT_LOGGED_IN = (
    "not logged in: /metrics on this port needs an admin console session or"
    " Authorization: Bearer <metrics token>"
)


def _token_matches(header: str, token: str | None) -> bool:
    if token is None or not header.lower().startswith(BEARER):
        return False
    return hmac.compare_digest(header[len(BEARER) :].strip().encode(), token.encode())


async def _answer(exposition: MetricsExposition) -> web.Response:
    body = await exposition.render()
    return web.Response(
        body=body, headers={"Content-Type": exposition.content_type, "Cache-Control": "no-store"}
    )


async def metrics(request: web.Request) -> web.StreamResponse:
    """The public port's /metrics: admins and the metrics token only."""
    exposition = request.app.get(METRICS_KEY)
    if exposition is None:
        return text_answer(503, "metrics are not ready: the node is starting")
    header = request.headers.get("Authorization")
    if header is not None:
        if exposition.token is None:
            return text_answer(401, "this node has no metrics token: log in as an admin")
        if not _token_matches(header, exposition.token):
            return text_answer(401, "wrong metrics token")
        return await _answer(exposition)
    try:
        authorize_session(request, Permission.METRICS_READ)
    except SignalingError as exc:
        reason = NOT_LOGGED_IN if exc.status == 401 else exc.reason
        return text_answer(exc.status, reason)
    return await _answer(exposition)


def serve_metrics(exposition: MetricsExposition) -> web.Application:
    """The metrics listener's app: GET /metrics for anyone who can reach its address."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await _answer(exposition)

    app = web.Application()
    app.router.add_get("/metrics", handler)
    return app


def add_routes(app: web.Application) -> None:
    app.router.add_get("/metrics", metrics)
