"""The interrogation record's API (signaling/records.py is the store):

- GET  /api/sessions/{id}/record              the latest version with its text (version 0,
                                              empty, before the first save)
- PUT  /api/sessions/{id}/record              {text, base_version}: 201 a new version,
                                              200 unchanged (the same text), 409 a stale
                                              base (JSON: {reason, current}) or a session
                                              that is not live or ended (sealed: never again)
- GET  /api/sessions/{id}/record/versions     every version: id, version, sha256, who, when
- GET  /api/sessions/{id}/record/versions/{n} one version with its text

A session the user may not see is a 404 (hearings_api.visible); inside it the part
decides (policy: the clerk writes, the director and the prosecutor in court read).
Each new version is told as `session.record` (version, sha256, who, when; never the
text) to the parts that may read it, after the transaction commits.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from cluster import Event

from .audience import audience
from .auth import require
from .errors import SignalingError
from .hearing import Hearing, HearingError
from .hearings_api import require_part, visible
from .json_api import read_json, refused
from .keys import BUS_KEY, NODE_KEY, RECORDS_KEY
from .policy import Permission, SessionAction, part_allows
from .records import MAX_RECORD, RecordConflict, empty_record

# The text as JSON: up to six bytes a character (\uXXXX escapes), and the envelope.
MAX_BODY = 6 * MAX_RECORD + 4096


def _readers(hearing: Hearing) -> dict[str, Any]:
    """The participants whose part may read the record (the event names no text)."""
    people = [(hearing.created_by, "director")] + [(p.user, p.part) for p in hearing.participants]
    return audience(name for name, part in people if part_allows(part, SessionAction.READ_RECORD))


@require(Permission.SESSIONS_JOIN, api=True)
async def get_record(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await visible(request)
        require_part(user, hearing, SessionAction.READ_RECORD)
    except SignalingError as exc:
        return refused(exc)
    latest = await asyncio.to_thread(request.app[RECORDS_KEY].latest, hearing.id)
    return web.json_response(latest.as_json() if latest else empty_record(hearing.id))


@require(Permission.SESSIONS_JOIN, api=True)
async def put_record(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await visible(request)
        require_part(user, hearing, SessionAction.WRITE_RECORD)
        body = await read_json(request, MAX_BODY)
        latest, created = await asyncio.to_thread(
            request.app[RECORDS_KEY].save,
            hearing.id,
            body.get("text"),
            body.get("base_version"),
            user.name,
        )
    except RecordConflict as exc:
        current = exc.current.as_json() if exc.current else empty_record(hearing.id)
        return web.json_response({"reason": exc.reason, "current": current}, status=409)
    except SignalingError as exc:
        return refused(exc)
    if latest is None:  # the empty text, and nothing saved yet
        answer = empty_record(hearing.id)
        del answer["text"]
        return web.json_response(answer)
    data = {k: v for k, v in latest.as_json().items() if k != "text"}
    if created:
        node = request.app[NODE_KEY].node_id
        event = {"record": data, "audience": _readers(hearing)}
        await request.app[BUS_KEY].publish(Event("session.record", event, node))
    return web.json_response(data, status=201 if created else 200)


@require(Permission.SESSIONS_JOIN, api=True)
async def list_versions(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await visible(request)
        require_part(user, hearing, SessionAction.READ_RECORD)
    except SignalingError as exc:
        return refused(exc)
    versions = await asyncio.to_thread(request.app[RECORDS_KEY].versions, hearing.id)
    return web.json_response({"versions": [v.as_json() for v in versions]})


@require(Permission.SESSIONS_JOIN, api=True)
async def get_version(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await visible(request)
        require_part(user, hearing, SessionAction.READ_RECORD)
        raw = request.match_info["version"]
        found = None
        if raw.isdigit() and len(raw) < 10:
            found = await asyncio.to_thread(request.app[RECORDS_KEY].version, hearing.id, int(raw))
        if found is None:
            raise HearingError(404, f"no version {raw[:16]} of the record")
    except SignalingError as exc:
        return refused(exc)
    return web.json_response(found.as_json())


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/sessions/{session_id}/record", get_record)
    app.router.add_put("/api/sessions/{session_id}/record", put_record)
    app.router.add_get("/api/sessions/{session_id}/record/versions", list_versions)
    app.router.add_get("/api/sessions/{session_id}/record/versions/{version}", get_version)
