"""The hearing-session API (CONTRACT §5): /api/sessions and what a participant does in one.

Access has two layers. The role (policy.GRANTS) says whether an account deals with
sessions at all: creating one, seeing every one (city roles), or only those it takes part
in. Inside a session, the participant's part (policy.PART_GRANTS) says what they may do:
the director starts, ends and directs, the prosecutor in court reads directions, observers
comment. County staff see nothing of another county: a session they may not see answers
404, the same as one that does not exist.

Everything is stored (in a thread) before it is told: the bus event goes out after the
transaction commits, with the audience that may see it (signaling/audience.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

from aiohttp import web

from catalog import parse_iso
from cluster import Event

from .accounts import User
from .audience import audience
from .auth import require
from .errors import SignalingError
from .hearing import RECORDING_OFF, SEALED_KINDS, Hearing, HearingError, State
from .json_api import guarded_user, read_json, refused
from .keys import (
    ARCHIVE_KEY,
    BUS_KEY,
    EVIDENCE_KEY,
    HEARINGS_KEY,
    NODE_KEY,
    STATIONS_KEY,
    USERS_KEY,
)
from .policy import PART_ROLES, Part, Permission, SessionAction, allows, part_allows

logger = logging.getLogger(__name__)

# ------------------------------------------------------------------ helpers


def may_see(user: User, hearing: Hearing) -> bool:
    """Participants see their session; city-wide readers every one (county staff holding
    that permission only their county's)."""
    if hearing.part_of(user.name) is not None:
        return True
    if not allows(user.role, Permission.SESSIONS_READ_ALL):
        return False
    return user.county is None or user.county == hearing.county


async def visible(request: web.Request, *, full: bool = False) -> tuple[User, Hearing]:
    user = guarded_user(request)
    hearing_id = request.match_info["session_id"]
    hearing = await asyncio.to_thread(request.app[HEARINGS_KEY].get, hearing_id, full=full)
    if hearing is None or not may_see(user, hearing):
        raise HearingError(404, f"no session {hearing_id}")
    return user, hearing


def require_part(user: User, hearing: Hearing, action: SessionAction) -> None:
    part = hearing.part_of(user.name)
    if not part_allows(part, action):
        who = "not a participant" if part is None else f"the {part}"
        raise HearingError(403, f"{who} may not {action.value} in session {hearing.id}")


def session_audience(hearing: Hearing, *parts: Part) -> dict[str, Any]:
    """The parts named (all participants when none), plus city-wide session readers."""
    names = [p.user for p in hearing.participants if not parts or p.part in parts] + (
        [hearing.created_by] if not parts or Part.DIRECTOR in parts else []
    )
    return audience(names, hearing.county, Permission.SESSIONS_READ_ALL)


def private_audience(hearing: Hearing, *parts: Part) -> dict[str, Any]:
    """Only the parts named: directions are nobody else's business."""
    names = [hearing.created_by] if Part.DIRECTOR in parts else []
    names += [p.user for p in hearing.participants if p.part in parts]
    return audience(names)


async def _tell(request: web.Request, topic: str, data: dict[str, Any]) -> None:
    node = request.app[NODE_KEY].node_id
    await request.app[BUS_KEY].publish(Event(topic, data, node))


# ------------------------------------------------------------------ sessions


@require(Permission.SESSIONS_CREATE, api=True)
async def create(request: web.Request) -> web.StreamResponse:
    user = guarded_user(request)
    try:
        if user.county is not None:
            raise HearingError(403, "county accounts take part in sessions; the city creates them")
        body = await read_json(request)
        hearing = await asyncio.to_thread(_create, request.app, user, body)
    except SignalingError as exc:
        return refused(exc)
    await _tell(request, "session.created", {"session": hearing.as_json(), **_scope(hearing)})
    return web.json_response(hearing.as_json(), status=201)


def _scope(hearing: Hearing) -> dict[str, Any]:
    return {"audience": session_audience(hearing)}


def _create(app: web.Application, user: User, body: dict[str, Any]) -> Hearing:
    """Blocking: looks up the station and the invited users, then stores."""
    station_id = body.get("station")
    if not isinstance(station_id, str):
        raise HearingError(400, "station: the id of a registered station")
    station = app[STATIONS_KEY].get(station_id)
    if station is None:
        raise HearingError(400, f"no station {station_id!r}")
    raw = body.get("participants", [])
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise HearingError(400, "participants: a list of {user, part}")
    participants: list[tuple[str, str]] = []
    users = app[USERS_KEY]
    for entry in raw:
        name, part = entry.get("user"), entry.get("part")
        if not isinstance(name, str) or not isinstance(part, str):
            raise HearingError(400, "participants: each needs user and part (strings)")
        invited = users.get(name)
        if invited is None or invited.disabled:
            raise HearingError(400, f"no such user: {name}")
        try:
            allowed = PART_ROLES[Part(part)]
        except ValueError:
            raise HearingError(400, f"part {part!r}: prosecutor, observer or clerk") from None
        if invited.role not in allowed:
            roles = " or ".join(sorted(allowed))
            raise HearingError(400, f"{name} ({invited.role}) cannot be the {part}: needs {roles}")
        if invited.county is not None and invited.county != station.county:
            raise HearingError(400, f"{name} belongs to {invited.county}, not {station.county}")
        participants.append((name, part))
    scheduled = body.get("scheduled_for")
    when: datetime | None = None
    if scheduled is not None:
        try:
            when = parse_iso(str(scheduled))
        except ValueError:
            raise HearingError(400, "scheduled_for: an ISO 8601 time") from None
    return app[HEARINGS_KEY].create(
        kind=body.get("kind", ""),
        station=station.id,
        county=station.county,
        streams=station.streams,
        title=body.get("title"),
        case_no=body.get("case_no"),
        creator=user.name,
        participants=participants,
        scheduled_for=when,
    )


@require(Permission.SESSIONS_JOIN, api=True)
async def list_sessions(request: web.Request) -> web.StreamResponse:
    user = guarded_user(request)
    query = request.query
    kind, state = query.get("kind") or None, query.get("state") or None
    county = query.get("county") or None
    if user.county is not None:
        if county not in (None, user.county):
            return web.json_response({"sessions": []})
        county = user.county
    only = None if allows(user.role, Permission.SESSIONS_READ_ALL) else user.name
    found = await asyncio.to_thread(
        request.app[HEARINGS_KEY].list, kind=kind, state=state, county=county, user=only
    )
    visible = [h.as_json() for h in found if may_see(user, h)]
    return web.json_response({"sessions": visible})


@require(Permission.SESSIONS_JOIN, api=True)
async def get_session(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await visible(request, full=True)
    except SignalingError as exc:
        return refused(exc)
    data = hearing.as_json()
    part = hearing.part_of(user.name)
    if not (
        part_allows(part, SessionAction.DIRECT)
        or part_allows(part, SessionAction.RECEIVE_DIRECTIONS)
    ):
        data["directions"] = []  # private to the director and the prosecutor in court
    data["you"] = {"part": part}
    hearings = request.app[HEARINGS_KEY]
    data["interruptions"] = list(hearing.interruptions)
    seal = await asyncio.to_thread(hearings.seal_of, hearing.id)
    data["seal"] = None if seal is None else seal_json(seal)
    # The recordings bound to it (summaries; their content is the archive's, audited).
    data["recordings"] = (
        await asyncio.to_thread(request.app[ARCHIVE_KEY].catalog.recordings, session_id=hearing.id)
        if ARCHIVE_KEY in request.app
        else []
    )
    return web.json_response(data)


def seal_json(seal: dict[str, Any]) -> dict[str, Any]:
    """The seal as GET shows it: the signed record (parsed), signature and key."""
    return {**seal, "record": json.loads(seal["record"])}


async def _transition(request: web.Request, to: State, topic: str) -> web.StreamResponse:
    try:
        user, hearing = await visible(request)
        require_part(user, hearing, SessionAction.RUN)
        if to == "live" and hearing.kind == "interrogation":
            _recording_gate(request.app, hearing)
        changed = await asyncio.to_thread(
            request.app[HEARINGS_KEY].transition, hearing.id, to, user.actor
        )
    except SignalingError as exc:
        return refused(exc)
    await _tell(request, topic, {"session": changed.as_json(), **_scope(changed)})
    if to == "ended" and changed.kind in SEALED_KINDS:
        return await _seal(request, changed, user)  # ending an interrogation seals it
    return web.json_response(changed.as_json())


def _recording_gate(app: web.Application, hearing: Hearing) -> None:
    """An interrogation goes live only with every stream of both sides recorded."""
    evidence = app.get(EVIDENCE_KEY)
    if evidence is None:
        raise HearingError(409, RECORDING_OFF)
    refusal = evidence.start_refusal(hearing)
    if refusal is not None:
        raise HearingError(409, refusal)


# Seals being made: they run on when the request that asked is gone (a page reloading).
_sealing: set[asyncio.Task[Hearing]] = set()


async def _seal(request: web.Request, hearing: Hearing, user: User) -> web.StreamResponse:
    """Seal an ended interrogation; a seal that cannot be made now leaves it ended (the
    director may try again: POST …/seal) and says why."""
    task = asyncio.ensure_future(_seal_and_tell(request.app, hearing, user.actor))
    _sealing.add(task)
    task.add_done_callback(_sealed)
    try:
        sealed = await asyncio.shield(task)
    except SignalingError as exc:
        return web.json_response({**hearing.as_json(), "seal_error": exc.reason})
    return web.json_response(sealed.as_json())


def _sealed(task: asyncio.Task[Hearing]) -> None:
    _sealing.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved (and logged in _seal_and_tell), asked for or not


async def _seal_and_tell(app: web.Application, hearing: Hearing, actor: str) -> Hearing:
    evidence = app.get(EVIDENCE_KEY)
    try:
        if evidence is None:
            raise HearingError(409, RECORDING_OFF)
        sealed = await evidence.seal(hearing, actor)
    except SignalingError as exc:
        logger.warning("session %s not sealed: %s", hearing.id, exc.reason)
        raise
    event = Event("session.sealed", {"session": sealed.as_json(), **_scope(sealed)}, _node(app))
    await app[BUS_KEY].publish(event)
    return sealed


async def seal_ended(app: web.Application, hearing_id: str, actor: str) -> None:
    """Seal a session ended elsewhere (a reception closed with its outcome form), as
    ending it here would, in the background: the seal waits for the recordings to close
    (up to the seal's close timeout), which the receptionist need not. One that cannot
    be sealed now stays ended (logged, and the director may POST …/seal)."""
    hearing = await asyncio.to_thread(app[HEARINGS_KEY].get, hearing_id)
    if hearing is None or hearing.state != "ended" or hearing.kind not in SEALED_KINDS:
        return
    task = asyncio.ensure_future(_seal_and_tell(app, hearing, actor))
    _sealing.add(task)
    task.add_done_callback(_sealed)


def _node(app: web.Application) -> str:
    return app[NODE_KEY].node_id


@require(Permission.SESSIONS_JOIN, api=True)
async def seal(request: web.Request) -> web.StreamResponse:
    """Seal an ended interrogation whose seal could not be made when it ended."""
    try:
        user, hearing = await visible(request)
        require_part(user, hearing, SessionAction.RUN)
        if hearing.kind not in SEALED_KINDS:
            raise HearingError(409, "only an interrogation or a reception is sealed")
        if hearing.state != "ended":
            raise HearingError(409, f"session {hearing.id} is {hearing.state}: cannot be sealed")
    except SignalingError as exc:
        return refused(exc)
    return await _seal(request, hearing, user)


@require(Permission.SESSIONS_JOIN, api=True)
async def start(request: web.Request) -> web.StreamResponse:
    return await _transition(request, "live", "session.started")


@require(Permission.SESSIONS_JOIN, api=True)
async def end(request: web.Request) -> web.StreamResponse:
    return await _transition(request, "ended", "session.ended")


# ------------------------------------------------------------------ inside a session


@require(Permission.SESSIONS_JOIN, api=True)
async def direct(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await visible(request)
        require_part(user, hearing, SessionAction.DIRECT)
        body = await read_json(request)
        sent = await asyncio.to_thread(
            request.app[HEARINGS_KEY].direct,
            hearing.id,
            body.get("text"),
            body.get("urgent", False),
            user.name,
        )
    except SignalingError as exc:
        return refused(exc)
    scope = private_audience(hearing, Part.DIRECTOR, Part.PROSECUTOR)
    await _tell(request, "direction.sent", {"direction": sent.as_json(), "audience": scope})
    return web.json_response({"id": sent.id, **sent.as_json()}, status=201)


@require(Permission.SESSIONS_JOIN, api=True)
async def mark_read(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await visible(request)
        require_part(user, hearing, SessionAction.RECEIVE_DIRECTIONS)
        try:
            direction_id = int(request.match_info["direction_id"])
        except ValueError:
            raise HearingError(404, "no such direction") from None
        read = await asyncio.to_thread(
            request.app[HEARINGS_KEY].mark_read, hearing.id, direction_id, user.name
        )
    except SignalingError as exc:
        return refused(exc)
    scope = private_audience(hearing, Part.DIRECTOR, Part.PROSECUTOR)
    await _tell(request, "direction.read", {"direction": read.as_json(), "audience": scope})
    return web.json_response(read.as_json())


@require(Permission.SESSIONS_JOIN, api=True)
async def comment(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await visible(request)
        require_part(user, hearing, SessionAction.COMMENT)
        body = await read_json(request)
        posted = await asyncio.to_thread(
            request.app[HEARINGS_KEY].comment,
            hearing.id,
            body.get("text"),
            body.get("media_time"),
            user.name,
        )
    except SignalingError as exc:
        return refused(exc)
    scope = session_audience(hearing, Part.DIRECTOR, Part.OBSERVER)
    await _tell(request, "comment.posted", {"comment": posted.as_json(), "audience": scope})
    return web.json_response(posted.as_json(), status=201)


@require(Permission.SESSIONS_JOIN, api=True)
async def evaluate(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await visible(request)
        require_part(user, hearing, SessionAction.EVALUATE)
        body = await read_json(request)
        changed = await asyncio.to_thread(
            request.app[HEARINGS_KEY].evaluate, hearing.id, body.get("text"), user.name
        )
    except SignalingError as exc:
        return refused(exc)
    await _tell(request, "session.evaluated", {"session": changed.as_json(), **_scope(changed)})
    return web.json_response(changed.as_json())


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/sessions", create)
    app.router.add_get("/api/sessions", list_sessions)
    app.router.add_get("/api/sessions/{session_id}", get_session)
    app.router.add_post("/api/sessions/{session_id}/start", start)
    app.router.add_post("/api/sessions/{session_id}/end", end)
    app.router.add_post("/api/sessions/{session_id}/seal", seal)
    app.router.add_post("/api/sessions/{session_id}/directions", direct)
    app.router.add_post("/api/sessions/{session_id}/directions/{direction_id}/read", mark_read)
    app.router.add_post("/api/sessions/{session_id}/comments", comment)
    app.router.add_post("/api/sessions/{session_id}/evaluation", evaluate)
