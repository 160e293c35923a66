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
from .auth import current_user, require
from .errors import SignalingError
from .hearing import Hearing, HearingError, State
from .keys import (
    BUS_KEY,
    GATEWAY_KEY,
    HEARINGS_KEY,
    NODE_KEY,
    RECORDER_KEY,
    STATIONS_KEY,
    TOKENS_KEY,
    USERS_KEY,
)
from .policy import PART_ROLES, Part, Permission, SessionAction, TokenRole, allows, part_allows

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
# A media token is for connecting now: WHIP/WHEP check it once, at the offer.
MEDIA_TOKEN_TTL = 120
# The city side's streams of a session, and who may watch each (by action).
CITY_STREAMS: dict[str, tuple[SessionAction, SessionAction]] = {
    # suffix: (who may publish it, who may watch it)
    "city": (SessionAction.PUBLISH_CITY, SessionAction.VIEW),
    "talkback": (SessionAction.TALKBACK, SessionAction.HEAR_TALKBACK),
    "reply": (SessionAction.REPLY, SessionAction.HEAR_REPLY),
}


def city_stream(hearing_id: str, suffix: str) -> str:
    return f"{hearing_id}-{suffix}"


def city_streams(hearing_id: str) -> list[str]:
    """Every stream the city side may publish for this session (recorded with it)."""
    return [city_stream(hearing_id, suffix) for suffix in CITY_STREAMS]


# ------------------------------------------------------------------ helpers


def _error(exc: SignalingError) -> web.Response:
    return web.Response(status=exc.status, text=exc.reason + "\n")


async def read_json(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise HearingError(413, f"the body is over {MAX_BODY // 1024} KiB")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise HearingError(413, f"the body is over {MAX_BODY // 1024} KiB")
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HearingError(400, "the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise HearingError(400, "the body must be a JSON object")
    return body


def _user(request: web.Request) -> User:
    user = current_user(request)
    assert user is not None  # the guard let it through
    return user


def may_see(user: User, hearing: Hearing) -> bool:
    """Participants see their session; city-wide readers every one (county staff holding
    that permission only their county's)."""
    if hearing.part_of(user.name) is not None:
        return True
    if not allows(user.role, Permission.SESSIONS_READ_ALL):
        return False
    return user.county is None or user.county == hearing.county


async def _visible(request: web.Request, *, full: bool = False) -> tuple[User, Hearing]:
    user = _user(request)
    hearing_id = request.match_info["session_id"]
    hearing = await asyncio.to_thread(request.app[HEARINGS_KEY].get, hearing_id, full=full)
    if hearing is None or not may_see(user, hearing):
        raise HearingError(404, f"no session {hearing_id}")
    return user, hearing


def _may(user: User, hearing: Hearing, action: SessionAction) -> None:
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
    user = _user(request)
    try:
        if user.county is not None:
            raise HearingError(403, "county accounts take part in sessions; the city creates them")
        body = await read_json(request)
        hearing = await asyncio.to_thread(_create, request.app, user, body)
    except SignalingError as exc:
        return _error(exc)
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
    user = _user(request)
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
        user, hearing = await _visible(request, full=True)
    except SignalingError as exc:
        return _error(exc)
    data = hearing.as_json()
    part = hearing.part_of(user.name)
    if not (
        part_allows(part, SessionAction.DIRECT)
        or part_allows(part, SessionAction.RECEIVE_DIRECTIONS)
    ):
        data["directions"] = []  # private to the director and the prosecutor in court
    data["you"] = {"part": part}
    return web.json_response(data)


async def _transition(request: web.Request, to: State, topic: str) -> web.StreamResponse:
    try:
        user, hearing = await _visible(request)
        _may(user, hearing, SessionAction.RUN)
        changed = await asyncio.to_thread(
            request.app[HEARINGS_KEY].transition, hearing.id, to, user.actor
        )
    except SignalingError as exc:
        return _error(exc)
    await _tell(request, topic, {"session": changed.as_json(), **_scope(changed)})
    return web.json_response(changed.as_json())


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
        user, hearing = await _visible(request)
        _may(user, hearing, SessionAction.DIRECT)
        body = await read_json(request)
        sent = await asyncio.to_thread(
            request.app[HEARINGS_KEY].direct,
            hearing.id,
            body.get("text"),
            body.get("urgent", False),
            user.name,
        )
    except SignalingError as exc:
        return _error(exc)
    scope = private_audience(hearing, Part.DIRECTOR, Part.PROSECUTOR)
    await _tell(request, "direction.sent", {"direction": sent.as_json(), "audience": scope})
    return web.json_response({"id": sent.id, **sent.as_json()}, status=201)


@require(Permission.SESSIONS_JOIN, api=True)
async def mark_read(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await _visible(request)
        _may(user, hearing, SessionAction.RECEIVE_DIRECTIONS)
        try:
            direction_id = int(request.match_info["direction_id"])
        except ValueError:
            raise HearingError(404, "no such direction") from None
        read = await asyncio.to_thread(
            request.app[HEARINGS_KEY].mark_read, hearing.id, direction_id, user.name
        )
    except SignalingError as exc:
        return _error(exc)
    scope = private_audience(hearing, Part.DIRECTOR, Part.PROSECUTOR)
    await _tell(request, "direction.read", {"direction": read.as_json(), "audience": scope})
    return web.json_response(read.as_json())


@require(Permission.SESSIONS_JOIN, api=True)
async def comment(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await _visible(request)
        _may(user, hearing, SessionAction.COMMENT)
        body = await read_json(request)
        posted = await asyncio.to_thread(
            request.app[HEARINGS_KEY].comment,
            hearing.id,
            body.get("text"),
            body.get("media_time"),
            user.name,
        )
    except SignalingError as exc:
        return _error(exc)
    scope = session_audience(hearing, Part.DIRECTOR, Part.OBSERVER)
    await _tell(request, "comment.posted", {"comment": posted.as_json(), "audience": scope})
    return web.json_response(posted.as_json(), status=201)


@require(Permission.SESSIONS_JOIN, api=True)
async def evaluate(request: web.Request) -> web.StreamResponse:
    try:
        user, hearing = await _visible(request)
        _may(user, hearing, SessionAction.EVALUATE)
        body = await read_json(request)
        changed = await asyncio.to_thread(
            request.app[HEARINGS_KEY].evaluate, hearing.id, body.get("text"), user.name
        )
    except SignalingError as exc:
        return _error(exc)
    await _tell(request, "session.evaluated", {"session": changed.as_json(), **_scope(changed)})
    return web.json_response(changed.as_json())


@require(Permission.SESSIONS_JOIN, api=True)
async def media(request: web.Request) -> web.StreamResponse:
    """A short-lived WHIP or WHEP token for this participant's part: view the session's
    station cameras and the city picture; publish the city picture, the talk-back (the
    director's earpiece channel) or the reply, as the part allows."""
    try:
        user, hearing = await _visible(request)
        body = await read_json(request)
        direction = body.get("direction")
        if direction not in ("publish", "view"):
            raise HearingError(400, 'direction: "publish" or "view"')
        stream = body.get("stream")
        if stream is not None and not isinstance(stream, str):
            raise HearingError(400, "stream: a stream id")
        if hearing.state != "live":
            raise HearingError(409, f"session {hearing.id} is {hearing.state}: media needs it live")
        stream_id, action = _media_target(hearing, direction, stream)
        _may(user, hearing, action)
        if direction == "publish":
            await asyncio.to_thread(
                request.app[HEARINGS_KEY].add_city_stream, hearing.id, stream_id
            )
    except SignalingError as exc:
        return _error(exc)
    role = TokenRole.STATION if direction == "publish" else TokenRole.VIEWER
    token = request.app[TOKENS_KEY].mint([stream_id], role, MEDIA_TOKEN_TTL, name=user.name)
    path = f"/{'whip' if direction == 'publish' else 'whep'}/{stream_id}"
    return web.json_response(
        {"stream": stream_id, "token": token, "url": path, "expires_in": MEDIA_TOKEN_TTL},
        status=201,
    )


@require(Permission.SESSIONS_JOIN, api=True)
async def session_streams(request: web.Request) -> web.StreamResponse:
    """The session's streams this participant may watch or hear, each with whether it is
    on air on this node and recorded: the station's cameras, then the city side's."""
    try:
        user, hearing = await _visible(request)
    except SignalingError as exc:
        return _error(exc)
    part = hearing.part_of(user.name)
    gateway, recorder = request.app[GATEWAY_KEY], request.app.get(RECORDER_KEY)
    station = [s for s in hearing.streams if s not in _city_ids(hearing)]
    listed = [(s, "station", SessionAction.VIEW) for s in station] + [
        (city_stream(hearing.id, suffix), suffix, view)
        for suffix, (_, view) in CITY_STREAMS.items()
    ]
    streams = []
    for stream_id, source, action in listed:
        if not part_allows(part, action):
            continue
        recording = recorder.active.get(stream_id) if recorder is not None else None
        streams.append(
            {
                "id": stream_id,
                "source": source,
                "on_air": gateway.publication(stream_id) is not None,
                "recording": recording is not None and not recording.closed,
            }
        )
    return web.json_response({"session": hearing.id, "state": hearing.state, "streams": streams})


def _city_ids(hearing: Hearing) -> set[str]:
    return {city_stream(hearing.id, suffix) for suffix in CITY_STREAMS}


def _media_target(
    hearing: Hearing, direction: str, stream: str | None
) -> tuple[str, SessionAction]:
    """The stream and the action a media request needs."""
    for suffix, (publish, view) in CITY_STREAMS.items():
        if stream in (suffix, city_stream(hearing.id, suffix)):
            return city_stream(hearing.id, suffix), publish if direction == "publish" else view
    if direction == "publish":
        raise HearingError(400, f"stream: publish one of {', '.join(CITY_STREAMS)}")
    if stream is None or stream not in hearing.streams:
        raise HearingError(404, f"stream {stream!r} is not one of session {hearing.id}'s")
    return stream, SessionAction.VIEW


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/sessions", create)
    app.router.add_get("/api/sessions", list_sessions)
    app.router.add_get("/api/sessions/{session_id}", get_session)
    app.router.add_post("/api/sessions/{session_id}/start", start)
    app.router.add_post("/api/sessions/{session_id}/end", end)
    app.router.add_post("/api/sessions/{session_id}/directions", direct)
    app.router.add_post("/api/sessions/{session_id}/directions/{direction_id}/read", mark_read)
    app.router.add_post("/api/sessions/{session_id}/comments", comment)
    app.router.add_post("/api/sessions/{session_id}/evaluation", evaluate)
    app.router.add_post("/api/sessions/{session_id}/media", media)
    app.router.add_get("/api/sessions/{session_id}/streams", session_streams)
