"""GET /ws/events on a real node: a real aiortc publisher starts and stops, logged-in
sockets hear stream.up / station.presence / stream.down as their role allows, and the
node closes every socket cleanly at shutdown."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSCloseCode, WSMsgType
from aiohttp.test_utils import TestServer

from camera_agents import WhipPublisher
from media_gateway import set_host_addresses
from signaling import STATIONS_KEY, TOKENS_KEY
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .conftest import Node
from .console import add_station, add_user, logged_in
from .peers import EncodedVideoTrack, encode_vp8
from .waiting import wait_for


async def _next(ws: aiohttp.ClientWebSocketResponse, topic: str, timeout: float = 10) -> Any:
    """The next message on `topic` (others are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        assert msg.type == WSMsgType.TEXT, msg
        message = msg.json()
        if message["topic"] == topic:
            return message


async def _topics_until(
    ws: aiohttp.ClientWebSocketResponse, topic: str, count: int, timeout: float = 10
) -> list[str]:
    """Every topic received, up to and including the `count`-th message on `topic`."""
    topics: list[str] = []
    deadline = time.monotonic() + timeout
    while topics.count(topic) < count:
        try:
            msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            raise AssertionError(f"{count} of {topic} awaited; received {topics}") from None
        assert msg.type == WSMsgType.TEXT, msg
        topics.append(msg.json()["topic"])
    return topics


async def test_the_socket_tells_streams_and_station_presence_as_a_publisher_comes_and_goes(
    node: Node,
) -> None:
    await add_user(node.app, "commander", "commander")
    await add_user(node.app, "auditor", "auditor")
    await add_station(node.app, "county-a-court", ["cam1"], "甲县", "人民法院 第一法庭")
    async with (
        logged_in(node.url, "commander") as commander,
        logged_in(node.url, "auditor") as auditor,
        commander.http.ws_connect(f"{node.url}/ws/events") as ws,
        auditor.http.ws_connect(f"{node.url}/ws/events") as audit_ws,
    ):
        hello = await _next(ws, "hello")
        assert hello["data"] == {"user": "commander", "role": "commander"}
        await _next(audit_ws, "hello")
        publisher = WhipPublisher(
            node.whip("cam1"), node.token("cam1"), [EncodedVideoTrack(encode_vp8(30, gop=15))]
        )
        await publisher.start()
        try:
            up = await _next(ws, "stream.up")
            assert up["data"]["stream"] == "cam1" and up["data"]["station"] == "county-a-court"
            assert up["data"]["station_name"] == "人民法院 第一法庭"
            online = await _next(ws, "station.presence")
            assert online["data"]["id"] == "county-a-court" and online["data"]["online"] is True
            assert online["data"]["last_seen"] is not None
            # Stored before told: the registry says so too.
            [station] = await asyncio.to_thread(node.app[STATIONS_KEY].all)
            assert station.online
        finally:
            await publisher.stop()
        down = await _next(ws, "stream.down")
        assert down["data"]["stream"] == "cam1"
        offline = await _next(ws, "station.presence")
        assert offline["data"]["online"] is False
        assert offline["data"]["last_seen"] >= online["data"]["last_seen"]
        # An auditor hears about stations, never about live streams (the bus keeps its
        # order: stream.down would have come before the station went offline).
        topics = await _topics_until(audit_ws, "station.presence", 2)
        assert not [t for t in topics if t.startswith("stream.")], topics


async def test_a_socket_needs_a_login_from_this_site(node: Node) -> None:
    await add_user(node.app, "observer", "observer")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as anonymous:
            await http.ws_connect(f"{node.url}/ws/events")
        assert anonymous.value.status == 401
    async with logged_in(node.url, "observer") as c:
        with pytest.raises(aiohttp.WSServerHandshakeError) as foreign:
            await c.http.ws_connect(
                f"{node.url}/ws/events", headers={"Origin": "http://evil.example"}
            )
        assert foreign.value.status == 403
        async with c.http.ws_connect(f"{node.url}/ws/events", origin=node.url) as ws:
            assert (await _next(ws, "hello"))["data"]["role"] == "observer"


async def test_sockets_are_closed_at_shutdown_and_leave_no_task_behind(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "var", ice_addresses="127.0.0.1")
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    baseline = {t for t in asyncio.all_tasks()}
    try:
        url = str(server.make_url("")).rstrip("/")
        await add_user(app, "commander", "commander")
        assert app[TOKENS_KEY] is not None
        async with logged_in(url, "commander") as c:
            sockets = [await c.http.ws_connect(f"{url}/ws/events") for _ in range(3)]
            for ws in sockets:
                await _next(ws, "hello")
            closing = asyncio.create_task(server.close())  # browsers answer the close
            for ws in sockets:
                msg = await ws.receive(timeout=5)
                assert msg.type == WSMsgType.CLOSE, msg
                assert msg.data == WSCloseCode.GOING_AWAY and msg.extra == "node shutting down"
            await asyncio.wait_for(closing, 10)
    finally:
        await server.close()
        set_host_addresses(None)

    def left() -> list[asyncio.Task[object]]:
        others = asyncio.all_tasks() - baseline - {asyncio.current_task()}
        return [t for t in others if not t.done()]

    await wait_for(left, lambda tasks: tasks == [], what="no task of the node left", timeout=5)


async def test_a_client_that_does_not_keep_up_loses_its_oldest_events(node: Node) -> None:
    from cluster import Event
    from signaling import BUS_KEY
    from signaling.events_ws import QUEUE_SIZE

    await add_user(node.app, "commander", "commander")
    bus = node.app[BUS_KEY]
    count, padding = 3000, "x" * 20000  # 60 MB: far more than the socket buffers hold
    async with (
        logged_in(node.url, "commander") as c,
        c.http.ws_connect(f"{node.url}/ws/events", max_msg_size=0) as ws,
    ):
        await _next(ws, "hello")
        for n in range(count):  # the client reads nothing meanwhile
            await bus.publish(Event("stream.up", {"n": n, "padding": padding}, "test"))
            await asyncio.sleep(0)  # the pump keeps up; the socket does not
        received = []
        while True:
            message = (await ws.receive(timeout=10)).json()
            received.append(message)
            if message["data"]["n"] == count - 1:
                break
    numbers = [m["data"]["n"] for m in received]
    assert numbers == sorted(numbers) and numbers[-1] == count - 1
    dropped = received[-1]["dropped"]
    assert dropped > 0 and len(received) + dropped == count
    assert numbers[-QUEUE_SIZE:] == list(range(count - QUEUE_SIZE, count))  # the newest kept


async def test_logging_out_closes_the_sessions_sockets(node: Node) -> None:
    await add_user(node.app, "commander", "commander")
    async with (
        logged_in(node.url, "commander") as c,
        logged_in(node.url, "commander") as other,  # another login of the same user
        c.http.ws_connect(f"{node.url}/ws/events") as ws,
        other.http.ws_connect(f"{node.url}/ws/events") as other_ws,
    ):
        await _next(ws, "hello")
        await _next(other_ws, "hello")
        assert (await c.post("/logout", data={"csrf": c.csrf}, csrf=False)).status == 303
        msg = await ws.receive(timeout=5)
        assert msg.type == WSMsgType.CLOSE and msg.data == 4401, msg
        assert not other_ws.closed  # the other login goes on
