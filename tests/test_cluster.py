"""Two real `vdispatch serve` nodes on one PostgreSQL and one Redis (tests/cluster_nodes.py):
the console and API on either node list both nodes' streams and the nodes with their
load; a direction sent on A reaches a prosecutor's event socket on B in under a second;
Redis stopped and started again: each node keeps serving what it holds, raises the
alarm, and the directory is complete again after; a node killed -9 leaves the directory
within the TTL and rejoins without duplicates."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import WSMsgType
from playwright.async_api import Page

from camera_agents import WhipPublisher
from media_gateway import set_host_addresses

from .catalogs import fresh_postgres_database, postgres_reachable
from .cluster_nodes import ENTRY_TTL_SECONDS, Cluster, start_cluster
from .conftest import require_or_skip
from .console import Console, logged_in
from .peers import EncodedVideoTrack, Viewer, encode_vp8
from .redis_service import RedisServer, redis_server_path, require_redis
from .test_browser import chromium, collect_errors, log_in, poll
from .waiting import wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

CAMERA = "court-a-wide"  # published at node A for the whole module


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    require_or_skip(
        postgres_reachable(),
        "PostgreSQL is not reachable at 127.0.0.1:5432 (the cluster tests need it)",
        "VDISPATCH_REQUIRE_SERVICES",
    )
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer | None]:
    """A redis-server of the module's own (the outage test stops and starts it), or None:
    the machine's shared Redis, where redis-server is not installed (that test skips)."""
    if redis_server_path() is None:
        yield None
        return
    server = RedisServer()
    server.start()
    yield server
    server.kill()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(
    tmp_path_factory: pytest.TempPathFactory, database: str, redis_server: RedisServer | None
) -> AsyncIterator[Cluster]:
    if redis_server is None:
        url = require_redis()
    else:
        url = redis_server.url
        await wait_for(redis_server.answering, what="redis-server answering", timeout=10)
    async with start_cluster(tmp_path_factory.mktemp("cluster"), database, url) as c:
        await c.add_station("court-a", [CAMERA], county="甲县")
        for name, role, county in [
            ("boss", "commander", None),
            ("pros-a", "prosecutor", "甲县"),
            ("audit", "auditor", None),
            ("root", "admin", None),
        ]:
            await c.add_user(name, role, county)
        yield c


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def published(cluster: Cluster) -> AsyncIterator[WhipPublisher]:
    """CAMERA published at node A."""
    set_host_addresses(["127.0.0.1"])
    a = cluster.nodes[0]
    publisher = WhipPublisher(
        f"{a.url}/whip/{CAMERA}",
        cluster.token([CAMERA], "station"),
        [EncodedVideoTrack(encode_vp8(300, gop=30))],
    )
    await publisher.start()
    yield publisher
    await publisher.stop()


async def _streams(c: Console) -> dict[str, Any]:
    return {s["id"]: s for s in (await c.json("/api/streams"))["streams"]}


async def test_the_api_on_b_lists_a_s_streams_and_both_nodes_with_their_load(
    cluster: Cluster, published: WhipPublisher
) -> None:
    a, b = cluster.nodes
    async with logged_in(b.url, "boss") as boss:
        streams = await wait_for(
            lambda: _streams(boss), lambda s: CAMERA in s, what="A's stream listed at B"
        )
        listed = streams[CAMERA]
        assert (listed["node"], listed["url"]) == ("node-a", a.url)
        assert listed["station_id"] == "court-a" and listed["county"] == "甲县"

        body = await wait_for(
            lambda: boss.json("/api/nodes"),
            lambda n: (
                [x["node_id"] for x in n["nodes"]] == ["node-a", "node-b"]
                and n["nodes"][0]["load"].get("streams") == 1
            ),
            what="both nodes with A's load",
        )
        node_a, node_b = body["nodes"]
        assert node_a["streams"] == [CAMERA] and node_b["streams"] == []
        assert node_b["self"] is True and body["alarm"] is False
        assert {"streams", "viewers", "relays", "cpu", "loop_lag_ms"} <= set(node_a["load"])
        print(f"\nnode loads: {json.dumps({n['node_id']: n['load'] for n in body['nodes']})}")

        # The console's live wall and nodes view on B show A's stream and both nodes.
        wall = await boss.get("/")
        assert wall.status == 200
        nodes_page = await boss.get("/nodes")
        assert nodes_page.status == 200 and "node-a" in nodes_page.text, nodes_page.status

    # Who may see the nodes: commanders and admins, not auditors.
    async with logged_in(b.url, "root") as admin:
        assert (await admin.get("/api/nodes")).status == 200
    async with logged_in(b.url, "audit") as auditor:
        answer = await auditor.get("/api/nodes")
        assert answer.status == 403 and answer.headers["Content-Type"].startswith("text/plain")


async def _next(ws: aiohttp.ClientWebSocketResponse, topic: str, timeout: float = 5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.05, deadline - time.monotonic()))
        assert msg.type == WSMsgType.TEXT, msg
        message = msg.json()
        if message["topic"] == topic:
            return message


async def test_a_direction_sent_on_a_reaches_the_prosecutor_on_b_within_a_second(
    cluster: Cluster,
) -> None:
    a, b = cluster.nodes
    async with logged_in(a.url, "boss") as boss, logged_in(b.url, "pros-a") as prosecutor:
        answer = await boss.post(
            "/api/sessions",
            json={
                "kind": "direction",
                "station": "court-a",
                "title": "张某案庭审",
                "case_no": "甲检刑诉〔2026〕1号",
                "participants": [{"user": "pros-a", "part": "prosecutor"}],
            },
        )
        assert answer.status == 201, answer.text
        base = f"/api/sessions/{json.loads(answer.text)['id']}"
        async with prosecutor.http.ws_connect(f"{b.url}/ws/events") as ws:
            assert (await boss.post(f"{base}/start", json={})).status == 200
            await _next(ws, "session.started")
            sent = time.monotonic()
            answer = await boss.post(f"{base}/directions", json={"text": "请就证据三发问"})
            assert answer.status == 201, answer.text
            got = await _next(ws, "direction.sent", timeout=2)
            latency = time.monotonic() - sent
            print(f"\ndirection A -> prosecutor on B: {latency * 1000:.0f} ms (POST included)")
            assert got["data"]["direction"]["text"] == "请就证据三发问"
            assert latency < 1.0


async def test_the_wall_on_b_plays_a_s_stream_through_the_relay(
    cluster: Cluster, published: WhipPublisher, chromium_path: str
) -> None:
    """What a commander in the hall sees: the wall served by node B shows the county's
    camera held by node A, decoding, its tile naming the node; A counts one viewer (B's
    upstream), however many tiles B serves."""
    a, b = cluster.nodes
    async with chromium(chromium_path) as browser:
        pages = []
        for _ in range(2):  # two consoles at B: one upstream from A
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            errors = collect_errors(page)
            await page.goto(f"{b.url}/")
            await log_in(page, b.url, "boss")
            assert page.url == f"{b.url}/"
            tile = page.locator(f'#wall section.tile[data-stream="{CAMERA}"]')
            await tile.wait_for(timeout=10000)
            frames = await poll(
                lambda p=page: _decoded(p), lambda n: n > 0, 20, f"frames at B {errors}"
            )
            await poll(lambda p=page: _decoded(p), lambda n, f=frames: n > f, 5, "frames rising")
            assert await tile.get_attribute("data-node") == "node-a"
            pages.append(page)
        async with logged_in(a.url, "boss") as boss:
            listed = await wait_for(
                lambda: _streams(boss), lambda s: CAMERA in s, what="A's stream at A"
            )
            assert listed[CAMERA]["viewers"] == 1, listed[CAMERA]
        for page in pages:
            await page.close()


async def _decoded(page: Page) -> int:
    tile = page.locator(f'#wall section.tile[data-stream="{CAMERA}"]')
    return int(await tile.get_attribute("data-frames-decoded") or 0)


async def test_redis_stopped_and_started_again_nodes_serve_what_they_hold_and_reconcile(
    cluster: Cluster,
    published: WhipPublisher,
    redis_server: RedisServer | None,
) -> None:
    require_or_skip(
        redis_server is not None,
        "redis-server is not installed: Redis cannot be stopped and started here",
        "VDISPATCH_REQUIRE_SERVICES",
    )
    assert redis_server is not None
    a, b = cluster.nodes
    async with logged_in(a.url, "boss") as at_a, logged_in(b.url, "boss") as at_b:
        await wait_for(lambda: _streams(at_b), lambda s: CAMERA in s, what="listed at B")
        redis_server.kill()
        # A still serves its stream: WHEP at the holder works, its pages answer.
        alarm = await wait_for(
            lambda: at_a.json("/api/nodes"), lambda n: n["alarm"], what="the alarm at A"
        )
        assert [n["node_id"] for n in alarm["nodes"]] == ["node-a"]  # itself, at least
        page = await at_a.get("/")
        assert page.status == 200
        assert '<p id="cluster-alarm" class="cluster-alarm" role="alert">' in page.text
        viewer = Viewer(f"{a.url}/whep/{CAMERA}", cluster.token([CAMERA], "viewer"))
        try:
            await viewer.start()
            await viewer.wait_frames(10)
        finally:
            await viewer.close()
        assert CAMERA in await _streams(at_a)
        assert (await at_b.get("/api/streams")).status == 200
        # Redis back (empty: no persistence): the directory is complete again.
        redis_server.start()
        started = time.monotonic()
        await wait_for(
            lambda: _streams(at_b),
            lambda s: CAMERA in s and s[CAMERA]["node"] == "node-a",
            what="A's stream listed at B again",
            timeout=15,
        )
        print(f"\ndirectory complete {time.monotonic() - started:.1f} s after Redis returned")
        await wait_for(
            lambda: at_a.json("/api/nodes"),
            lambda n: not n["alarm"] and len(n["nodes"]) == 2,
            what="the alarm off at A and both nodes listed",
            timeout=15,
        )
        page = await at_a.get("/")
        assert 'role="alert" hidden>' in page.text
    assert "Redis unreachable" in cluster.log(a)


async def test_a_node_killed_9_leaves_the_directory_and_rejoins_without_duplicates(
    cluster: Cluster,
) -> None:
    a, b = cluster.nodes
    stream = "court-b-wide"
    set_host_addresses(["127.0.0.1"])
    publisher = WhipPublisher(
        f"{b.url}/whip/{stream}",
        cluster.token([stream], "station"),
        [EncodedVideoTrack(encode_vp8(300, gop=30))],
    )
    async with logged_in(a.url, "boss") as at_a:
        try:
            await publisher.start()
            await wait_for(lambda: _streams(at_a), lambda s: stream in s, what="B's stream at A")
            cluster.kill9(b)
            killed = time.monotonic()
            await wait_for(
                lambda: _streams(at_a),
                lambda s: stream not in s,
                what="B's stream gone from the directory",
                timeout=10,
            )
            gone = time.monotonic() - killed
            print(f"\nkilled node's stream left the directory in {gone:.1f} s")
            assert gone <= ENTRY_TTL_SECONDS + 2
        finally:
            await publisher.stop()
        await cluster.start(b)
        body = await wait_for(
            lambda: at_a.json("/api/nodes"),
            lambda n: [x["node_id"] for x in n["nodes"]] == ["node-a", "node-b"],
            what="B back, once",
        )
        assert body["nodes"][1]["streams"] == []
        assert stream not in await _streams(at_a)
