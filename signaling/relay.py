"""A WHEP viewer asking this node for a stream another node holds (the directory says
which): cascade relays it from the holder (one upstream per stream here, fanned out
locally) or redirect answers 307 to the holder, as the cluster settings choose.

Node to node, this node is an ordinary WHEP client of the holder: a short-lived viewer
token minted with the cluster's shared SECRET, and a header naming the relaying node
(the holder logs it, and never relays such a request on: no loops between nodes).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from cluster import StreamEntry
from media_gateway import UpstreamFailed

from .keys import (
    BUS_KEY,
    CLUSTER_SETTINGS_KEY,
    DIRECTORY_KEY,
    GATEWAY_KEY,
    NODE_KEY,
    RELAY_HTTP_KEY,
    TOKENS_KEY,
)
from .policy import TokenRole

logger = logging.getLogger(__name__)

RELAY_NODE_HEADER = "X-Vdispatch-Relay-Node"
# Only for the one WHEP request that opens the upstream; the media outlives it.
RELAY_TOKEN_TTL = 60


async def holder(request: web.Request, stream_id: str) -> StreamEntry | None:
    """The other live node holding `stream_id`, or None (none, or it is this node, or
    the request already comes from a relaying node)."""
    if RELAY_NODE_HEADER in request.headers:
        return None
    return await _other_holder(request.app, stream_id)


async def _other_holder(app: web.Application, stream_id: str) -> StreamEntry | None:
    if DIRECTORY_KEY not in app:
        return None
    entry = await app[DIRECTORY_KEY].lookup(stream_id)
    if entry is None or entry.node_id == app[NODE_KEY].node_id:
        return None
    return entry


def redirect(request: web.Request, entry: StreamEntry) -> web.Response | None:
    """307 to the holder when relaying is off; None in cascade mode. The query string
    goes along (a token given as ?token= still authorizes there)."""
    cluster = request.app.get(CLUSTER_SETTINGS_KEY)
    if cluster is None or cluster.relay != "redirect":
        return None
    location = whep_url(entry)
    if request.query_string:
        location += "?" + request.query_string
    return web.Response(
        status=307,
        headers={"Location": location},
        text=f"stream {entry.stream_id} is served by node {entry.node_id}\n",
    )


async def relay(request: web.Request, entry: StreamEntry) -> None:
    """The stream live here, relayed from its holder (or already relayed)."""
    app = request.app
    exchange = functools.partial(_exchange, app, entry)
    await app[GATEWAY_KEY].relay(entry.stream_id, exchange, entry.node_id)


def whep_url(entry: StreamEntry) -> str:
    return f"{entry.url.rstrip('/')}/whep/{entry.stream_id}"


async def _exchange(app: web.Application, entry: StreamEntry, offer: str) -> str:
    """The node-to-node WHEP request: our offer for the holder's answer."""
    token = app[TOKENS_KEY].mint([entry.stream_id], TokenRole.VIEWER, RELAY_TOKEN_TTL)
    headers = {
        "Content-Type": "application/sdp",
        "Authorization": f"Bearer {token}",
        RELAY_NODE_HEADER: app[NODE_KEY].node_id,
    }
    # the highest simulcast layer: local viewers here all get that one (docs/operations.md)
    url = whep_url(entry) + "?layer=high"
    try:
        async with app[RELAY_HTTP_KEY].post(
            url, data=offer, headers=headers, allow_redirects=False
        ) as resp:
            body = await resp.text()
    except (aiohttp.ClientError, OSError) as exc:
        raise UpstreamFailed(
            f"node {entry.node_id} holding stream {entry.stream_id} is unreachable "
            f"({url}): {exc or type(exc).__name__}"
        ) from exc
    if resp.status != 201:
        reason = body.strip()[:200] or resp.reason or ""
        raise UpstreamFailed(
            f"node {entry.node_id} refused to relay stream {entry.stream_id}: "
            f"{resp.status} {reason}",
            503 if resp.status == 503 else 502,
        )
    logger.info("stream %s: relaying from node %s", entry.stream_id, entry.node_id)
    return body


async def check_relayed(request: web.Request, stream_id: str) -> None:
    """A stream relayed here whose directory entry no longer names its origin (the
    holder died, or the stream moved): end the relay before serving anyone with it."""
    gateway = request.app[GATEWAY_KEY]
    pub = gateway.publication(stream_id)
    if pub is None or pub.origin is None or not _redis_healthy(request.app):
        return
    entry = await _other_holder(request.app, stream_id)
    if entry is None or entry.node_id != pub.origin:
        await gateway.end_relay(stream_id)


async def _watch(app: web.Application, every: float) -> None:
    """Every heartbeat: relays whose holder left the directory (killed, its entry's TTL
    over) or changed end, so their viewers are not left on a dead upstream."""
    while True:
        await asyncio.sleep(every)
        gateway = app.get(GATEWAY_KEY)
        if gateway is None or DIRECTORY_KEY not in app or not _redis_healthy(app):
            continue
        try:
            for info in gateway.streams():
                if info.origin is None:
                    continue
                entry = await _other_holder(app, info.stream_id)
                if entry is None or entry.node_id != info.origin:
                    await gateway.end_relay(info.stream_id)
        except Exception:  # the watch must outlive one bad round
            logger.exception("relay watch")


def _redis_healthy(app: web.Application) -> bool:
    """Whether the directory's word can be trusted: with the cluster's Redis lost, every
    lookup says "nobody", and relays that still work are kept."""
    return bool(getattr(app.get(BUS_KEY), "healthy", True))


def setup(app: web.Application) -> None:
    """The app's HTTP client for node-to-node requests and the relays' watch, closed at
    cleanup (after the gateway, whose upstreams may still be opening: they fail, they
    do not hang)."""

    async def client(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30, sock_connect=5))
        app[RELAY_HTTP_KEY] = session
        cluster = app.get(CLUSTER_SETTINGS_KEY)
        watch = asyncio.ensure_future(_watch(app, cluster.heartbeat_seconds if cluster else 2.0))
        yield
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        await session.close()

    app.cleanup_ctx.append(client)
