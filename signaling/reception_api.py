"""The petition reception API (CONTRACT §5; Issue 9, items 6-8).

Two kinds of caller:
- a county kiosk, with its kiosk token (policy.TokenRole.KIOSK: bound to one station by
  its `station` claim, minted here by an admin or commander, and good for nothing else):
  `POST /api/reception/queue` queues a petitioner, `GET /api/reception/queue?ticket=`
  gives that ticket's place and estimated wait (no personal data), `POST
  …/{ticket}/leave` records the petitioner leaving (abandoned, with the time waited; or,
  during the call, the time they left it), `POST …/{ticket}/media` mints the call's two
  short-lived tokens once accepted (kiosk_media);
- receptionists (console login, `reception.queue`): `GET /api/reception/queue` is the
  city's whole queue with waiting times and their own open receptions, `POST
  …/{ticket}/accept` takes one (409 when taken) and answers the new `reception` session
  (started, the receptionist directing it), `POST …/{ticket}/close` the outcome form.
Auditors (`reception.records`) read every ticket: `GET /api/reception/tickets`.
Admins and commanders (`kiosk.manage`) make a station's kiosk link (the one valid link:
a new one replaces it), list them and revoke one (`/api/reception/kiosks…`).
Where a kiosk's credentials reach, and the 401 of a revoked link: kiosk_guard.py.

Personal data (name, contact) is never logged, never in events (they carry ticket ids;
the receptionists' page reads the queue again) and never in the audit log.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from cluster import Event

from .accounts import User
from .audience import audience
from .auth import current_session, require
from .errors import Forbidden, SignalingError, Unauthorized
from .hearing import Hearing, city_stream, city_streams
from .hearings_api import seal_ended
from .hearings_media import MEDIA_TOKEN_TTL
from .json_api import guarded_user, read_json, refused
from .keys import BUS_KEY, HEARINGS_KEY, NODE_KEY, RECEPTION_KEY, STATIONS_KEY, TOKENS_KEY
from .kiosk_guard import current_station, end_calls, kiosk_route
from .policy import TOKEN_GRANTS, Permission, TokenRole, allows
from .reception import Reception, ReceptionError, Ticket
from .tokens import Grant, valid_stream_id

# A kiosk's form is small: anything bigger is not a petition form.
MAX_FORM = 8 * 1024
KIOSK_DAYS = 30
MAX_KIOSK_DAYS = 366


def _store(request: web.Request) -> Reception:
    return request.app[RECEPTION_KEY]


async def kiosk_grant(
    request: web.Request, station: str | None = None, token: str | None = None
) -> Grant:
    """The kiosk token of this request (Authorization: Bearer, or `token`: the kiosk
    page's link), for `station` if given, while it is the station's current kiosk link.
    A console login or any other token is refused (403); a revoked or replaced link 401
    (KioskRevoked)."""
    header = f"Bearer {token}" if token else request.headers.get("Authorization")
    if header is None and current_session(request) is not None:
        raise Forbidden("the queue is joined at a county kiosk (its kiosk token)")
    grant = request.app[TOKENS_KEY].bearer(header)
    if Permission.RECEPTION_KIOSK not in TOKEN_GRANTS[grant.role] or grant.station is None:
        raise Forbidden(f"a {grant.role} token may not use the reception queue")
    if station is not None and grant.station != station:
        raise Forbidden("this kiosk token serves another station")
    try:
        await current_station(request.app, grant)
    except SQLAlchemyError as exc:
        raise ReceptionError(503, "the catalog is unavailable") from exc
    return grant


async def _tell(request: web.Request, topic: str, ticket: Ticket) -> None:
    node = request.app[NODE_KEY].node_id
    now = datetime.now(UTC)
    data = {
        "ticket": {**ticket.public(), "waited_seconds": ticket.waited(now)},
        "audience": audience([], None, Permission.RECEPTION_QUEUE),
    }
    await request.app[BUS_KEY].publish(Event(topic, data, node))


# ------------------------------------------------------------------ the kiosk


@kiosk_route("kiosk")
async def enqueue(request: web.Request) -> web.StreamResponse:
    try:
        grant = await kiosk_grant(request)
        body = await read_json(request, MAX_FORM)
        ticket, place = await asyncio.to_thread(_enqueue, request.app, grant, body)
    except SignalingError as exc:
        return refused(exc)
    await _tell(request, "reception.queued", ticket)
    return web.json_response(place, status=201)


def _enqueue(app: web.Application, grant: Grant, body: dict[str, Any]) -> tuple[Ticket, Any]:
    assert grant.station is not None
    station = app[STATIONS_KEY].get(grant.station)
    if station is None:
        raise ReceptionError(403, f"station {grant.station} is not registered any more")
    store = app[RECEPTION_KEY]
    ticket = store.enqueue(station.id, station.county, body, grant.actor)
    return ticket, store.place(ticket.id, station.id).as_json(datetime.now(UTC))


@kiosk_route("kiosk")
async def leave(request: web.Request) -> web.StreamResponse:
    ticket_id = request.match_info["ticket"]
    try:
        grant = await kiosk_grant(request)
        assert grant.station is not None  # a kiosk token names its station
        ticket = await asyncio.to_thread(
            _store(request).leave, ticket_id, grant.station, grant.actor
        )
    except SignalingError as exc:
        return refused(exc)
    await _tell(request, "reception.left", ticket)
    return web.json_response({**ticket.public(), "waited_seconds": ticket.waited_seconds})


async def _kiosk_place(request: web.Request) -> web.StreamResponse:
    try:
        grant = await kiosk_grant(request)
        ticket_id = request.query.get("ticket", "")
        if not ticket_id:
            raise ReceptionError(400, "ticket: the kiosk's ticket id")
        place = await asyncio.to_thread(_store(request).place, ticket_id, grant.station)
    except SignalingError as exc:
        return refused(exc)
    return web.json_response(place.as_json(datetime.now(UTC)))


@kiosk_route("kiosk")
async def kiosk_media(request: web.Request) -> web.StreamResponse:
    """The kiosk's call, once its petitioner is accepted: a short-lived token to publish
    the station's camera and microphone (`publish`) or to play the receptionist's
    picture and sound, the session's city stream (`view`). Each names that one stream and
    the kiosk link (revoked with it); a kiosk token mints nothing else."""
    ticket_id = request.match_info["ticket"]
    try:
        grant = await kiosk_grant(request)
        body = await read_json(request, MAX_FORM)
        direction = body.get("direction")
        if direction not in ("publish", "view"):
            raise ReceptionError(400, 'direction: "publish" or "view"')
        stream = await asyncio.to_thread(_call_stream, request.app, grant, ticket_id, direction)
    except SignalingError as exc:
        return refused(exc)
    assert grant.station is not None
    role = TokenRole.STATION if direction == "publish" else TokenRole.VIEWER
    token = request.app[TOKENS_KEY].mint(
        [stream], role, MEDIA_TOKEN_TTL, name=f"kiosk:{grant.station}", link=grant.token_id
    )
    path = f"/{'whip' if direction == 'publish' else 'whep'}/{stream}"
    return web.json_response(
        {"stream": stream, "token": token, "url": path, "expires_in": MEDIA_TOKEN_TTL},
        status=201,
    )


def _call_stream(app: web.Application, grant: Grant, ticket_id: str, direction: str) -> str:
    """The stream of the ticket's call the kiosk publishes (the station's camera) or
    plays (the session's city picture); 409 when there is no call (any more)."""
    assert grant.station is not None
    ticket = app[RECEPTION_KEY].place(ticket_id, grant.station).ticket
    if ticket.state != "accepted" or ticket.session is None:
        raise ReceptionError(409, f"ticket {ticket_id} is {ticket.state}: no call")
    if ticket.left_call_at is not None:
        raise ReceptionError(409, f"the petitioner of ticket {ticket_id} left the call")
    hearing = app[HEARINGS_KEY].get(ticket.session)
    if hearing is None or hearing.state != "live":
        raise ReceptionError(409, f"session {ticket.session} is not live")
    if direction == "view":
        return city_stream(hearing.id, "city")
    city = set(city_streams(hearing.id))
    station = [s for s in hearing.streams if s not in city]
    if not station:
        raise ReceptionError(409, f"station {grant.station} has no stream to publish")
    return station[0]


# ------------------------------------------------------------------ receptionists


def _receptionist(request: web.Request) -> User:
    """The console user, if a receptionist (401/403 otherwise)."""
    session = current_session(request)
    if session is None:
        raise Unauthorized("not logged in: console login needed")
    if not allows(session.user.role, Permission.RECEPTION_QUEUE):
        raise Forbidden(f"a {session.user.role} may not use the reception queue")
    return session.user


@kiosk_route("kiosk")
async def queue(request: web.Request) -> web.StreamResponse:
    """Receptionists: the whole queue; a kiosk (Authorization): its ticket's place."""
    if "Authorization" in request.headers:
        return await _kiosk_place(request)
    try:
        user = _receptionist(request)
    except SignalingError as exc:
        return refused(exc)
    store = _store(request)
    waiting, mine = await asyncio.gather(
        asyncio.to_thread(store.waiting), asyncio.to_thread(store.open_by, user.name)
    )
    now = datetime.now(UTC)
    return web.json_response(
        {
            "waiting": [{**t.as_json(now), "place": n} for n, t in enumerate(waiting, start=1)],
            "mine": [t.as_json(now) for t in mine],
        }
    )


@require(Permission.RECEPTION_QUEUE, api=True)
async def accept(request: web.Request) -> web.StreamResponse:
    user = guarded_user(request)
    ticket_id = request.match_info["ticket"]
    try:
        ticket, hearing = await asyncio.to_thread(_accept, request.app, ticket_id, user)
    except SignalingError as exc:
        return refused(exc)
    await _tell(request, "reception.accepted", ticket)
    scope = audience([user.name], hearing.county, Permission.SESSIONS_READ_ALL)
    started = {"session": hearing.as_json(), "audience": scope}
    node = request.app[NODE_KEY].node_id
    await request.app[BUS_KEY].publish(Event("session.started", started, node))
    return web.json_response({**hearing.as_json(), "ticket": ticket.id})


def _accept(app: web.Application, ticket_id: str, user: User) -> tuple[Ticket, Hearing]:
    """Take the ticket (atomic), then make and start its session; if that fails the
    petitioner keeps the place."""
    store = app[RECEPTION_KEY]
    ticket = store.take(ticket_id, user.name)
    try:
        station = app[STATIONS_KEY].get(ticket.station)
        if station is None:
            raise ReceptionError(409, f"station {ticket.station} is not registered any more")
        hearings = app[HEARINGS_KEY]
        hearing = hearings.create(
            kind="reception",
            station=station.id,
            county=station.county,
            streams=station.streams,
            title=f"信访接待 {ticket.id}",
            case_no=ticket.id,
            creator=user.name,
        )
        hearing = hearings.transition(hearing.id, "live", user.actor)
    except Exception:
        store.release(ticket.id, user.name)
        raise
    return store.bind(ticket.id, hearing.id), hearing


@require(Permission.RECEPTION_QUEUE, api=True)
async def close(request: web.Request) -> web.StreamResponse:
    user = guarded_user(request)
    ticket_id = request.match_info["ticket"]
    try:
        body = await read_json(request, MAX_FORM)
        ticket = await asyncio.to_thread(_close, request.app, ticket_id, body, user)
    except SignalingError as exc:
        return refused(exc)
    if ticket.session is not None:  # ended with its outcome: sealed, as an interrogation
        await seal_ended(request.app, ticket.session, user.actor)
    await _tell(request, "reception.closed", ticket)
    return web.json_response(ticket.as_json(datetime.now(UTC)))


def _close(app: web.Application, ticket_id: str, body: dict[str, Any], user: User) -> Ticket:
    ticket = app[RECEPTION_KEY].close(ticket_id, body, user.name)
    if ticket.session is not None:
        hearings = app[HEARINGS_KEY]
        hearing = hearings.get(ticket.session)
        if hearing is not None and hearing.state == "live":
            hearings.transition(hearing.id, "ended", user.actor)
    return ticket


@require(Permission.RECEPTION_RECORDS, api=True)
async def records(request: web.Request) -> web.StreamResponse:
    tickets = await asyncio.to_thread(_store(request).records)
    now = datetime.now(UTC)
    return web.json_response({"tickets": [t.as_json(now) for t in tickets]})


# ------------------------------------------------------------------ kiosk links


async def _reception_room(request: web.Request) -> str:
    station_id = request.match_info["station"]
    if not valid_stream_id(station_id):
        raise ReceptionError(404, f"no station {station_id[:64]!r}")
    station = await asyncio.to_thread(request.app[STATIONS_KEY].get, station_id)
    if station is None:
        raise ReceptionError(404, f"no station {station_id!r}")
    if station.kind != "reception_room":
        raise ReceptionError(400, f"station {station_id} is not a reception room")
    return station_id


@require(Permission.KIOSK_MANAGE, api=True)
async def kiosk_link(request: web.Request) -> web.StreamResponse:
    """A link for a reception room's kiosk: `/kiosk/{station}?token=…`. It is the
    station's one valid link from now: the one before stops working at once."""
    user = guarded_user(request)
    try:
        body = await read_json(request, MAX_FORM)
        days = body.get("days", KIOSK_DAYS)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_KIOSK_DAYS:
            raise ReceptionError(400, f"days: a whole number of days, 1 to {MAX_KIOSK_DAYS}")
        station_id = await _reception_room(request)
        ttl = days * 86400
        token_id = uuid.uuid4().hex
        token = request.app[TOKENS_KEY].mint(
            [],
            TokenRole.KIOSK,
            ttl,
            name=f"kiosk:{station_id}",
            station=station_id,
            token_id=token_id,
        )
        link, replaced = await asyncio.to_thread(
            _store(request).links.make, station_id, token_id, user.actor, ttl
        )
    except SignalingError as exc:
        return refused(exc)
    if replaced is not None:
        await end_calls(request.app, replaced)
    url = f"/kiosk/{station_id}?token={token}"
    answer = {"url": url, "token": token, "expires_in": ttl}
    return web.json_response({**answer, **link.as_json(datetime.now(UTC))}, status=201)


@require(Permission.KIOSK_MANAGE, api=True)
async def kiosk_links(request: web.Request) -> web.StreamResponse:
    """Every reception room's current kiosk link: when made, by whom, until when (never
    the token)."""
    links = await asyncio.to_thread(_store(request).links.all)
    now = datetime.now(UTC)
    return web.json_response({"links": [link.as_json(now) for link in links]})


@require(Permission.KIOSK_MANAGE, api=True)
async def kiosk_link_of(request: web.Request) -> web.StreamResponse:
    try:
        station_id = await _reception_room(request)
        link = await asyncio.to_thread(_store(request).links.get, station_id)
    except SignalingError as exc:
        return refused(exc)
    if link is None:
        return refused(ReceptionError(404, f"station {station_id} has no kiosk link"))
    return web.json_response(link.as_json(datetime.now(UTC)))


@require(Permission.KIOSK_MANAGE, api=True)
async def revoke_kiosk_link(request: web.Request) -> web.StreamResponse:
    """The station's kiosk link stops working at once (and every call token of it)."""
    user = guarded_user(request)
    try:
        station_id = await _reception_room(request)
        link = await asyncio.to_thread(_store(request).links.revoke, station_id, user.actor)
    except SignalingError as exc:
        return refused(exc)
    if link is None:
        return refused(ReceptionError(404, f"station {station_id} has no kiosk link"))
    ended = await end_calls(request.app, link.link_id)
    answer = {**link.as_json(datetime.now(UTC)), "revoked": True, "calls_ended": ended}
    return web.json_response(answer)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/reception/queue", queue)
    app.router.add_post("/api/reception/queue", enqueue)
    app.router.add_post("/api/reception/queue/{ticket}/accept", accept)
    app.router.add_post("/api/reception/queue/{ticket}/leave", leave)
    app.router.add_post("/api/reception/queue/{ticket}/media", kiosk_media)
    app.router.add_post("/api/reception/queue/{ticket}/close", close)
    app.router.add_get("/api/reception/tickets", records)
    app.router.add_get("/api/reception/kiosks", kiosk_links)
    app.router.add_get("/api/reception/kiosks/{station}/link", kiosk_link_of)
    app.router.add_post("/api/reception/kiosks/{station}/link", kiosk_link)
    app.router.add_delete("/api/reception/kiosks/{station}/link", revoke_kiosk_link)
