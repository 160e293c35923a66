"""Where a kiosk's credentials reach, checked on every request (Issue 9, items 6 and 8).

A county kiosk holds a kiosk token (its link, `/kiosk/{station}?token=…`); during a call
it also holds two short-lived call tokens minted from it (a station token to publish its
camera and microphone, a viewer token to play the receptionist), each naming the kiosk
link in its `link` claim. The middleware below finds such a credential (Authorization:
Bearer, or a `?token=` query) on any request and:

- lets a kiosk token through to the kiosk's own routes only (handlers marked
  `@kiosk_route("kiosk")`, which check the link themselves: `kiosk_grant`);
- lets a call token through to WHIP (`@kiosk_route("publish")`) or WHEP
  (`@kiosk_route("view")`), as its role allows, of the one stream it names, and only
  while its kiosk link is still the station's current one;
- answers 401 with the reason on any other route when the link was revoked or
  replaced, and 403 with the reason when it is valid: a kiosk opens nothing else.

Routes that do not exist (404) or do not take the method (405) answer as they would.
Any other credential passes untouched: the handlers' checks are unchanged.

The WHIP/WHEP resources a call token opens are kept per kiosk link (KioskCalls): revoking
or replacing the link ends them on this node at once, not only the requests after it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from media_gateway import MediaError

from .catalog_outage import catalog_unavailable, is_outage, outage_reason
from .errors import SignalingError, Unauthorized
from .keys import GATEWAY_KEY, RECEPTION_KEY, TOKENS_KEY
from .policy import TOKEN_GRANTS, Permission, names_station
from .tokens import Grant
from .workers import end_viewer

logger = logging.getLogger(__name__)

Scope = Literal["kiosk", "publish", "view"]
# What a call token's role must grant on a route of each media scope.
_CALL = {"publish": Permission.STREAM_PUBLISH, "view": Permission.STREAM_SUBSCRIBE}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SCOPE = "kiosk_scope"
OTHERS_REFUSED = "a kiosk's credentials open only its own kiosk page, its queue ticket and its call"


class KioskRevoked(Unauthorized):
    """The kiosk link this credential stands on was revoked or replaced."""

    def __init__(self) -> None:
        super().__init__("this kiosk link was revoked or replaced: ask an administrator")


def kiosk_route(scope: Scope) -> Callable[[Handler], Handler]:
    """Mark a route a kiosk may reach: `kiosk` (its kiosk token), `publish` / `view`
    (WHIP / WHEP with a call token for the stream in the path)."""

    def mark(handler: Handler) -> Handler:
        setattr(handler, _SCOPE, scope)
        return handler

    return mark


def route_scope(handler: object) -> Scope | None:
    scope = getattr(handler, _SCOPE, None)
    return scope if scope in ("kiosk", "publish", "view") else None


def _kiosk_credential(request: web.Request) -> Grant | None:
    """A kiosk's credential on this request (a valid kiosk or call token), or None."""
    tokens = request.app[TOKENS_KEY]
    header = request.headers.get("Authorization")
    candidates = []
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer":
            candidates.append(token.strip())
    candidates.extend(request.query.getall("token", []))
    for token in candidates:
        try:
            grant = tokens.verify(token)
        except SignalingError:
            continue  # not valid at all: the handler refuses it as it always has
        if grant.kiosk_link is not None:
            return grant
    return None


async def current_station(app: web.Application, grant: Grant) -> str:
    """The station whose current kiosk link `grant` stands on; KioskRevoked when it is
    not current any more. Blocking lookup in a thread."""
    link = grant.kiosk_link
    if link is None or RECEPTION_KEY not in app:
        raise KioskRevoked()
    station = await asyncio.to_thread(app[RECEPTION_KEY].links.station_of, link)
    if station is None or (grant.station is not None and grant.station != station):
        raise KioskRevoked()
    return station


def _text(status: int, reason: str) -> web.Response:
    resp = web.Response(status=status, text=reason + "\n")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="vdispatch"'
    return resp


@web.middleware
async def kiosk_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    grant = _kiosk_credential(request)
    if grant is None or request.match_info.http_exception is not None:
        return await handler(request)
    scope = route_scope(request.match_info.handler)
    kiosk = names_station(grant.role)
    if scope == "kiosk" and kiosk:
        return await handler(request)  # kiosk_grant checks the link, the station, the role
    try:
        await current_station(request.app, grant)
    except KioskRevoked as exc:
        return _text(401, exc.reason)
    except SQLAlchemyError as exc:
        if is_outage(exc):
            return catalog_unavailable(request, outage_reason(exc))
        logger.exception("kiosk link lookup failed")
        return _text(503, "the catalog is unavailable")
    if (
        scope in _CALL
        and _CALL[scope] in TOKEN_GRANTS[grant.role]
        and request.match_info.get("stream_id") in grant.streams
    ):
        return await handler(request)
    return _text(403, OTHERS_REFUSED)


# ------------------------------------------------------------------ open calls

CallResource = tuple[Literal["whip", "whep"], str, str]  # kind, stream, resource id


class KioskCalls:
    """The WHIP/WHEP resources opened on this node with each kiosk link's call tokens.
    A call opens two; retries open more: the last few per link are kept (an older one
    has ended by then), so a kiosk never grows this."""

    PER_LINK = 16

    def __init__(self) -> None:
        self._open: dict[str, deque[CallResource]] = {}

    def opened(self, link: str, resource: CallResource) -> None:
        self._open.setdefault(link, deque(maxlen=self.PER_LINK)).append(resource)

    def take(self, link: str) -> list[CallResource]:
        return list(self._open.pop(link, ()))


KIOSK_CALLS_KEY: web.AppKey[KioskCalls] = web.AppKey("kiosk_calls", KioskCalls)


def setup(app: web.Application) -> None:
    app[KIOSK_CALLS_KEY] = KioskCalls()


def track_call(request: web.Request, who: object, resource: CallResource) -> None:
    """Keep a resource just opened with a call token (anything else: nothing to keep)."""
    if isinstance(who, Grant) and who.link is not None and KIOSK_CALLS_KEY in request.app:
        request.app[KIOSK_CALLS_KEY].opened(who.link, resource)


async def end_calls(app: web.Application, link: str) -> int:
    """End what `link`'s call tokens opened on this node; how many were still open."""
    if KIOSK_CALLS_KEY not in app or GATEWAY_KEY not in app:
        return 0
    gateway, ended = app[GATEWAY_KEY], 0
    for kind, stream, resource in app[KIOSK_CALLS_KEY].take(link):
        try:
            if kind == "whip":
                await gateway.unpublish(stream, resource)
            else:
                await end_viewer(app, stream, resource)
            ended += 1
        except MediaError:
            pass  # it had ended already (the kiosk hung up, the peer dropped)
    return ended
