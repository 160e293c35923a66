"""WHIP (RFC 9725) publish and WHEP subscribe endpoints, as CONTRACT.md section 2."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from media_gateway import LAYER_CHOICES, LayerChoice, MediaError

from . import relay
from .auth import authorize
from .errors import SignalingError
from .keys import GATEWAY_KEY
from .kiosk_guard import kiosk_route, track_call
from .policy import Permission
from .routing import authorize_view, authorize_view_delete
from .tokens import valid_stream_id

logger = logging.getLogger(__name__)

MAX_OFFER_BYTES = 64 * 1024
SDP = "application/sdp"


def _text(status: int, reason: str) -> web.Response:
    resp = web.Response(status=status, text=reason + "\n")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="vdispatch"'
    return resp


def _stream_id(request: web.Request) -> str:
    stream_id = request.match_info["stream_id"]
    if not valid_stream_id(stream_id):
        raise SignalingError("invalid stream id: use [a-z0-9][a-z0-9_-]{0,63}")
    return stream_id


def _layer(request: web.Request) -> LayerChoice:
    """?layer=low|high|auto: the simulcast layer a viewer takes (docs/operations.md)."""
    value = request.query.get("layer", "auto")
    for choice in LAYER_CHOICES:
        if value == choice:
            return choice
    raise SignalingError(f"layer must be one of {', '.join(LAYER_CHOICES)}, not {value[:20]!r}")


async def _read_offer(request: web.Request) -> str:
    if request.content_type != SDP:
        raise _Status(415, f"Content-Type must be {SDP}")
    if request.content_length is not None and request.content_length > MAX_OFFER_BYTES:
        raise _Status(413, f"offer larger than {MAX_OFFER_BYTES} bytes")
    # read(n) returns what has arrived so far (up to n): keep reading until the end.
    body = bytearray()
    while len(body) <= MAX_OFFER_BYTES:
        chunk = await request.content.read(MAX_OFFER_BYTES + 1 - len(body))
        if not chunk:
            break
        body += chunk
    if len(body) > MAX_OFFER_BYTES:
        raise _Status(413, f"offer larger than {MAX_OFFER_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SignalingError("offer is not UTF-8 text") from exc
    if not text.lstrip().startswith("v=0"):
        raise SignalingError("offer is not an SDP session description")
    return text


class _Status(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _errors_as_text(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except (SignalingError, MediaError, _Status) as exc:
            return _text(exc.status, exc.reason)

    return wrapped


def _created(kind: str, stream_id: str, resource_id: str, answer: str) -> web.Response:
    resp = web.Response(status=201, text=answer, content_type=SDP)
    resp.headers["Location"] = f"/{kind}/{stream_id}/{resource_id}"
    resp.headers["ETag"] = f'"{resource_id}"'
    return resp


@kiosk_route("publish")  # a kiosk's call tokens: their one stream
@_errors_as_text
async def whip_publish(request: web.Request) -> web.StreamResponse:
    stream_id = _stream_id(request)
    who = authorize(request, Permission.STREAM_PUBLISH, stream_id)  # before the body is read
    offer = await _read_offer(request)
    gateway = request.app[GATEWAY_KEY]
    pub = await gateway.publish(stream_id, offer)
    track_call(request, who, ("whip", stream_id, pub.resource_id))
    logger.info("stream %s published (resource %s)", stream_id, pub.resource_id)
    return _created("whip", stream_id, pub.resource_id, pub.peer.answer_sdp)


@kiosk_route("view")  # a kiosk's call tokens: their one stream
@_errors_as_text
async def whep_subscribe(request: web.Request) -> web.StreamResponse:
    # A viewer token for the stream, or a console session whose role may watch (any
    # stream for now; invitations come with hearing sessions), or a screen's or a
    # station's token while the stream is routed to it (routing.py). Publishing: tokens only.
    stream_id = _stream_id(request)
    layer = _layer(request)
    who = await authorize_view(request, stream_id)
    gateway = request.app[GATEWAY_KEY]
    await relay.check_relayed(request, stream_id)
    # Not live here: another node may hold it (relay.py); none does: 404 below.
    entry = None if gateway.publication(stream_id) else await relay.holder(request, stream_id)
    if entry is not None and (moved := relay.redirect(request, entry)) is not None:
        return moved
    offer = await _read_offer(request)
    if entry is not None:
        await relay.relay(request, entry)
    elif relay.RELAY_NODE_HEADER in request.headers:
        logger.info(
            "stream %s: relay request from node %s",
            stream_id,
            request.headers[relay.RELAY_NODE_HEADER][:64],
        )
    resource_id = await gateway.subscribe(stream_id, offer, layer)
    track_call(request, who, ("whep", stream_id, resource_id))
    return _created("whep", stream_id, resource_id, gateway.answer_for(stream_id, resource_id))


@kiosk_route("publish")  # a kiosk's call tokens: their one stream
@_errors_as_text
async def whip_delete(request: web.Request) -> web.StreamResponse:
    stream_id = _stream_id(request)
    authorize(request, Permission.STREAM_PUBLISH, stream_id)
    await request.app[GATEWAY_KEY].unpublish(stream_id, request.match_info["resource_id"])
    return web.Response(status=200, text="stopped\n")


@kiosk_route("view")  # a kiosk's call tokens: their one stream
@_errors_as_text
async def whep_delete(request: web.Request) -> web.StreamResponse:
    stream_id = _stream_id(request)
    authorize_view_delete(request, stream_id)
    await request.app[GATEWAY_KEY].unsubscribe(stream_id, request.match_info["resource_id"])
    return web.Response(status=200, text="stopped\n")


@_errors_as_text
async def trickle_not_supported(request: web.Request) -> web.StreamResponse:
    # Answers carry every candidate (gathering completes before we answer).
    _stream_id(request)
    raise _Status(405, "trickle ICE is not supported: the answer carries all candidates")


async def preflight(request: web.Request) -> web.StreamResponse:
    return web.Response(
        status=204,
        headers={
            "Accept-Post": SDP,
            "Access-Control-Allow-Methods": "POST, DELETE, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Expose-Headers": "Location",
        },
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/whip/{stream_id}", whip_publish)
    app.router.add_post("/whep/{stream_id}", whep_subscribe)
    app.router.add_delete("/whip/{stream_id}/{resource_id}", whip_delete)
    app.router.add_delete("/whep/{stream_id}/{resource_id}", whep_delete)
    app.router.add_patch("/whip/{stream_id}/{resource_id}", trickle_not_supported)
    app.router.add_patch("/whep/{stream_id}/{resource_id}", trickle_not_supported)
    app.router.add_route("OPTIONS", "/whip/{stream_id}", preflight)
    app.router.add_route("OPTIONS", "/whep/{stream_id}", preflight)
