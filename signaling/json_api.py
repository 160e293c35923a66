"""What the console's JSON APIs share: reading a bounded JSON object from a request,
answering a refusal as plain text with its status, and the user a guard let through."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .accounts import User
from .auth import current_user
from .errors import Refusal, SignalingError

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


def guarded_user(request: web.Request) -> User:
    """The logged-in user of a handler behind `require`/`require_login`."""
    user = current_user(request)
    assert user is not None  # the guard let it through
    return user
