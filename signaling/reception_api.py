"""The petition reception API (CONTRACT §5; Issue 9, items 6-8).

Two kinds of caller:
- a county kiosk, with its kiosk token (policy.TokenRole.KIOSK: bound to one station by
  its `station` claim, minted here by an admin or commander, and good for nothing else):
  `POST /api/reception/queue` queues a petitioner, `GET /api/reception/queue?ticket=`
  gives that ticket's place and estimated wait (no personal data), `POST
  …/{ticket}/leave` records the petitioner leaving (abandoned, with the time waited);
- receptionists (console login, `reception.queue`): `GET /api/reception/queue` is the
  city's whole queue with waiting times and their own open receptions, `POST
  …/{ticket}/accept` takes one (409 when taken) and answers the new `reception` session
  (started, the receptionist directing it), `POST …/{ticket}/close` the outcome form.
Auditors (`reception.records`) read every ticket: `GET /api/reception/tickets`.

Personal data (name, contact) is never logged, never in events (they carry ticket ids;
the receptionists' page reads the queue again) and never in the audit log.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from cluster import Event

from .accounts import User
from .audience import audience
from .auth import current_session, require
from .errors import Forbidden, SignalingError, Unauthorized
from .hearing import Hearing
from .hearings_api import seal_ended
from .json_api import guarded_user, read_json, refused
from .keys import BUS_KEY, HEARINGS_KEY, NODE_KEY, RECEPTION_KEY, STATIONS_KEY, TOKENS_KEY
from .policy import TOKEN_GRANTS, Permission, TokenRole, allows
from .reception import Reception, ReceptionError, Ticket
from .tokens import Grant, valid_stream_id

# A kiosk's form is small: anything bigger is not a petition form.
MAX_FORM = 8 * 1024
KIOSK_DAYS = 30
MAX_KIOSK_DAYS = 366


def _store(request: web.Request) -> Reception:
    return request.app[RECEPTION_KEY]


def kiosk_grant(
    request: web.Request, station: str | None = None, token: str | None = None
) -> Grant:
    """The kiosk token of this request (Authorization: Bearer, or `token`: the kiosk
    page's link), for `station` if given. A console login or any other token is refused
    (401/403)."""
    header = f"Bearer {token}" if token else request.headers.get("Authorization")
    if header is None and current_session(request) is not None:
        raise Forbidden("the queue is joined at a county kiosk (its kiosk token)")
    grant = request.app[TOKENS_KEY].bearer(header)
    if Permission.RECEPTION_KIOSK not in TOKEN_GRANTS[grant.role] or grant.station is None:
        raise Forbidden(f"a {grant.role} token may not use the reception queue")
    if station is not None and grant.station != station:
        raise Forbidden("this kiosk token serves another station")
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


async def enqueue(request: web.Request) -> web.StreamResponse:
    try:
        grant = kiosk_grant(request)
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


async def leave(request: web.Request) -> web.StreamResponse:
    ticket_id = request.match_info["ticket"]
    try:
        grant = kiosk_grant(request)
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
        grant = kiosk_grant(request)
        ticket_id = request.query.get("ticket", "")
        if not ticket_id:
            raise ReceptionError(400, "ticket: the kiosk's ticket id")
        place = await asyncio.to_thread(_store(request).place, ticket_id, grant.station)
    except SignalingError as exc:
        return refused(exc)
    return web.json_response(place.as_json(datetime.now(UTC)))


# ------------------------------------------------------------------ receptionists


def _receptionist(request: web.Request) -> User:
    """The console user, if a receptionist (401/403 otherwise)."""
    session = current_session(request)
    if session is None:
        raise Unauthorized("not logged in: console login needed")
    if not allows(session.user.role, Permission.RECEPTION_QUEUE):
        raise Forbidden(f"a {session.user.role} may not use the reception queue")
    return session.user


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


@require(Permission.KIOSK_MANAGE, api=True)
async def kiosk_link(request: web.Request) -> web.StreamResponse:
    """A link for a reception room's kiosk: `/kiosk/{station}?token=…`."""
    user = guarded_user(request)
    station_id = request.match_info["station"]
    try:
        body = await read_json(request, MAX_FORM)
        days = body.get("days", KIOSK_DAYS)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_KIOSK_DAYS:
            raise ReceptionError(400, f"days: a whole number of days, 1 to {MAX_KIOSK_DAYS}")
        if not valid_stream_id(station_id):
            raise ReceptionError(404, f"no station {station_id[:64]!r}")
        station = await asyncio.to_thread(request.app[STATIONS_KEY].get, station_id)
        if station is None:
            raise ReceptionError(404, f"no station {station_id!r}")
        if station.kind != "reception_room":
            raise ReceptionError(400, f"station {station_id} is not a reception room")
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
        await asyncio.to_thread(_store(request).linked, station_id, token_id, user.actor, ttl)
    except SignalingError as exc:
        return refused(exc)
    url = f"/kiosk/{station_id}?token={token}"
    return web.json_response({"url": url, "token": token, "expires_in": ttl}, status=201)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/reception/queue", queue)
    app.router.add_post("/api/reception/queue", enqueue)
    app.router.add_post("/api/reception/queue/{ticket}/accept", accept)
    app.router.add_post("/api/reception/queue/{ticket}/leave", leave)
    app.router.add_post("/api/reception/queue/{ticket}/close", close)
    app.router.add_get("/api/reception/tickets", records)
    app.router.add_post("/api/reception/kiosks/{station}/link", kiosk_link)
