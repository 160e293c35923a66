"""/sessions: the hearing sessions a user may see, in sections (live, today, upcoming,
ended) and filtered by kind, state and county, with the form that creates one for
accounts that may; /sessions/{id}: one session, whose panels depend on the viewer's part
(static/hearing.js and its modules do the live work through the API).

What each session is and who may see or do what is signaling's (hearings_api, policy):
the pages only show; every action goes through /api/sessions…, which decides."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from catalog import iso
from signaling import (
    HEARINGS_KEY,
    MAX_RECORD,
    SESSION_KINDS,
    SESSION_PARTS,
    SESSION_STATES,
    STATIONS_KEY,
    Hearing,
    Permission,
    SessionAction,
    User,
    allows,
    current_user,
    may_see_session,
    part_allows,
    require,
)

from . import i18n, i18n_sessions
from .render import error_page, page_errors, render

# The sections of the list, in order.
SECTIONS = ("live", "today", "upcoming", "ended")


def section_of(hearing: Hearing, now: datetime) -> str:
    """Live; ended (or sealed); scheduled for a later day (upcoming) or today, overdue
    or unscheduled (today): what a director has to deal with now comes first."""
    if hearing.state == "live":
        return "live"
    if hearing.state in ("ended", "sealed"):
        return "ended"
    local = now.astimezone()
    tomorrow = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    if hearing.scheduled_for is not None and hearing.scheduled_for >= tomorrow:
        return "upcoming"
    return "today"


def sectioned(
    rows: Iterable[tuple[Hearing, str | None]], now: datetime
) -> list[tuple[str, list[tuple[Hearing, str | None]]]]:
    """The rows by section (empty sections left out); upcoming ones soonest first."""
    by: dict[str, list[tuple[Hearing, str | None]]] = {s: [] for s in SECTIONS}
    for hearing, part in rows:
        by[section_of(hearing, now)].append((hearing, part))
    by["upcoming"].sort(key=lambda row: row[0].scheduled_for or now)
    return [(s, by[s]) for s in SECTIONS if by[s]]


def may_create(user: User) -> bool:
    """What the API allows too (hearings_api.create): only city accounts create."""
    return allows(user.role, Permission.SESSIONS_CREATE) and user.county is None


@require(Permission.SESSIONS_JOIN)
@page_errors
async def sessions_page(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    assert user is not None
    query = request.query
    kind = query.get("kind") if query.get("kind") in SESSION_KINDS else None
    state = query.get("state") if query.get("state") in SESSION_STATES else None
    county = (query.get("county") or "").strip()[:128] or None
    if user.county is not None:
        county = user.county
    only = None if allows(user.role, Permission.SESSIONS_READ_ALL) else user.name
    found = await asyncio.to_thread(
        request.app[HEARINGS_KEY].list, kind=kind, state=state, county=county, user=only
    )
    rows = [(h, h.part_of(user.name)) for h in found if may_see_session(user, h)]
    stations = await asyncio.to_thread(request.app[STATIONS_KEY].all) if may_create(user) else []
    translate = i18n.Translator(i18n.language(request))
    return render(
        request,
        "sessions.html",
        sections=sectioned(rows, datetime.now().astimezone()),
        kinds=SESSION_KINDS,
        states=SESSION_STATES,
        parts=SESSION_PARTS,
        stations=stations,
        may_create=may_create(user),
        filters={"kind": kind or "", "state": state or "", "county": county or ""},
        messages=i18n_sessions.script_messages(translate),
    )


def record_mode(hearing: Hearing, part: str | None) -> str | None:
    """The record panel: "write" for whoever may write it while it may change (live or
    ended), "read" for whoever may read it once the session has started, else none."""
    if hearing.state == "scheduled":
        return None
    if hearing.state in ("live", "ended") and part_allows(part, SessionAction.WRITE_RECORD):
        return "write"
    return "read" if part_allows(part, SessionAction.READ_RECORD) else None


@require(Permission.SESSIONS_JOIN)
async def session_page(request: web.Request) -> web.StreamResponse:
    """One session, for its participants and city-wide readers; a session the user may
    not see is a 404, the same as one that does not exist (as the API answers)."""
    user = current_user(request)
    assert user is not None
    hearing_id = request.match_info["session_id"][:64]
    hearing = await asyncio.to_thread(request.app[HEARINGS_KEY].get, hearing_id)
    if hearing is None or not may_see_session(user, hearing):
        return error_page(request, 404, "error.no_session", session=hearing_id)
    station = await asyncio.to_thread(request.app[STATIONS_KEY].get, hearing.station)
    part = hearing.part_of(user.name)
    record = record_mode(hearing, part)
    translate = i18n.Translator(i18n.language(request))
    config: dict[str, Any] = {
        "id": hearing.id,
        "part": part,
        "state": hearing.state,
        "user": user.name,
        "started_at": iso(hearing.started_at),
        "ended_at": iso(hearing.ended_at),
        "record": record,
        # The director of a scheduled interrogation connects first (media before start).
        "early": part == "director"
        and hearing.kind == "interrogation"
        and hearing.state == "scheduled",
    }
    return render(
        request,
        "hearing.html",
        hearing=hearing,
        part=part,
        station=station,
        record=record,
        max_record=MAX_RECORD,
        config=config,
        messages=i18n_sessions.script_messages(translate),
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sessions", sessions_page)
    app.router.add_get("/sessions/{session_id}", session_page)
