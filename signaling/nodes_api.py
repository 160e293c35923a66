"""The cluster seen from any node: GET /api/nodes (nodes, their streams and load) and
the remote streams merged into GET /api/streams.

A node alone (no Redis) lists just itself. Clustered, the directory says which nodes
are alive and what each holds; this node's own row is always computed here, fresh.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from cluster import LocalDirectory, StreamEntry

from .auth import require
from .keys import BUS_KEY, DIRECTORY_KEY, GATEWAY_KEY, LOAD_KEY, NODE_KEY, PRESENCE_KEY
from .policy import Permission
from .workers import WORKERS_KEY


def local_load(app: web.Application) -> dict[str, Any]:
    """This node's load, for its heartbeat and its own row: streams published here,
    viewers, relayed upstreams (streams here that another node holds), CPU, loop lag."""
    gateway = app.get(GATEWAY_KEY)
    presence = app.get(PRESENCE_KEY)
    streams = gateway.streams() if gateway is not None else []
    held = set(presence.live) if presence is not None else set()
    load: dict[str, Any] = {
        "streams": sum(1 for s in streams if s.stream_id in held),
        "viewers": sum(s.viewers for s in streams),
        "relays": sum(1 for s in streams if s.stream_id not in held),
    }
    workers = app.get(WORKERS_KEY)
    if workers is not None:  # viewers per media process, 0 being the main one
        load["workers"] = {str(i): n for i, n in workers.viewers_by_worker().items()}
    meter = app.get(LOAD_KEY)
    if meter is not None:
        load["cpu"] = meter.cpu_percent()
        load["loop_lag_ms"] = round(meter.loop_lag * 1000, 1)
    return load


def cluster_alarm(app: web.Application) -> bool:
    """The node has lost the cluster's Redis (it serves what it holds meanwhile)."""
    return not getattr(app[BUS_KEY], "healthy", True)


async def cluster_nodes(app: web.Application) -> list[dict[str, Any]]:
    """Every live node (this one always, with its load computed now), by node id."""
    me = app[NODE_KEY]
    presence = app.get(PRESENCE_KEY)
    rows: list[dict[str, Any]] = []
    for info in await app[DIRECTORY_KEY].nodes():
        if info.node_id == me.node_id:
            continue  # its own row: below, fresh
        rows.append(
            {
                "node_id": info.node_id,
                "url": info.url,
                "seen": info.seen,
                "streams": info.streams,
                "load": info.load,
                "self": False,
            }
        )
    rows.append(
        {
            "node_id": me.node_id,
            "url": me.public_url,
            "seen": time.time(),
            "streams": sorted(presence.live) if presence is not None else [],
            "load": local_load(app),
            "self": True,
        }
    )
    return sorted(rows, key=lambda r: str(r["node_id"]))


@require(Permission.NODES_READ, api=True)
async def list_nodes(request: web.Request) -> web.StreamResponse:
    """{nodes: [{node_id, url, seen, streams, load, self}], alarm, clustered}."""
    app = request.app
    body = {
        "nodes": await cluster_nodes(app),
        "alarm": cluster_alarm(app),
        "clustered": not isinstance(app[DIRECTORY_KEY], LocalDirectory),
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


async def remote_streams(app: web.Application) -> list[StreamEntry]:
    """Streams other nodes hold (never one published here: a stream relayed here is
    listed once, as its holder's)."""
    me = app[NODE_KEY].node_id
    presence = app.get(PRESENCE_KEY)
    held = set(presence.live) if presence is not None else set()
    return [
        e for e in await app[DIRECTORY_KEY].streams() if e.node_id != me and e.stream_id not in held
    ]


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/nodes", list_nodes)
