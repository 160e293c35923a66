"""A viewer worker process (`python -m vdispatch.worker`, started by worker_pool.py).

Its own event loop and its own media gateway, nothing else: no catalog, no recorder,
no bus. It listens on 127.0.0.1 (a free port, told on stdout) for the front's requests,
each carrying the node's per-boot secret: a viewer's offer for a stream (answered with
its own SDP: the viewer's media flows to this process), the viewer's DELETE, and its
counts. Each stream comes from the main process over loopback WHEP, one upstream per
stream, opened with the viewer token the front sent along and closed `relay_linger`
after its last viewer here left.

Its boot line (JSON: index, secret, front URL, node id, media settings) comes on stdin,
which stays open: end of file means the main process is gone, and so this one goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import json
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from media_gateway import MediaError, MediaGateway, MediaSettings, UpstreamFailed
from signaling import (
    RELAY_NODE_HEADER,
    RESOURCE_HEADER,
    SECRET_HEADER,
    UPSTREAM_TOKEN_HEADER,
    valid_stream_id,
)

logger = logging.getLogger("vdispatch.worker")

READY = "vdispatch-worker listening "
MAX_OFFER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Boot:
    index: int
    secret: str
    front: str  # the main process's HTTP address, e.g. http://127.0.0.1:8080
    node_id: str
    media: MediaSettings

    @classmethod
    def parse(cls, line: bytes) -> Boot:
        d = json.loads(line)
        media = MediaSettings.model_validate(d["media"])
        return cls(int(d["index"]), str(d["secret"]), str(d["front"]), str(d["node_id"]), media)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _app(boot: Boot, gateway: MediaGateway, http: aiohttp.ClientSession) -> web.Application:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), boot.secret.encode()):
            return web.Response(status=403, text="not the node's worker secret\n")
        try:
            return await handler(request)
        except MediaError as exc:
            return web.Response(status=exc.status, text=exc.reason + "\n")

    async def subscribe(request: web.Request) -> web.StreamResponse:
        stream_id = request.match_info["stream_id"]
        if not valid_stream_id(stream_id):
            return web.Response(status=400, text="invalid stream id\n")
        offer = await request.text()
        if len(offer) > MAX_OFFER_BYTES:
            return web.Response(status=413, text="offer too large\n")
        if gateway.publication(stream_id) is None:
            token = request.headers.get(UPSTREAM_TOKEN_HEADER, "")
            exchange = functools.partial(_exchange, http, boot, stream_id, token)
            await gateway.relay(stream_id, exchange, boot.node_id)
        resource_id = await gateway.subscribe(stream_id, offer)
        answer = gateway.answer_for(stream_id, resource_id)
        return web.Response(
            status=201,
            text=answer,
            content_type="application/sdp",
            headers={RESOURCE_HEADER: resource_id},
        )

    async def unsubscribe(request: web.Request) -> web.StreamResponse:
        await gateway.unsubscribe(request.match_info["stream_id"], request.match_info["resource"])
        return web.Response(status=200, text="stopped\n")

    async def stats(request: web.Request) -> web.StreamResponse:
        streams: dict[str, Any] = {
            s.stream_id: {"viewers": s.viewers, "packets": s.packets} for s in gateway.streams()
        }
        return web.json_response({"index": boot.index, "streams": streams})

    app = web.Application(middlewares=[guard], client_max_size=MAX_OFFER_BYTES + 1024)
    app.router.add_post("/viewers/{stream_id}", subscribe)
    app.router.add_delete("/viewers/{stream_id}/{resource}", unsubscribe)
    app.router.add_get("/stats", stats)
    return app


async def _exchange(
    http: aiohttp.ClientSession, boot: Boot, stream_id: str, token: str, offer: str
) -> str:
    """This worker as a WHEP viewer of the main process (a relay request there)."""
    headers = {
        "Content-Type": "application/sdp",
        "Authorization": f"Bearer {token}",
        RELAY_NODE_HEADER: f"{boot.node_id}/worker-{boot.index}",
    }
    try:
        async with http.post(f"{boot.front}/whep/{stream_id}", data=offer, headers=headers) as resp:
            body = await resp.text()
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamFailed(f"the node's main process is unreachable: {exc}") from exc
    if resp.status != 201:
        raise UpstreamFailed(
            f"the node's main process refused stream {stream_id}: "
            f"{resp.status} {body.strip()[:200]}",
            503 if resp.status == 503 else 502,
        )
    return body


async def run() -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    boot = Boot.parse(await stdin.readline())
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s %(levelname)s worker-{boot.index} %(name)s: %(message)s",
    )
    for noisy in ("aioice", "aiortc", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def parent_gone() -> None:
        while await stdin.read(4096):
            pass
        stop.set()

    watch = asyncio.ensure_future(parent_gone())
    # Its first construction reads aiortc's source (the compatibility check): a thread.
    gateway = await asyncio.to_thread(MediaGateway, boot.media)
    http = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=boot.media.relay_timeout + 5, sock_connect=5)
    )
    runner = web.AppRunner(_app(boot, gateway, http), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"{READY}http://127.0.0.1:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        logger.info("stopping: %d viewers", gateway.own_viewers())
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        await gateway.close()
        await runner.cleanup()
        await http.close()


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
