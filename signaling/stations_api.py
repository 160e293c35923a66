"""The station registry over JSON (console sessions only).

GET    /api/stations          every station with its presence, and per county how many
                              are online (`down`: it has stations and none is online)
POST   /api/stations          {"id", "county", "name", "kind", "streams": [...]}
PUT    /api/stations/{id}     the same fields but id
DELETE /api/stations/{id}

Reading needs stations.read, writing stations.manage (policy.py: admins). Writes need
the session's CSRF token (header X-CSRF-Token; auth.py checks it).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from .accounts import User
from .auth import current_user, require
from .keys import PRESENCE_KEY, STATIONS_KEY
from .policy import Permission
from .stations import Station, StationError


def counties(stations: list[Station]) -> list[dict[str, Any]]:
    """Per county (in the registry's order): stations, how many online, and `down` when
    none is: what a commander reads at a glance."""
    out: dict[str, dict[str, Any]] = {}
    for s in stations:
        c = out.setdefault(s.county, {"county": s.county, "stations": 0, "online": 0})
        c["stations"] += 1
        c["online"] += int(s.online)
    for c in out.values():
        c["down"] = c["online"] == 0
    return list(out.values())


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StationError("station.body") from exc
    if not isinstance(body, dict):
        raise StationError("station.body")
    streams = body.get("streams")
    if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams):
        raise StationError("station.streams_list")
    for key in ("county", "name", "kind"):
        if not isinstance(body.get(key), str):
            raise StationError("station.field_string", field=key)
    return body


def _manager(request: web.Request) -> User:
    user = current_user(request)
    assert user is not None  # require let it through
    return user


def _refresh(request: web.Request) -> None:
    tracker = request.app.get(PRESENCE_KEY)
    if tracker is not None:
        tracker.refresh()


@require(Permission.STATIONS_READ, api=True)
async def list_stations(request: web.Request) -> web.StreamResponse:
    stations = await asyncio.to_thread(request.app[STATIONS_KEY].all)
    return web.json_response(
        {"stations": [s.as_json() for s in stations], "counties": counties(stations)}
    )


@require(Permission.STATIONS_MANAGE, api=True)
async def add_station(request: web.Request) -> web.StreamResponse:
    actor = _manager(request).actor
    try:
        body = await _body(request)
        station_id = body.get("id")
        if not isinstance(station_id, str):
            raise StationError("station.field_string", field="id")
        fields = (station_id, body["county"], body["name"], body["kind"], body["streams"])
        store = request.app[STATIONS_KEY]
        station = await asyncio.to_thread(lambda: store.add(*fields, actor=actor))
    except StationError as exc:
        return web.Response(status=400, text=f"{exc}\n")
    _refresh(request)
    return web.json_response(station.as_json(), status=201)


@require(Permission.STATIONS_MANAGE, api=True)
async def update_station(request: web.Request) -> web.StreamResponse:
    actor = _manager(request).actor
    station_id = request.match_info["station_id"]
    store = request.app[STATIONS_KEY]
    if await asyncio.to_thread(store.get, station_id) is None:
        return web.Response(status=404, text="no such station\n")
    try:
        body = await _body(request)
        fields = (station_id, body["county"], body["name"], body["kind"], body["streams"])
        station = await asyncio.to_thread(lambda: store.update(*fields, actor=actor))
    except StationError as exc:
        return web.Response(status=400, text=f"{exc}\n")
    _refresh(request)
    return web.json_response(station.as_json())


@require(Permission.STATIONS_MANAGE, api=True)
async def delete_station(request: web.Request) -> web.StreamResponse:
    actor = _manager(request).actor
    station_id = request.match_info["station_id"]
    store = request.app[STATIONS_KEY]
    if not await asyncio.to_thread(store.delete, station_id, actor):
        return web.Response(status=404, text="no such station\n")
    _refresh(request)
    return web.Response(status=200, text="deleted\n")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/stations", list_stations)
    app.router.add_post("/api/stations", add_station)
    app.router.add_put("/api/stations/{station_id}", update_station)
    app.router.add_delete("/api/stations/{station_id}", delete_station)
