"""The video dispatch API (集中调度), for commanders (dispatch.manage):

GET    /api/dispatch/screens                  every screen and what it shows
POST   /api/dispatch/screens                  {name, title, kind: wall|station, station?}
GET    /api/dispatch/screens/{name}
PUT    /api/dispatch/screens/{name}           {title, station?}
DELETE /api/dispatch/screens/{name}
PUT    /api/dispatch/screens/{name}/layout    {grid: 1|4|9|16, sources: [stream ids]}
POST   /api/dispatch/screens/{name}/link      {days?}: the wall PC's link (replaces any older)
DELETE /api/dispatch/screens/{name}/link      revoke it
GET    /api/dispatch/layouts                  saved layouts
POST   /api/dispatch/layouts                  {name, screens?}: save what they show now
POST   /api/dispatch/layouts/{name}/recall    every screen of it shows what it showed then
DELETE /api/dispatch/layouts/{name}

Stored (and audited, dispatch.py) before told: `dispatch.screen` / `dispatch.layout` on the
bus after the commit; the screens' sockets (displays_ws.py) follow them.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web

from cluster import Event

from .auth import require
from .dispatch import Dispatch, DispatchError, Layout, Screen
from .errors import SignalingError
from .json_api import guarded_user, read_json, refused
from .keys import BUS_KEY, DISPATCH_KEY, NODE_KEY, TOKENS_KEY
from .policy import Permission, TokenRole
from .routing import PRIVATE_SUFFIXES
from .tokens import valid_stream_id

LINK_DAYS = 30  # a wall PC's link, unless the commander says otherwise
MAX_LINK_DAYS = 366


def _store(request: web.Request) -> Dispatch:
    return request.app[DISPATCH_KEY]


async def _tell(request: web.Request, topic: str, data: dict[str, Any]) -> None:
    node = request.app[NODE_KEY].node_id
    await request.app[BUS_KEY].publish(Event(topic, data, node))


async def _screen_changed(request: web.Request, screen: Screen) -> None:
    await _tell(request, "dispatch.screen", {"screen": screen.as_json()})


# ------------------------------------------------------------------ screens


@require(Permission.DISPATCH_MANAGE, api=True)
async def list_screens(request: web.Request) -> web.StreamResponse:
    screens = await asyncio.to_thread(_store(request).screens)
    return web.json_response({"screens": [s.as_json() for s in screens]})


@require(Permission.DISPATCH_MANAGE, api=True)
async def add_screen(request: web.Request) -> web.StreamResponse:
    user = guarded_user(request)
    try:
        body = await read_json(request)
        screen = await asyncio.to_thread(
            _store(request).add_screen,
            body.get("name"),
            body.get("title"),
            body.get("kind"),
            body.get("station"),
            user.actor,
        )
    except SignalingError as exc:
        return refused(exc)
    await _screen_changed(request, screen)
    return web.json_response(screen.as_json(), status=201)


@require(Permission.DISPATCH_MANAGE, api=True)
async def get_screen(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    screen = await asyncio.to_thread(_store(request).screen, name)
    if screen is None:
        return refused(DispatchError(404, f"no screen {name!r}"))
    return web.json_response(screen.as_json())


@require(Permission.DISPATCH_MANAGE, api=True)
async def update_screen(request: web.Request) -> web.StreamResponse:
    user = guarded_user(request)
    try:
        body = await read_json(request)
        screen = await asyncio.to_thread(
            _store(request).update_screen,
            request.match_info["name"],
            body.get("title"),
            body.get("station"),
            user.actor,
        )
    except SignalingError as exc:
        return refused(exc)
    await _screen_changed(request, screen)
    return web.json_response(screen.as_json())


@require(Permission.DISPATCH_MANAGE, api=True)
async def delete_screen(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if not await asyncio.to_thread(
        _store(request).delete_screen, name, guarded_user(request).actor
    ):
        return refused(DispatchError(404, f"no screen {name!r}"))
    await _tell(request, "dispatch.screen", {"screen": {"name": name, "deleted": True}})
    return web.json_response({"name": name, "deleted": True})


@require(Permission.DISPATCH_MANAGE, api=True)
async def set_layout(request: web.Request) -> web.StreamResponse:
    user = guarded_user(request)
    try:
        layout = Layout.parse(await read_json(request), private=PRIVATE_SUFFIXES)
        screen = await asyncio.to_thread(
            _store(request).set_layout, request.match_info["name"], layout, user.actor
        )
    except SignalingError as exc:
        return refused(exc)
    await _screen_changed(request, screen)
    return web.json_response(screen.as_json())


@require(Permission.DISPATCH_MANAGE, api=True)
async def link(request: web.Request) -> web.StreamResponse:
    """A new link for the wall PC: `/screen/{name}?token=…` (any older link stops working)."""
    user = guarded_user(request)
    name = request.match_info["name"]
    try:
        body = await read_json(request)
        days = body.get("days", LINK_DAYS)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_LINK_DAYS:
            raise DispatchError(400, f"days: a whole number of days, 1 to {MAX_LINK_DAYS}")
        ttl = days * 86400
        if not valid_stream_id(name):
            raise DispatchError(404, f"no screen {name[:64]!r}")
        token_id = uuid.uuid4().hex
        token = request.app[TOKENS_KEY].mint(
            [], TokenRole.SCREEN, ttl, name=f"screen:{name}", screen=name, token_id=token_id
        )
        screen = await asyncio.to_thread(_store(request).set_link, name, token_id, user.actor, ttl)
    except SignalingError as exc:
        return refused(exc)
    await _screen_changed(request, screen)
    url = f"/screen/{name}?token={token}"
    return web.json_response({"url": url, "token": token, "expires_in": ttl}, status=201)


@require(Permission.DISPATCH_MANAGE, api=True)
async def unlink(request: web.Request) -> web.StreamResponse:
    try:
        screen = await asyncio.to_thread(
            _store(request).set_link, request.match_info["name"], None, guarded_user(request).actor
        )
    except SignalingError as exc:
        return refused(exc)
    await _screen_changed(request, screen)
    return web.json_response(screen.as_json())


# ------------------------------------------------------------------ saved layouts


@require(Permission.DISPATCH_MANAGE, api=True)
async def list_layouts(request: web.Request) -> web.StreamResponse:
    layouts = await asyncio.to_thread(_store(request).layouts)
    return web.json_response({"layouts": [x.as_json() for x in layouts]})


@require(Permission.DISPATCH_MANAGE, api=True)
async def save_layout(request: web.Request) -> web.StreamResponse:
    user = guarded_user(request)
    try:
        body = await read_json(request)
        saved = await asyncio.to_thread(
            _store(request).save_layout, body.get("name"), body.get("screens"), user.actor
        )
    except SignalingError as exc:
        return refused(exc)
    await _tell(request, "dispatch.layout", {"layout": saved.as_json()})
    return web.json_response(saved.as_json(), status=201)


@require(Permission.DISPATCH_MANAGE, api=True)
async def recall_layout(request: web.Request) -> web.StreamResponse:
    try:
        changed, missing = await asyncio.to_thread(
            _store(request).recall_layout, request.match_info["name"], guarded_user(request).actor
        )
    except SignalingError as exc:
        return refused(exc)
    for screen in changed:
        await _screen_changed(request, screen)
    return web.json_response({"changed": [s.as_json() for s in changed], "missing": missing})


@require(Permission.DISPATCH_MANAGE, api=True)
async def delete_layout(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if not await asyncio.to_thread(
        _store(request).delete_layout, name, guarded_user(request).actor
    ):
        return refused(DispatchError(404, f"no saved layout {name!r}"))
    await _tell(request, "dispatch.layout", {"layout": {"name": name, "deleted": True}})
    return web.json_response({"name": name, "deleted": True})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/dispatch/screens", list_screens)
    app.router.add_post("/api/dispatch/screens", add_screen)
    app.router.add_get("/api/dispatch/screens/{name}", get_screen)
    app.router.add_put("/api/dispatch/screens/{name}", update_screen)
    app.router.add_delete("/api/dispatch/screens/{name}", delete_screen)
    app.router.add_put("/api/dispatch/screens/{name}/layout", set_layout)
    app.router.add_post("/api/dispatch/screens/{name}/link", link)
    app.router.add_delete("/api/dispatch/screens/{name}/link", unlink)
    app.router.add_get("/api/dispatch/layouts", list_layouts)
    app.router.add_post("/api/dispatch/layouts", save_layout)
    app.router.add_post("/api/dispatch/layouts/{name}/recall", recall_layout)
    app.router.add_delete("/api/dispatch/layouts/{name}", delete_layout)
