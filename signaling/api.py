"""JSON API and operational endpoints: /api/streams, /api/session, /healthz, /metrics."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from .auth import authorize, csrf_token, current_user, require_login
from .errors import SignalingError
from .keys import GATEWAY_KEY, NODE_KEY, PRESENCE_KEY, RECORDER_KEY, STATIONS_KEY
from .nodes_api import remote_streams
from .policy import Permission
from .stations import Station

logger = logging.getLogger(__name__)


async def _stations(request: web.Request) -> dict[str, Station]:
    if STATIONS_KEY not in request.app:
        return {}
    try:
        return await asyncio.to_thread(request.app[STATIONS_KEY].by_stream)
    except SQLAlchemyError:
        logger.exception("station registry unavailable: streams listed without names")
        return {}


async def list_streams(request: web.Request) -> web.StreamResponse:
    """Live streams; `station` is the registered station's name (the stream id when
    the stream belongs to no station), with `station_id`, `county` and `kind`;
    `recording` tells whether this node's recorder is writing it (`recording_id`)."""
    try:
        # A console session whose role sees the live wall, or a viewer token for "*".
        authorize(request, Permission.LIVE_VIEW, "*")
    except SignalingError as exc:
        resp = web.Response(status=exc.status, text=exc.reason + "\n")
        if exc.status == 401:
            resp.headers["WWW-Authenticate"] = 'Bearer realm="vdispatch"'
        return resp
    node = request.app[NODE_KEY]
    registry = await _stations(request)
    recorder = request.app.get(RECORDER_KEY)
    presence = request.app.get(PRESENCE_KEY)
    held = set(presence.live) if presence is not None else None
    directory = {e.stream_id: e for e in await remote_streams(request.app)}
    streams = []
    for info in request.app[GATEWAY_KEY].streams():
        if held is not None and info.stream_id not in held and info.stream_id in directory:
            continue  # relayed here: listed below, once, as its holder's
        d = dataclasses.asdict(info)
        d["id"] = d.pop("stream_id")
        station = registry.get(d["id"])
        d["station"] = station.name if station else d["id"]
        d["station_id"] = station.id if station else None
        d["county"] = station.county if station else None
        d["kind"] = station.kind if station else None
        d["codec"] = "/".join(c for c in (info.video_codec, info.audio_codec) if c)
        d["resolution"] = f"{info.width}x{info.height}" if info.width else None
        d["loss"] = None
        recording = recorder.active.get(info.stream_id) if recorder is not None else None
        d["recording"] = recording is not None and not recording.closed
        d["recording_id"] = recording.id if recording is not None and d["recording"] else None
        d["node"] = node.node_id
        d["url"] = node.public_url
        streams.append(d)
    # Streams other nodes hold (clustered): what the directory knows of them; watching
    # one here is relayed from its holder.
    for entry in directory.values():
        station = registry.get(entry.stream_id)
        streams.append(
            {
                "id": entry.stream_id,
                "station": station.name if station else entry.stream_id,
                "station_id": station.id if station else None,
                "county": station.county if station else None,
                "kind": station.kind if station else None,
                "since": entry.since,
                "node": entry.node_id,
                "url": entry.url,
                "remote": True,
            }
        )
    streams.sort(key=lambda d: str(d["id"]))
    return web.json_response({"streams": streams})


@require_login(api=True)
async def session_info(request: web.Request) -> web.StreamResponse:
    """Who is logged in, and the CSRF token their scripts send (same-origin reads only)."""
    user = current_user(request)
    assert user is not None
    return web.json_response(
        {
            "user": user.name,
            "display_name": user.display_name,
            "role": user.role,
            "csrf": csrf_token(request),
        },
        headers={"Cache-Control": "no-store"},
    )


async def healthz(request: web.Request) -> web.StreamResponse:
    gateway = request.app[GATEWAY_KEY]
    if gateway.closed:
        return web.Response(status=503, text="shutting down\n")
    return web.Response(text="ok\n")


async def metrics(request: web.Request) -> web.StreamResponse:
    lines = [
        "# HELP vdispatch_streams_live Streams currently published on this node.",
        "# TYPE vdispatch_streams_live gauge",
    ]
    streams = request.app[GATEWAY_KEY].streams()
    lines.append(f"vdispatch_streams_live {len(streams)}")
    lines += [
        "# HELP vdispatch_stream_viewers Viewers per live stream.",
        "# TYPE vdispatch_stream_viewers gauge",
    ]
    lines += [f'vdispatch_stream_viewers{{stream="{s.stream_id}"}} {s.viewers}' for s in streams]
    lines += [
        "# HELP vdispatch_stream_packets_total RTP packets received per live stream.",
        "# TYPE vdispatch_stream_packets_total counter",
    ]
    lines += [
        f'vdispatch_stream_packets_total{{stream="{s.stream_id}"}} {s.packets}' for s in streams
    ]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/streams", list_streams)
    app.router.add_get("/api/session", session_info)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
