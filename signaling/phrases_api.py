"""GET/PUT /api/me/phrases: the logged-in director's quick phrases (phrases.py).

Only accounts that may create (and so direct) sessions keep phrases, which county
accounts may not (hearings_api.create); each sees and replaces only their own."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .accounts import User
from .auth import current_user, require
from .errors import SignalingError
from .hearing import HearingError
from .json_api import read_json
from .keys import PHRASES_KEY
from .policy import Permission


def _director(request: web.Request) -> User:
    user = current_user(request)
    assert user is not None  # the guard let it through
    if user.county is not None:
        raise HearingError(403, "county accounts take part in sessions; the city directs them")
    return user


@require(Permission.SESSIONS_CREATE, api=True)
async def get_phrases(request: web.Request) -> web.StreamResponse:
    try:
        user = _director(request)
    except SignalingError as exc:
        return web.Response(status=exc.status, text=exc.reason + "\n")
    phrases = await asyncio.to_thread(request.app[PHRASES_KEY].of, user.name)
    return web.json_response({"phrases": phrases})


@require(Permission.SESSIONS_CREATE, api=True)
async def put_phrases(request: web.Request) -> web.StreamResponse:
    try:
        user = _director(request)
        body = await read_json(request)
        phrases = await asyncio.to_thread(
            request.app[PHRASES_KEY].replace, user.name, body.get("phrases")
        )
    except SignalingError as exc:
        return web.Response(status=exc.status, text=exc.reason + "\n")
    return web.json_response({"phrases": phrases})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/me/phrases", get_phrases)
    app.router.add_put("/api/me/phrases", put_phrases)
