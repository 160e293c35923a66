"""Cascade on a real cluster: two `vdispatch serve` nodes on one PostgreSQL and one
Redis (tests/cluster_nodes.py). Published at node A, watched at node B through the
Redis directory: frames byte-identical at both nodes, one upstream at A for all of B's
viewers; node A killed -9: once A's directory entry expired, B ends the relay and
closes its viewers, and answers a new viewer 404 at once (never a route to a dead
node, never a hang)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from camera_agents import WhipPublisher
from media_gateway import set_host_addresses

from .catalogs import fresh_postgres_database, postgres_reachable
from .cluster_nodes import ENTRY_TTL_SECONDS, Cluster, start_cluster
from .conftest import require_or_skip
from .console import Console, logged_in
from .peers import EncodedVideoTrack, Viewer, encode_vp8, whip_or_whep
from .redis_service import require_redis
from .waiting import wait_for

CAMERA = "court-c-wide"


@pytest.fixture
def database() -> Iterator[str]:
    require_or_skip(
        postgres_reachable(),
        "PostgreSQL is not reachable at 127.0.0.1:5432 (the cluster tests need it)",
        "VDISPATCH_REQUIRE_SERVICES",
    )
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
async def cluster(tmp_path: Path, database: str) -> AsyncIterator[Cluster]:
    set_host_addresses(["127.0.0.1"])
    try:
        async with start_cluster(tmp_path, database, require_redis()) as c:
            await c.add_user("boss", "commander")
            yield c
    finally:
        set_host_addresses(None)


async def _streams(c: Console) -> dict[str, Any]:
    return {s["id"]: s for s in (await c.json("/api/streams"))["streams"]}


def _contiguous_in(frames: list[bytes], sent: list[bytes]) -> bool:
    start = next((i for i, f in enumerate(sent) if f == frames[0]), None)
    return start is not None and frames == sent[start : start + len(frames)]


async def test_published_at_a_watched_at_b_through_one_upstream(cluster: Cluster) -> None:
    a, b = cluster.nodes
    track = EncodedVideoTrack(encode_vp8(90, gop=30))
    publisher = WhipPublisher(f"{a.url}/whip/{CAMERA}", cluster.token([CAMERA], "station"), [track])
    token = cluster.token([CAMERA], "viewer")
    at_a = Viewer(f"{a.url}/whep/{CAMERA}", token)
    at_b = [Viewer(f"{b.url}/whep/{CAMERA}", token) for _ in range(3)]
    await publisher.start()
    try:
        async with logged_in(a.url, "boss") as boss_a, logged_in(b.url, "boss") as boss_b:
            await wait_for(
                lambda: _streams(boss_b),
                lambda s: s.get(CAMERA, {}).get("node") == "node-a",
                what="A's stream in the directory, seen at B",
            )
            await at_a.start()
            await asyncio.gather(*(v.start() for v in at_b))
            for v in [at_a, *at_b]:
                await v.wait_frames(45, timeout=15)
                assert _contiguous_in(v.frames[:45], track.sent), "frames byte-identical"
            # A: its own viewer and B's one upstream, however many viewers B has.
            held = (await _streams(boss_a))[CAMERA]
            assert held["viewers"] == 2 and held["node"] == "node-a", held
            # B lists the stream once, as A's; its load counts the relay and its viewers.
            listed = await _streams(boss_b)
            assert listed[CAMERA]["node"] == "node-a", listed
            nodes = {n["node_id"]: n for n in (await boss_b.json("/api/nodes"))["nodes"]}
            assert nodes["node-b"]["load"]["relays"] == 1, nodes["node-b"]
            assert nodes["node-b"]["load"]["viewers"] == 3, nodes["node-b"]
            assert nodes["node-b"]["streams"] == []  # B does not claim A's stream

            # Node A dies: once its entry expired, B ends the relay (its viewers are
            # closed, not left on a dead upstream) and a new viewer gets 404 at once.
            cluster.kill9(a)
            killed = time.monotonic()
            await wait_for(
                lambda: [v.pc.connectionState for v in at_b],
                lambda states: all(s in ("closed", "failed") for s in states),
                what="B's relayed viewers closed after A died",
                timeout=ENTRY_TTL_SECONDS + 5,
            )
            status, body, took = await _whep_status(f"{b.url}/whep/{CAMERA}", token)
            assert status == 404, (status, body)
            assert took < 2
            print(f"\nrelay ended {time.monotonic() - killed:.1f} s after A was killed")
    finally:
        for v in [at_a, *at_b]:
            await v.close()
        await publisher.stop()


async def _whep_status(url: str, token: str) -> tuple[int, str, float]:
    viewer = Viewer(url, token)
    viewer.pc.addTransceiver("video", direction="recvonly")
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    started = time.monotonic()
    try:
        status, body, _ = await whip_or_whep(url, token, viewer.pc.localDescription.sdp)
    finally:
        await viewer.close()
    return status, body, time.monotonic() - started
