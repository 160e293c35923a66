"""Media for a session's participants: short-lived WHIP/WHEP tokens for exactly one
stream each, as the participant's part allows (`POST /api/sessions/{id}/media`), and the
streams a part may watch with whether they are on air and recorded (`GET …/streams`).
Nobody copies tokens by hand; a courtroom display never gets a talk-back token."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .auth import require
from .errors import SignalingError
from .hearing import CITY_STREAMS, Hearing, HearingError, city_stream
from .hearings_api import require_part, visible
from .json_api import read_json, refused
from .keys import GATEWAY_KEY, HEARINGS_KEY, RECORDER_KEY, TOKENS_KEY
from .policy import Permission, SessionAction, TokenRole, part_allows

# A media token is for connecting now: WHIP/WHEP check it once, at the offer.
MEDIA_TOKEN_TTL = 120


@require(Permission.SESSIONS_JOIN, api=True)
async def media(request: web.Request) -> web.StreamResponse:
    """A short-lived WHIP or WHEP token for this participant's part: view the session's
    station cameras and the city picture; publish the city picture, the talk-back (the
    director's earpiece channel) or the reply, as the part allows."""
    try:
        user, hearing = await visible(request)
        body = await read_json(request)
        direction = body.get("direction")
        if direction not in ("publish", "view"):
            raise HearingError(400, 'direction: "publish" or "view"')
        stream = body.get("stream")
        if stream is not None and not isinstance(stream, str):
            raise HearingError(400, "stream: a stream id")
        # An interrogation's participants connect before it starts: it goes live only
        # once both sides are recorded (hearings_api.start).
        early = hearing.kind == "interrogation" and hearing.state == "scheduled"
        if hearing.state != "live" and not early:
            raise HearingError(409, f"session {hearing.id} is {hearing.state}: media needs it live")
        stream_id, action = _media_target(hearing, direction, stream)
        require_part(user, hearing, action)
        if direction == "publish":
            await asyncio.to_thread(
                request.app[HEARINGS_KEY].add_city_stream, hearing.id, stream_id
            )
    except SignalingError as exc:
        return refused(exc)
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
        user, hearing = await visible(request)
    except SignalingError as exc:
        return refused(exc)
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
    app.router.add_post("/api/sessions/{session_id}/media", media)
    app.router.add_get("/api/sessions/{session_id}/streams", session_streams)
