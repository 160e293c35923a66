"""What a receiver is sent right now, and the WHEP check built on it.

Two kinds of receiver hold `stream.receive` (policy.ROUTED) instead of a list of streams:

- a *screen* (its wall PC, holding a screen token, or a console user with `screen.view`)
  receives the screen's sources, only while they are on it, and only with the screen's
  current link: a new link, or revoking it, stops the old one at once;
- a county *station* (its station token, the one it publishes with) receives what its
  session sends back to it (CONTRACT §3): the city picture `{session}-city` of every
  session live at the station (never the talk-back or the reply: those are the parts'),
  and the sources dispatched to its station screen.

Nothing is granted by the token's own claims beyond naming the receiver: each WHEP offer
looks the routing up (in a thread) before the body is read.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from .accounts import User
from .auth import authorize, authorize_session
from .dispatch import GRIDS, Dispatch, DispatchError, Screen
from .errors import Forbidden, Unauthorized
from .hearing import CITY_STREAMS, city_stream
from .keys import DISPATCH_KEY, STATIONS_KEY, TOKENS_KEY
from .policy import TOKEN_GRANTS, Permission, SessionAction, names_screen
from .tokens import Grant

# A session's private channels (the director's talk-back, the prosecutor's reply): for the
# session's parts only, never dispatched, never sent to a station.
PRIVATE_SUFFIXES = tuple(
    f"-{suffix}" for suffix, (_, watch) in CITY_STREAMS.items() if watch != SessionAction.VIEW
)
CITY = "city"  # the one session stream a station receives (its watchers: SessionAction.VIEW)
assert CITY_STREAMS[CITY][1] == SessionAction.VIEW


@dataclass(frozen=True)
class Receiver:
    kind: Literal["screen", "station"]
    name: str  # the screen's name or the station's id
    link_id: str | None = None  # a screen link's token id, which must still be current
    expires: float | None = None  # the token's expiry (None: a console session)


@dataclass(frozen=True)
class Tile:
    stream: str
    source: Literal["dispatch", "city"]


@dataclass(frozen=True)
class Display:
    """What a receiver shows: a title, a grid and its tiles in order."""

    receiver: Receiver
    title: str
    grid: int
    tiles: tuple[Tile, ...]

    @property
    def streams(self) -> frozenset[str]:
        return frozenset(t.stream for t in self.tiles)

    def as_json(self, labels: dict[str, str], live: set[str]) -> dict[str, Any]:
        return {
            "kind": self.receiver.kind,
            "name": self.receiver.name,
            "title": self.title,
            "grid": self.grid,
            "tiles": [
                {
                    "stream": t.stream,
                    "source": t.source,
                    "label": labels.get(t.stream, t.stream),
                    "live": t.stream in live,
                }
                for t in self.tiles
            ],
        }


def grid_for(count: int, at_least: int = 1) -> int:
    """The smallest grid holding `count` tiles (and not smaller than `at_least`)."""
    return next((g for g in GRIDS if g >= max(count, at_least)), GRIDS[-1])


def _screen_display(screen: Screen, receiver: Receiver) -> Display:
    tiles = tuple(Tile(s, "dispatch") for s in screen.layout.sources)
    return Display(receiver, screen.title, screen.layout.grid, tiles)


def display(dispatch: Dispatch, receiver: Receiver, title: str = "") -> Display | None:
    """What `receiver` shows now; None when it may show nothing any more (the screen was
    deleted, or its link replaced or revoked). Blocking."""
    if receiver.kind == "screen":
        screen = dispatch.screen(receiver.name)
        if screen is None or (receiver.link_id is not None and receiver.link_id != screen.link_id):
            return None
        return _screen_display(screen, receiver)
    city = [
        Tile(city_stream(session_id, CITY), "city")
        for session_id in dispatch.live_sessions_at(receiver.name)
    ]
    screens = dispatch.station_screens(receiver.name)
    sent = [Tile(s, "dispatch") for screen in screens for s in screen.layout.sources]
    tiles = tuple(dict.fromkeys(city + sent))[: GRIDS[-1]]  # in order, once each
    at_least = max((s.layout.grid for s in screens), default=1)
    return Display(receiver, title or receiver.name, grid_for(len(tiles), at_least), tiles)


def receiver_of(dispatch: Dispatch, grant: Grant) -> Receiver | None:
    """Who a token receives as: its screen, or the station its streams belong to."""
    if Permission.STREAM_RECEIVE not in TOKEN_GRANTS[grant.role]:
        return None
    if names_screen(grant.role):
        assert grant.screen is not None  # verify() checks the claim
        return Receiver("screen", grant.screen, grant.token_id)
    station = dispatch.station_of_streams(grant.streams)
    return Receiver("station", station) if station is not None else None


def may_receive(dispatch: Dispatch, grant: Grant, stream_id: str) -> bool:
    """Whether the token's receiver is sent `stream_id` now. Blocking."""
    if stream_id.endswith(PRIVATE_SUFFIXES):
        return False
    receiver = receiver_of(dispatch, grant)
    if receiver is None:
        return False
    shown = display(dispatch, receiver)
    return shown is not None and stream_id in shown.streams


# ------------------------------------------------------------------ request checks


def _bearer(request: web.Request) -> Grant | None:
    header = request.headers.get("Authorization")
    return request.app[TOKENS_KEY].bearer(header) if header else None


async def authorize_view(request: web.Request, stream_id: str) -> User | Grant:
    """WHEP: a console user or token allowed `stream.subscribe` on the stream, or a
    receiver's token (stream.receive) to which the stream is routed now."""
    try:
        return authorize(request, Permission.STREAM_SUBSCRIBE, stream_id)
    except Forbidden:
        grant = _bearer(request)
        if grant is None or Permission.STREAM_RECEIVE not in TOKEN_GRANTS[grant.role]:
            raise
    if DISPATCH_KEY in request.app and await asyncio.to_thread(
        may_receive, request.app[DISPATCH_KEY], grant, stream_id
    ):
        return grant
    raise Forbidden(
        f"this {grant.role} token may not subscribe to stream {stream_id!r}: not sent to it now"
    )


def authorize_view_delete(request: web.Request, stream_id: str) -> User | Grant:
    """Ending a view: as subscribing, or any receiver's token (its routing may have changed
    since; resource ids are unguessable, so only the subscriber knows theirs)."""
    try:
        return authorize(request, Permission.STREAM_SUBSCRIBE, stream_id)
    except Forbidden:
        grant = _bearer(request)
        if grant is None or Permission.STREAM_RECEIVE not in TOKEN_GRANTS[grant.role]:
            raise
        return grant


def _dispatch(request: web.Request) -> Dispatch:
    if DISPATCH_KEY not in request.app:
        raise DispatchError(503, "the catalog is unavailable")
    return request.app[DISPATCH_KEY]


async def screen_receiver(request: web.Request, name: str, token: str | None) -> Receiver:
    """Who opens a screen: its link's token (a screen token for this screen, still its
    current link), or else a console user whose role holds screen.view. Unauthorized,
    Forbidden, or DispatchError(404) when there is no such screen."""
    dispatch = _dispatch(request)
    if token:
        grant = request.app[TOKENS_KEY].verify(token)
        if not names_screen(grant.role) or grant.screen != name:
            raise Forbidden(f"this token does not show screen {name!r}")
        receiver = Receiver("screen", name, grant.token_id, grant.expires)
    else:
        authorize_session(request, Permission.SCREEN_VIEW)
        receiver = Receiver("screen", name)
    screen = await asyncio.to_thread(dispatch.screen, name)
    if screen is None:
        raise DispatchError(404, f"no screen {name!r}")
    if receiver.link_id is not None and receiver.link_id != screen.link_id:
        raise Unauthorized("this screen link was replaced or revoked: ask for a new one")
    return receiver


async def station_receiver(request: web.Request, station_id: str, token: str | None) -> Receiver:
    """Who opens a station's display: that station's token (the one it publishes with)."""
    if not token:
        raise Unauthorized("the link has no ?token= (the station's token)")
    grant = request.app[TOKENS_KEY].verify(token)
    if Permission.STREAM_RECEIVE not in TOKEN_GRANTS[grant.role] or names_screen(grant.role):
        raise Forbidden(f"a {grant.role} token is not a station's")
    dispatch = _dispatch(request)
    if await asyncio.to_thread(dispatch.station_of_streams, grant.streams) != station_id:
        raise Forbidden(f"this token is not station {station_id!r}'s")
    return Receiver("station", station_id, expires=grant.expires)


def labels(request: web.Request) -> dict[str, str]:
    """Stream id -> its station's name (blocking: call in a thread)."""
    if STATIONS_KEY not in request.app:
        return {}
    return {stream: s.name for stream, s in request.app[STATIONS_KEY].by_stream().items()}
