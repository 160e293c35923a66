"""JSON API and operational endpoints: /api/streams, /healthz, /metrics."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from .errors import SignalingError
from .keys import GATEWAY_KEY, NODE_KEY, TOKENS_KEY


def _bearer_viewer(request: web.Request) -> None:
    """Live-stream listing needs a viewer grant for every stream (console logins come
    with the console)."""
    request.app[TOKENS_KEY].authorize(request.headers.get("Authorization"), "subscribe", "*")


async def list_streams(request: web.Request) -> web.StreamResponse:
    try:
        _bearer_viewer(request)
    except SignalingError as exc:
        return web.Response(status=exc.status, text=exc.reason + "\n")
    node = request.app[NODE_KEY]
    streams = []
    for info in request.app[GATEWAY_KEY].streams():
        d = dataclasses.asdict(info)
        d["id"] = d.pop("stream_id")
        d["station"] = d["id"]
        d["codec"] = "/".join(c for c in (info.video_codec, info.audio_codec) if c)
        d["resolution"] = f"{info.width}x{info.height}" if info.width else None
        d["loss"] = None
        d["node"] = node.node_id
        streams.append(d)
    return web.json_response({"streams": streams})


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
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
