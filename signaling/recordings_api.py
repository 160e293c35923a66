"""Recordings and audit JSON API (CONTRACT.md section 2), for auditors.

GET /api/recordings?stream=&session=&from=&to=&limit=
GET /api/recordings/{id}                 catalog entry + manifest + verification state
GET /api/recordings/{id}/segments/{n}    the media file (Range requests); audited
GET /api/audit?actor=&action=&target=&from=&to=&after=&limit=

Who may: a console session or a Bearer token holding archive.read (the recordings) or
audit.read (the audit log), see policy.py: auditors, and admins for the audit log only
(401 without credentials, 403 for other roles). Every database or file access runs in a
thread.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from aiohttp import web

from catalog import CONTENT_TYPES, parse_iso

from .auth import authorize
from .errors import SignalingError
from .json_api import errors_as_text, text_answer
from .keys import ARCHIVE_KEY
from .policy import Permission

logger = logging.getLogger(__name__)

MAX_LIMIT = 10000


class BadQuery(SignalingError):
    status = 400


def _actor(request: web.Request, permission: Permission) -> str:
    """Who is asking, as the audit log names them; Unauthorized / Forbidden otherwise."""
    return authorize(request, permission, "*").actor


def _time(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise BadQuery(f"{name}: not an ISO 8601 time: {value!r}") from exc


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise BadQuery(f"{name}: not an integer: {value!r}") from exc
    if not low <= number <= high:
        raise BadQuery(f"{name}: must be between {low} and {high}")
    return number


def _text_param(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is not None and len(value) > 256:
        raise BadQuery(f"{name}: longer than 256 characters")
    return value or None


def _span(request: web.Request) -> tuple[datetime | None, datetime | None]:
    start, end = _time(request, "from"), _time(request, "to")
    if start is not None and end is not None and start > end:
        raise BadQuery("from is after to")
    return start, end


@errors_as_text
async def list_recordings(request: web.Request) -> web.StreamResponse:
    _actor(request, Permission.ARCHIVE_READ)
    start, end = _span(request)
    limit = _int(request, "limit", 1000, 1, MAX_LIMIT)
    catalog = request.app[ARCHIVE_KEY].catalog
    rows = await asyncio.to_thread(
        catalog.recordings,
        _text_param(request, "stream"),
        _text_param(request, "session"),
        start,
        end,
        limit,
    )
    return web.json_response({"recordings": rows})


@errors_as_text
async def get_recording(request: web.Request) -> web.StreamResponse:
    _actor(request, Permission.ARCHIVE_READ)
    archive = request.app[ARCHIVE_KEY]
    detail = await asyncio.to_thread(archive.detail, request.match_info["recording_id"])
    if detail is None:
        return text_answer(404, "no such recording")
    rid = detail["recording"]["id"]
    detail["segment_urls"] = [
        f"/api/recordings/{rid}/segments/{n}" for n in range(1, detail["recording"]["segments"] + 1)
    ]
    return web.json_response(detail)


@errors_as_text
async def get_segment(request: web.Request) -> web.StreamResponse:
    actor = _actor(request, Permission.ARCHIVE_READ)
    rid = request.match_info["recording_id"]
    index = int(request.match_info["n"])
    archive = request.app[ARCHIVE_KEY]
    byte_range = request.headers.get("Range")
    try:
        seg = await asyncio.to_thread(archive.open_segment, rid, index, actor, byte_range)
    except Exception:
        # Never serve evidence whose access could not be logged.
        logger.exception("segment %s/%s: audit log write failed", rid, index)
        return text_answer(503, "the audit log is unavailable: access refused")
    if seg is None:
        return text_answer(404, "no such segment")
    headers = {
        "Content-Type": CONTENT_TYPES.get(seg.container, "application/octet-stream"),
        "Content-Disposition": f'inline; filename="{rid}-{seg.file}"',
        "Cache-Control": "private, no-store",  # each replay goes through the audit log
    }
    return web.FileResponse(seg.path, headers=headers)


@errors_as_text
async def list_audit(request: web.Request) -> web.StreamResponse:
    _actor(request, Permission.AUDIT_READ)
    start, end = _span(request)
    query: dict[str, Any] = {
        "actor": _text_param(request, "actor"),
        "action": _text_param(request, "action"),
        "target": _text_param(request, "target"),
        "start": start,
        "end": end,
        "after": _int(request, "after", 0, 0, 2**31 - 1),
        "limit": _int(request, "limit", 1000, 1, MAX_LIMIT),
    }
    catalog = request.app[ARCHIVE_KEY].catalog
    rows = await asyncio.to_thread(lambda: catalog.audit_rows(**query))
    return web.json_response({"audit": rows})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/recordings", list_recordings)
    app.router.add_get("/api/recordings/{recording_id}", get_recording)
    app.router.add_get(r"/api/recordings/{recording_id}/segments/{n:[1-9][0-9]{0,8}}", get_segment)
    app.router.add_get("/api/audit", list_audit)
