"""What a screen or a station's display shows, pushed to its page over a WebSocket:

GET /ws/screens/{name}[?token=]            a wall screen or a station screen (its link's
                                           token, or a console user with screen.view)
GET /ws/stations/{station_id}/display?token=  a county station's display (its station token)

Each message is `{"topic": "dispatch.screen", "data": {kind, name, title, grid, tiles:
[{stream, source, label, live}], alarms: [{session, stream, kind, reason, started_at}]}}`
(alarms: the open interruptions of a station's live interrogation, so the room sees at
once what the console sees; a screen has none): the whole state, computed on the server (routing.py)
when the socket opens and again after every `dispatch.*`, `session.*` and `stream.*`
event (coalesced), sent when it changed. The page only plays what it is told; WHEP checks
the same routing again for every tile. The socket closes with 4404 when the receiver may
show nothing any more (the screen deleted, its link replaced or revoked) and 4401 when
the token expires; a console user's sockets close at logout and at shutdown, like
/ws/events' (they share its registry).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import WSMsgType, web

from .auth import current_session
from .errors import SignalingError
from .events_ws import CLOSE_TIMEOUT, SESSION_ENDED, SOCKETS_KEY, same_origin
from .keys import BUS_KEY, DISPATCH_KEY, GATEWAY_KEY, HEARINGS_KEY, STATIONS_KEY
from .routing import Receiver, display, labels, screen_receiver, station_receiver

GONE = 4404  # close code: this receiver shows nothing any more
TRIGGERS = ("dispatch.", "session.", "stream.")
COALESCE = 0.1  # seconds: one recomputation per burst of events


def _text(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason + "\n")


def state(request: web.Request, receiver: Receiver) -> dict[str, Any] | None:
    """What the receiver shows now, as the page gets it (None: nothing any more). Blocking."""
    title = ""
    if receiver.kind == "station" and STATIONS_KEY in request.app:
        station = request.app[STATIONS_KEY].get(receiver.name)
        title = station.name if station is not None else ""
    shown = display(request.app[DISPATCH_KEY], receiver, title)
    if shown is None:
        return None
    gateway = request.app.get(GATEWAY_KEY)
    live = {s.stream_id for s in gateway.streams()} if gateway is not None else set()
    out = shown.as_json(labels(request), live)
    out["alarms"] = alarms(request, receiver)
    return out


def alarms(request: web.Request, receiver: Receiver) -> list[dict[str, Any]]:
    """The open interruptions of the sessions live at a station (none for a screen): no
    more than the stream, the kind and the reason. Blocking."""
    if receiver.kind != "station" or HEARINGS_KEY not in request.app:
        return []
    hearings = request.app[HEARINGS_KEY]
    out = []
    for session_id in request.app[DISPATCH_KEY].live_sessions_at(receiver.name):
        for entry in hearings.interruptions(session_id):
            if entry["ended_at"] is None:
                keep = ("stream", "kind", "reason", "started_at")
                out.append({"session": session_id, **{k: entry[k] for k in keep}})
    return out


async def screen_feed(request: web.Request) -> web.StreamResponse:
    token = request.query.get("token") or None
    if token is None and not same_origin(request):
        return _text(403, "cross-origin WebSocket refused")
    try:
        receiver = await screen_receiver(request, request.match_info["name"], token)
    except SignalingError as exc:
        return _text(exc.status, exc.reason)
    return await _feed(request, receiver)


async def station_feed(request: web.Request) -> web.StreamResponse:
    token = request.query.get("token") or None
    try:
        receiver = await station_receiver(request, request.match_info["station_id"], token)
    except SignalingError as exc:
        return _text(exc.status, exc.reason)
    return await _feed(request, receiver)


async def _feed(request: web.Request, receiver: Receiver) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=30.0, timeout=CLOSE_TIMEOUT)
    await ws.prepare(request)
    session = current_session(request) if receiver.expires is None else None
    sockets = request.app[SOCKETS_KEY]
    sockets[ws] = session.token_hash if session is not None else ""
    changed = asyncio.Event()

    async def pump() -> None:
        async for event in request.app[BUS_KEY].subscribe(""):
            if event.topic.startswith(TRIGGERS):
                changed.set()

    async def send() -> None:
        last: dict[str, Any] | None = None
        while True:
            await changed.wait()
            changed.clear()
            now = await asyncio.to_thread(state, request, receiver)
            if now is None:
                await ws.close(code=GONE, message=b"nothing to show any more")
                return
            if now != last:
                await ws.send_json({"topic": "dispatch.screen", "data": now})
                last = now
            await asyncio.sleep(COALESCE)

    async def expire() -> None:
        if receiver.expires is None:
            return
        await asyncio.sleep(max(0.0, receiver.expires - time.time()))
        await ws.close(code=SESSION_ENDED, message=b"token expired")

    pumping = asyncio.ensure_future(pump())
    await asyncio.sleep(0)  # the pump runs up to its first wait: subscribed
    changed.set()  # the first state
    tasks = [pumping, asyncio.ensure_future(send()), asyncio.ensure_future(expire())]
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break  # anything the page sends is ignored
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        sockets.pop(ws, None)
    return ws


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ws/screens/{name}", screen_feed)
    app.router.add_get("/ws/stations/{station_id}/display", station_feed)
