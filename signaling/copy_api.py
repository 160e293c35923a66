"""A sealed interrogation's evidence copy (issue 9 item 5): its state and the files.

GET  /api/sessions/{id}/copy      state, progress, sha256, size, duration, signed record
GET  /api/sessions/{id}/copy.mp4  the copy (Range requests); every request audited
GET  /api/sessions/{id}/copy.json the signed derived record, exactly the signed bytes
GET  /api/sessions/{id}/copy.sig  its Ed25519 signature (raw, 64 bytes)
POST /api/sessions/{id}/copy      render it again (a failed or done copy)

Who reads: the session's own participants (their part's READ_COPY) and the accounts that
read every copy (COPY_READ: auditors, admins; county accounts within their county). The
MP4 is recordings' content: a copy reader needs ARCHIVE_READ for it too (admins see the
state and the record, not the pictures, CONTRACT §3). Rendering again is COPY_RENDER's.
A session the user may not see is a 404, as in the session API.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiohttp import web

from cluster import Event

from .accounts import User
from .auth import require, require_login
from .errors import SignalingError
from .evidence_copies import EvidenceCopy, copy_audience
from .hearing import Hearing, HearingError
from .hearings_api import may_see
from .json_api import guarded_user, refused
from .keys import ARCHIVE_KEY, BUS_KEY, COPIES_KEY, COPY_QUEUE_KEY, HEARINGS_KEY, NODE_KEY
from .policy import Permission, SessionAction, allows, part_allows

logger = logging.getLogger(__name__)

COPY_OFF = "evidence copies are off on this node"


def may_read(user: User, hearing: Hearing) -> bool:
    """A participant of the session, or a copy reader of its county."""
    if part_allows(hearing.part_of(user.name), SessionAction.READ_COPY):
        return True
    return allows(user.role, Permission.COPY_READ) and user.county in (None, hearing.county)


async def _readable(request: web.Request, *, content: bool = False) -> tuple[User, Hearing]:
    user = guarded_user(request)
    hearing_id = request.match_info["session_id"]
    hearing = await asyncio.to_thread(request.app[HEARINGS_KEY].get, hearing_id)
    if hearing is None:
        raise HearingError(404, f"no session {hearing_id}")
    if not may_read(user, hearing):
        if may_see(user, hearing):
            raise HearingError(
                403, "only the session's participants and auditors read its evidence copy"
            )
        raise HearingError(404, f"no session {hearing_id}")
    participant = hearing.part_of(user.name) is not None
    if content and not participant and not allows(user.role, Permission.ARCHIVE_READ):
        raise HearingError(403, f"the {user.role} role sees the copy's state, not its pictures")
    if hearing.kind != "interrogation" or hearing.state != "sealed":
        raise HearingError(
            409, f"session {hearing.id} is {hearing.state}: only a sealed interrogation has a copy"
        )
    return user, hearing


async def _copy(request: web.Request, hearing: Hearing, *, done: bool) -> EvidenceCopy:
    copy = await asyncio.to_thread(request.app[COPIES_KEY].get, hearing.id)
    if copy is None:
        raise HearingError(404, f"no evidence copy of session {hearing.id} yet")
    if done and copy.state != "done":
        raise HearingError(404, f"the evidence copy of session {hearing.id} is {copy.state}")
    return copy


async def tell(app: web.Application, hearing: Hearing, copy: EvidenceCopy) -> None:
    """session.copy to the copy's audience (stored first, then told)."""
    data = {"copy": copy.brief(), "audience": copy_audience(hearing)}
    await app[BUS_KEY].publish(Event("session.copy", data, app[NODE_KEY].node_id))


# ------------------------------------------------------------------ handlers


async def get_copy(request: web.Request) -> web.StreamResponse:
    try:
        _, hearing = await _readable(request)
        copy = await _copy(request, hearing, done=False)
    except SignalingError as exc:
        return refused(exc)
    return web.json_response(copy.as_json())


async def get_mp4(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await _readable(request, content=True)
        copy = await _copy(request, hearing, done=True)
        assert copy.path is not None
        path = Path(copy.path)
        if not await asyncio.to_thread(path.is_file):
            raise HearingError(404, f"the evidence copy of session {hearing.id} is missing")
    except SignalingError as exc:
        return refused(exc)
    detail = {"sha256": copy.sha256, "range": request.headers.get("Range")}
    catalog = request.app[ARCHIVE_KEY].catalog
    try:
        await asyncio.to_thread(
            catalog.audit, user.actor, "session.copy.download", f"session:{hearing.id}/copy", detail
        )
    except Exception:
        # Never serve evidence whose access could not be logged.
        logger.exception("copy of %s: audit log write failed", hearing.id)
        return web.Response(status=503, text="the audit log is unavailable: access refused\n")
    headers = {
        "Content-Type": "video/mp4",
        "Content-Disposition": f'attachment; filename="{hearing.id}-copy.mp4"',
        "Cache-Control": "private, no-store",  # each download goes through the audit log
    }
    return web.FileResponse(path, headers=headers)


async def get_record(request: web.Request) -> web.StreamResponse:
    try:
        _, hearing = await _readable(request)
        copy = await _copy(request, hearing, done=True)
    except SignalingError as exc:
        return refused(exc)
    assert copy.record is not None
    return web.Response(
        body=copy.record.encode(),  # exactly the signed bytes
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{hearing.id}-copy.json"'},
    )


async def get_signature(request: web.Request) -> web.StreamResponse:
    try:
        _, hearing = await _readable(request)
        copy = await _copy(request, hearing, done=True)
    except SignalingError as exc:
        return refused(exc)
    assert copy.signature is not None
    return web.Response(
        body=bytes.fromhex(copy.signature),
        content_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{hearing.id}-copy.sig"'},
    )


@require(Permission.COPY_RENDER, api=True)
async def render_again(request: web.Request) -> web.StreamResponse:
    """Queue a failed (or done) copy again: 409 while it renders."""
    try:
        user, hearing = await _readable(request)
        queue = request.app.get(COPY_QUEUE_KEY)
        if queue is None:
            raise HearingError(409, COPY_OFF)
        copy = await asyncio.to_thread(
            request.app[COPIES_KEY].request, hearing.id, user.actor, again=True
        )
    except SignalingError as exc:
        return refused(exc)
    await tell(request.app, hearing, copy)
    queue.wake()
    return web.json_response(copy.as_json(), status=202)


def add_routes(app: web.Application) -> None:
    guard = require_login(api=True)  # then may_read: a participant or a copy reader
    base = "/api/sessions/{session_id}/copy"
    app.router.add_get(base, guard(get_copy))
    app.router.add_get(base + ".mp4", guard(get_mp4))
    app.router.add_get(base + ".json", guard(get_record))
    app.router.add_get(base + ".sig", guard(get_signature))
    app.router.add_post(base, render_again)
