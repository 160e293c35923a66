"""What the console's JSON APIs share: reading a bounded JSON object from a request,
answering a refusal as plain text with its status (also for the token APIs: recordings,
ingest), and the user a guard let through."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from .accounts import User
from .auth import current_user
from .catalog_outage import catalog_unavailable, is_outage, outage_reason
from .errors import Refusal, SignalingError

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 64 * 1024


async def read_json(request: web.Request, max_body: int = MAX_BODY) -> dict[str, Any]:
    """The body as a JSON object: 413 over `max_body` (read no further), 400 otherwise."""
    if request.content_length is not None and request.content_length > max_body:
        raise Refusal(413, f"the body is over {max_body // 1024} KiB")
    raw = await request.content.read(max_body + 1)
    if len(raw) > max_body:
        raise Refusal(413, f"the body is over {max_body // 1024} KiB")
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Refusal(400, "the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise Refusal(400, "the body must be a JSON object")
    return body


def refused(exc: SignalingError) -> web.Response:
    """A refusal as the API answers it: its status and a one-line plain-text reason."""
    return web.Response(status=exc.status, text=exc.reason + "\n")


def text_answer(status: int, reason: str) -> web.Response:
    """A plain-text answer; a 401 says how to authenticate (a Bearer token)."""
    resp = web.Response(status=status, text=reason + "\n")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="vdispatch"'
    return resp


def errors_as_text(handler: Handler) -> Handler:
    """Refusals as their status and reason, a catalog failure as 503."""
    return _as_text(handler, stores=False)


def store_errors_as_text(handler: Handler) -> Handler:
    """As errors_as_text, for a handler that writes files: a disk error is 507."""
    return _as_text(handler, stores=True)


def _as_text(handler: Handler, *, stores: bool) -> Handler:

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except SignalingError as exc:
            return text_answer(exc.status, exc.reason)
        except SQLAlchemyError as exc:
            if is_outage(exc):
                return catalog_unavailable(request, outage_reason(exc))
            logger.exception("%s %s: catalog error", request.method, request.path)
            return text_answer(503, "the catalog is unavailable")
        except OSError as exc:
            if not stores:
                raise
            logger.exception("%s %s: not stored", request.method, request.path)
            return text_answer(507, f"not stored: {exc.strerror or exc}")

    return wrapped


def guarded_user(request: web.Request) -> User:
    """The logged-in user of a handler behind `require`/`require_login`."""
    user = current_user(request)
    assert user is not None  # the guard let it through
    return user
