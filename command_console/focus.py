"""The focus view, GET /streams/{stream_id}: one live stream large, with sound and the
browser's detailed statistics (commanders, observers). The page's script subscribes over
WHEP with the session cookie, reads the station from /api/streams and /api/stations, and
waits for the stream when it is not on air (it plays as soon as it returns)."""

from __future__ import annotations

from aiohttp import web

from signaling import Permission, require, valid_stream_id

from . import i18n, i18n_wall
from .render import render


@require(Permission.LIVE_VIEW)
async def focus(request: web.Request) -> web.StreamResponse:
    stream_id = request.match_info["stream_id"]
    if not valid_stream_id(stream_id):
        return web.Response(status=400, text="invalid stream id: use [a-z0-9][a-z0-9_-]{0,63}\n")
    translate = i18n.Translator(i18n.language(request))
    return render(
        request,
        "focus.html",
        stream_id=stream_id,
        messages=i18n_wall.script_messages(translate),
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/streams/{stream_id}", focus)
