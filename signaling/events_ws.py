"""GET /ws/events: cluster bus events forwarded to a logged-in browser as JSON.

Each message is `{"topic": …, "data": {…}, "node": …}`. The first is `hello` (sent once
the subscription is in place: whatever happens after it is delivered). Topics: those
the role's permissions let through (policy.topics). Each client has a bounded queue; a
client that does not keep up loses its oldest events (`dropped` in the next message's
envelope counts them), never the node's memory. The node closes every socket at
shutdown (on_shutdown, before the bus closes), and a session's sockets when it logs out
(code 4401; also within SESSION_CHECK when the session ends otherwise: expiry, account
disabled). An open socket counts as activity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from yarl import URL

from .audience import may_see, public
from .auth import SESSION_COOKIE, current_session, require_login
from .keys import BUS_KEY, LOGIN_SESSIONS_KEY
from .policy import topics

logger = logging.getLogger(__name__)

QUEUE_SIZE = 256
CLOSE_TIMEOUT = 2.0
SESSION_CHECK = 60.0
SESSION_ENDED = 4401  # close code: log in again
# Open sockets and the token hash of the session each belongs to.
SOCKETS_KEY: web.AppKey[dict[web.WebSocketResponse, str]] = web.AppKey("event_sockets")


def same_origin(request: web.Request) -> bool:
    """Browsers send Origin on WebSocket handshakes: refuse other sites' pages (the
    session cookie would otherwise open the socket for them)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    try:
        theirs = URL(origin)
        ours = URL(f"{theirs.scheme}://{request.host}")
    except ValueError:
        return False
    return (theirs.host, theirs.port) == (ours.host, ours.port)


@require_login(api=True)
async def events(request: web.Request) -> web.StreamResponse:
    if not same_origin(request):
        return web.Response(status=403, text="cross-origin WebSocket refused\n")
    session = current_session(request)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    assert session is not None
    user = session.user
    prefixes = topics(user.role)
    # timeout: how long a close waits for the browser's answer (bounds shutdown).
    ws = web.WebSocketResponse(heartbeat=30.0, timeout=CLOSE_TIMEOUT)
    await ws.prepare(request)
    sockets = request.app[SOCKETS_KEY]
    sockets[ws] = session.token_hash
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_SIZE)
    dropped = 0

    def put(message: dict[str, Any]) -> None:
        nonlocal dropped
        if queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            dropped += 1
        queue.put_nowait(message)

    async def pump() -> None:
        async for event in request.app[BUS_KEY].subscribe(""):
            if event.topic.startswith(prefixes) and may_see(user, event.topic, event.data):
                put({"topic": event.topic, "data": public(event.data), "node": event.node_id})

    async def send() -> None:
        while True:
            message = await queue.get()
            await ws.send_json({**message, "dropped": dropped})

    async def watch() -> None:
        while True:
            await asyncio.sleep(SESSION_CHECK)
            if await asyncio.to_thread(request.app[LOGIN_SESSIONS_KEY].resolve, cookie) is None:
                await ws.close(code=SESSION_ENDED, message=b"session ended")
                return

    pumping = asyncio.ensure_future(pump())
    await asyncio.sleep(0)  # the pump runs up to its first wait: subscribed
    put({"topic": "hello", "data": {"user": user.name, "role": user.role}, "node": ""})
    tasks = [pumping, asyncio.ensure_future(send()), asyncio.ensure_future(watch())]
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break  # anything the browser sends is ignored
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sockets.pop(ws, None)
    return ws


async def close_sockets(app: web.Application) -> None:
    """on_shutdown: tell every browser the node is going away (all at once; each close
    waits at most CLOSE_TIMEOUT for the answer)."""

    async def close(ws: web.WebSocketResponse) -> None:
        with contextlib.suppress(Exception):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"node shutting down")

    sockets = app[SOCKETS_KEY].copy()
    await asyncio.gather(*(close(ws) for ws in sockets))


async def close_session_sockets(app: web.Application, token_hash: str) -> None:
    """A session ended (logout): its sockets close at once."""
    doomed = [ws for ws, owner in list(app[SOCKETS_KEY].items()) if owner == token_hash]
    for ws in doomed:
        with contextlib.suppress(Exception):
            await ws.close(code=SESSION_ENDED, message=b"session ended")


def add_routes(app: web.Application) -> None:
    app[SOCKETS_KEY] = {}
    app.router.add_get("/ws/events", events)
    app.on_shutdown.append(close_sockets)
