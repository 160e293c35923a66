"""The catalog's database is down: answer 503 with the reason, never a 500.

Pages and APIs that need the catalog (archive, sessions, accounts, the recordings API)
fail while PostgreSQL is unreachable; WHIP/WHEP and recording to disk do not need it and
go on. `catalog_outage_middleware` (outermost, registered by build_app) maps a lost
connection escaping a handler to `503 catalog unavailable: …` with Retry-After: an HTML
page for a browser's page request, plain text for the API and everything else. Handlers
and other middlewares that catch database errors themselves answer through
`catalog_unavailable` so every such answer is the same.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
RETRY_AFTER = 5  # seconds: the node probes the database about this often
_API_PREFIXES = ("/api/", "/whip", "/whep", "/healthz", "/metrics")


def is_outage(exc: BaseException) -> bool:
    """A database that cannot be reached (down, restarting, connection dropped), as
    opposed to a query the database refused (a constraint, a bug)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def outage_reason(exc: BaseException) -> str:
    """One short line: what the driver said (no query, no parameters)."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    detail = lines[0] if lines else type(cause).__name__
    return f"catalog unavailable: {detail[:160]}"


def _wants_page(request: web.Request) -> bool:
    """A browser asking for a page (or posting one of its forms: the login)."""
    return not request.path.startswith(_API_PREFIXES) and "text/html" in request.headers.get(
        "Accept", ""
    )


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>503 目录数据库不可用</title>
<meta http-equiv="refresh" content="{retry}"></head>
<body><h1>目录数据库暂不可用 · Catalog unavailable</h1>
<p>录像照常写入磁盘。直播不受影响。数据库恢复后目录将自动补齐。本页每 {retry} 秒重试。</p>
<p>Recording to disk and live video go on; the catalog catches up when the database is
back. This page retries every {retry} s.</p>
<p><code>{reason}</code></p></body></html>
"""


def catalog_unavailable(request: web.Request, reason: str) -> web.Response:
    """The 503 for a catalog outage: a page for a browser's page request, text otherwise."""
    headers = {"Retry-After": str(RETRY_AFTER)}
    if _wants_page(request):
        body = _PAGE.format(retry=RETRY_AFTER, reason=html.escape(reason))
        return web.Response(status=503, text=body, content_type="text/html", headers=headers)
    return web.Response(status=503, text=reason + "\n", headers=headers)


@web.middleware
async def catalog_outage_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (OperationalError, InterfaceError, PoolTimeout, DBAPIError) as exc:
        if not is_outage(exc):
            raise
        reason = outage_reason(exc)
        logger.warning("%s %s: %s", request.method, request.path, reason)
        return catalog_unavailable(request, reason)
