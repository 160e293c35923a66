"""The baseline: a naive relay gateway that uses aiortc the ordinary way.

WHIP and WHEP like vdispatch (POST an SDP offer, 201 with the answer), but the
publisher's tracks are decoded (aiortc's receiver), fanned out with aiortc's
`MediaRelay`, and every viewer's sender encodes its own copy (VP8 and Opus). This is
what the gateway's forward-don't-transcode design is measured against.

    python bench/mediarelay_server.py --port 8090
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import uuid

import aioice.ice
from aiohttp import web
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

logger = logging.getLogger("mediarelay")

relay = MediaRelay()
streams: dict[str, dict[str, MediaStreamTrack]] = {}
peers: set[RTCPeerConnection] = set()
drains: set[asyncio.Task[None]] = set()


def use_loopback() -> None:
    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return ["127.0.0.1"] if use_ipv4 else []

    aioice.ice.get_host_addresses = get_host_addresses


async def _drain(track: MediaStreamTrack) -> None:
    """Keep the relay reading (and so decoding) the source with no viewer, as a
    gateway must; otherwise decoded frames pile up in aiortc's track queue."""
    with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
        while True:
            await track.recv()


def _answer(pc: RTCPeerConnection, kind: str, stream_id: str) -> web.Response:
    resource = uuid.uuid4().hex[:16]
    resp = web.Response(status=201, text=pc.localDescription.sdp, content_type="application/sdp")
    resp.headers["Location"] = f"/{kind}/{stream_id}/{resource}"
    return resp


def _track_peer(pc: RTCPeerConnection) -> None:
    peers.add(pc)

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState in ("failed", "closed"):
            peers.discard(pc)
            await pc.close()


async def whip(request: web.Request) -> web.StreamResponse:
    stream_id = request.match_info["stream_id"]
    offer = await request.text()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    _track_peer(pc)
    tracks: dict[str, MediaStreamTrack] = {}

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        tracks[track.kind] = track
        task = asyncio.ensure_future(_drain(relay.subscribe(track, buffered=False)))
        drains.add(task)
        task.add_done_callback(drains.discard)

    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    streams[stream_id] = tracks
    return _answer(pc, "whip", stream_id)


async def whep(request: web.Request) -> web.StreamResponse:
    stream_id = request.match_info["stream_id"]
    tracks = streams.get(stream_id)
    if not tracks:
        return web.Response(status=404, text="stream not live\n")
    offer = await request.text()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    _track_peer(pc)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
    for kind in ("video", "audio"):
        if kind in tracks:
            # one proxy per viewer; the viewer's sender encodes what it gets
            pc.addTrack(relay.subscribe(tracks[kind], buffered=False))
    await pc.setLocalDescription(await pc.createAnswer())
    return _answer(pc, "whep", stream_id)


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok\n")


async def _close_all(app: web.Application) -> None:
    await asyncio.gather(*(pc.close() for pc in list(peers)), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    use_loopback()
    app = web.Application()
    app.router.add_post("/whip/{stream_id}", whip)
    app.router.add_post("/whep/{stream_id}", whep)
    app.router.add_get("/healthz", healthz)
    app.on_shutdown.append(_close_all)
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
