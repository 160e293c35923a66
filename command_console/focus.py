"""The focus view, GET /streams/{stream_id}: one live stream large, with sound and the
browser's detailed statistics (commanders, observers). The page's script subscribes over
WHEP with the session cookie, reads the station from /api/streams and /api/stations, and
waits for the stream when it is not on air (it plays as soon as it returns).

A stream that is neither on air here nor listed by a registered station is a 404 page;
an invalid stream id a 400 page; other roles get the 403 page."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from signaling import GATEWAY_KEY, STATIONS_KEY, Permission, require, valid_stream_id

from . import i18n, i18n_wall
from .render import error_page, render

logger = logging.getLogger(__name__)


async def _known(app: web.Application, stream_id: str) -> bool:
    """On air on this node, or listed by a registered station."""
    if GATEWAY_KEY in app and app[GATEWAY_KEY].publication(stream_id) is not None:
        return True
    if STATIONS_KEY not in app:
        return False
    try:
        return stream_id in await asyncio.to_thread(app[STATIONS_KEY].by_stream)
    except SQLAlchemyError:
        logger.exception("station registry unavailable: %s shown unchecked", stream_id)
        return True


@require(Permission.LIVE_VIEW)
async def focus(request: web.Request) -> web.StreamResponse:
    stream_id = request.match_info["stream_id"]
    if not valid_stream_id(stream_id):
        return error_page(request, 400, "error.stream_id", stream=stream_id[:64])
    if not await _known(request.app, stream_id):
        return error_page(request, 404, "error.no_stream", stream=stream_id)
    translate = i18n.Translator(i18n.language(request))
    return render(
        request,
        "focus.html",
        stream_id=stream_id,
        messages=i18n_wall.script_messages(translate),
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/streams/{stream_id}", focus)
