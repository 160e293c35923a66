"""/admin/stations: admins list, add, edit and delete stations (server-rendered forms
with the session's CSRF token; the registry in signaling.stations decides)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from signaling import (
    KINDS,
    PRESENCE_KEY,
    STATIONS_KEY,
    Permission,
    StationError,
    current_user,
    require,
)

from . import i18n_reception
from .i18n import Translator, language
from .i18n_errors import refusal
from .render import error_page, render, see_other

NOTICES = {"saved": "stations.saved", "deleted": "stations.deleted"}
_SPLIT = re.compile("[\\s,\uff0c\u3001]+")  # also full-width commas


def _fields(form: Any) -> dict[str, str]:
    return {
        k: form.get(k, "") if isinstance(form.get(k, ""), str) else ""
        for k in ("id", "county", "name", "kind", "streams")
    }


def _streams(text: str) -> list[str]:
    return [s for s in _SPLIT.split(text) if s]


def _actor(request: web.Request) -> str:
    user = current_user(request)
    assert user is not None  # require let it through
    return user.actor


def _refresh(request: web.Request) -> None:
    tracker = request.app.get(PRESENCE_KEY)
    if tracker is not None:
        tracker.refresh()


async def _list_page(
    request: web.Request, status: int = 200, error: str | None = None, form: Any = None
) -> web.Response:
    stations = await asyncio.to_thread(request.app[STATIONS_KEY].all)
    done = NOTICES.get(request.query.get("done", ""))
    notice = Translator(language(request)).bi(done) if done else None
    blank = {"id": "", "county": "", "name": "", "kind": "", "streams": ""}
    return render(
        request,
        "admin_stations.html",
        status=status,
        stations=stations,
        kinds=KINDS,
        form=form or blank,
        error=error,
        notice=notice,
    )


@require(Permission.STATIONS_MANAGE)
async def stations_page(request: web.Request) -> web.StreamResponse:
    return await _list_page(request)


@require(Permission.STATIONS_MANAGE)
async def add_station(request: web.Request) -> web.StreamResponse:
    form = _fields(await request.post())
    store, actor = request.app[STATIONS_KEY], _actor(request)
    values = (form["id"].strip(), form["county"], form["name"], form["kind"])
    try:
        await asyncio.to_thread(lambda: store.add(*values, _streams(form["streams"]), actor=actor))
    except StationError as exc:
        return await _list_page(request, 400, refusal(Translator(language(request)), exc), form)
    _refresh(request)
    return see_other("/admin/stations?done=saved")


async def _edit_page(
    request: web.Request,
    station_id: str,
    form: dict[str, str],
    status: int = 200,
    error: str | None = None,
) -> web.Response:
    # A reception room's page also shows its kiosk link (kiosk_link.js, the API decides).
    translate = Translator(language(request))
    return render(
        request,
        "admin_station.html",
        status=status,
        station_id=station_id,
        form=form,
        kinds=KINDS,
        error=error,
        messages=i18n_reception.script_messages(translate, "kiosk_link."),
    )


@require(Permission.STATIONS_MANAGE)
async def station_page(request: web.Request) -> web.StreamResponse:
    station_id = request.match_info["station_id"]
    station = await asyncio.to_thread(request.app[STATIONS_KEY].get, station_id)
    if station is None:
        return error_page(request, 404, "error.no_station", station=station_id)
    form = {
        "county": station.county,
        "name": station.name,
        "kind": station.kind,
        "streams": ", ".join(station.streams),
    }
    return await _edit_page(request, station_id, form)


@require(Permission.STATIONS_MANAGE)
async def update_station(request: web.Request) -> web.StreamResponse:
    station_id = request.match_info["station_id"]
    form = _fields(await request.post())
    store, actor = request.app[STATIONS_KEY], _actor(request)
    if await asyncio.to_thread(store.get, station_id) is None:
        return error_page(request, 404, "error.no_station", station=station_id)
    values = (station_id, form["county"], form["name"], form["kind"])
    try:
        await asyncio.to_thread(
            lambda: store.update(*values, _streams(form["streams"]), actor=actor)
        )
    except StationError as exc:
        error = refusal(Translator(language(request)), exc)
        return await _edit_page(request, station_id, form, 400, error)
    _refresh(request)
    return see_other("/admin/stations?done=saved")


@require(Permission.STATIONS_MANAGE)
async def delete_station(request: web.Request) -> web.StreamResponse:
    station_id = request.match_info["station_id"]
    deleted = await asyncio.to_thread(request.app[STATIONS_KEY].delete, station_id, _actor(request))
    if not deleted:
        return error_page(request, 404, "error.no_station", station=station_id)
    _refresh(request)
    return see_other("/admin/stations?done=deleted")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/stations", stations_page)
    app.router.add_post("/admin/stations", add_station)
    app.router.add_get("/admin/stations/{station_id}", station_page)
    app.router.add_post("/admin/stations/{station_id}", update_station)
    app.router.add_post("/admin/stations/{station_id}/delete", delete_station)
