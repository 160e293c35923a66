"""/sessions: the hearing sessions a user may see, newest first, filtered by kind, state
and county. What each session is and who may see it is signaling's (hearings_api)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from signaling import (
    HEARINGS_KEY,
    SESSION_KINDS,
    SESSION_STATES,
    Permission,
    allows,
    current_user,
    may_see_session,
    require,
)

from . import i18n_sessions
from .render import page_errors, render

assert i18n_sessions.MESSAGES  # merged at import


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
    return render(
        request,
        "sessions.html",
        rows=rows,
        kinds=SESSION_KINDS,
        states=SESSION_STATES,
        filters={"kind": kind or "", "state": state or "", "county": county or ""},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sessions", sessions_page)
