"""Cascade: a node serves viewers a stream another node holds, relayed over WHEP.

Two in-process nodes on loopback share a SECRET. Their directory is `HeldStreams`, the
Directory protocol's in-process implementation: it reads who holds what from the nodes'
own gateways (and can be given an entry of a node that is gone).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from camera_agents import WhipPublisher
from camera_agents.testsrc import PatternTrack, ToneTrack
from cluster import NodeInfo, StreamEntry
from media_gateway import set_host_addresses
from signaling import DIRECTORY_KEY, RECORDER_KEY
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .conftest import Node
from .peers import (
    EncodedVideoTrack,
    Viewer,
    encode_h264,
    encode_vp8,
    prefer_codecs,
    whip_or_whep,
)
from .waiting import wait_for

SECRET = "cascade-test-secret-0123456789abcdef"
LINGER = 1.0
RELAY_TIMEOUT = 2.0


class HeldStreams:
    """Who holds what: a stream published (not relayed) at one of `nodes`, or a fixed
    entry (a node that died without its entry leaving)."""

    def __init__(self) -> None:
        self.members: dict[str, Node] = {}
        self.fixed: dict[str, StreamEntry] = {}

    async def lookup(self, stream_id: str) -> StreamEntry | None:
        if stream_id in self.fixed:
            return self.fixed[stream_id]
        for node_id, node in self.members.items():
            pub = node.gateway.publication(stream_id)
            if pub is not None and pub.origin is None:
                return StreamEntry(stream_id, node_id, node.url, pub.since)
        return None

    async def streams(self) -> list[StreamEntry]:
        ids = sorted({s.stream_id for n in self.members.values() for s in n.gateway.streams()})
        found = [await self.lookup(i) for i in ids]
        return [e for e in found if e is not None]

    async def nodes(self) -> list[NodeInfo]:
        return [NodeInfo(node_id, n.url, time.time()) for node_id, n in self.members.items()]


@contextlib.asynccontextmanager
async def _node(
    tmp_path: Path, node_id: str, directory: HeldStreams, **overrides: Any
) -> AsyncIterator[Node]:
    settings = load_settings(
        data_dir=tmp_path / node_id,
        node_id=node_id,
        secret=SECRET,
        reconnect_grace=0.2,
        media={
            "ice_addresses": "127.0.0.1",
            "relay_linger": LINGER,
            "relay_timeout": RELAY_TIMEOUT,
        },
        **overrides,
    )
    app = build_app(settings, demo=True)
    app[DIRECTORY_KEY] = directory
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    node = Node(url=str(server.make_url("")).rstrip("/"), app=app)
    directory.members[node_id] = node
    try:
        yield node
    finally:
        directory.members.pop(node_id, None)
        await server.close()


@pytest.fixture
async def nodes(tmp_path: Path) -> AsyncIterator[tuple[Node, Node, HeldStreams]]:
    directory = HeldStreams()
    set_host_addresses(["127.0.0.1"])
    try:
        async with (
            _node(tmp_path, "node-a", directory) as a,
            _node(tmp_path, "node-b", directory) as b,
        ):
            yield a, b, directory
    finally:
        set_host_addresses(None)
        await asyncio.sleep(0)


def _viewers_at(node: Node, stream: str) -> int:
    return next((s.viewers for s in node.gateway.streams() if s.stream_id == stream), 0)


def _nal_units(access_unit: bytes) -> list[bytes]:
    """An Annex B access unit's NAL units, start codes (3 or 4 bytes) removed."""
    return [n.rstrip(b"\0") for n in access_unit.split(b"\0\0\1") if n.strip(b"\0")]


def _contiguous_in(frames: list[Any], sent: list[Any]) -> bool:
    """`frames` are sent frames, in order, none missing, none altered."""
    start = next((i for i, f in enumerate(sent) if f == frames[0]), None)
    return start is not None and frames == sent[start : start + len(frames)]


async def test_many_viewers_at_b_one_upstream_from_a_same_frames(
    nodes: tuple[Node, Node, HeldStreams],
) -> None:
    a, b, _ = nodes
    published = encode_vp8(90, gop=30)
    track = EncodedVideoTrack(published)
    publisher = WhipPublisher(a.whip("cam1"), a.token("cam1"), [track])
    await publisher.start()
    at_a = Viewer(a.whep("cam1"), a.token("cam1", "viewer"))
    at_b = [Viewer(b.whep("cam1"), b.token("cam1", "viewer")) for _ in range(3)]
    late: Viewer | None = None
    try:
        await at_a.start()
        # Concurrent requests while no upstream exists yet: they share the one opened.
        await asyncio.gather(*(v.start() for v in at_b))
        for v in [at_a, *at_b]:
            await v.wait_frames(45, timeout=15)
        sent = track.sent
        for v in [at_a, *at_b]:
            assert not v.frames[0][0] & 0x01, "a viewer starts on a keyframe"
            assert _contiguous_in(v.frames[:45], sent), "frames byte-identical to those sent"
        assert v.decoded > 0
        # A serves two viewers: its own and B's one upstream, however many B has.
        assert _viewers_at(a, "cam1") == 2
        (relayed,) = b.gateway.streams()
        assert (relayed.stream_id, relayed.origin, relayed.viewers) == ("cam1", "node-a", 3)
        assert a.gateway.streams()[0].origin is None
        # The holder records the stream; B, relaying it, does not.
        assert "cam1" in a.app[RECORDER_KEY].active
        assert "cam1" not in b.app[RECORDER_KEY].active
        # A relayed viewer is DELETEd as a local one is.
        async with aiohttp.ClientSession() as http:
            token = b.token("cam1", "viewer")
            assert at_b[0].resource is not None and at_b[0].resource.startswith(b.url)
            headers = {"Authorization": f"Bearer {token}"}
            async with http.delete(at_b[0].resource, headers=headers) as r:
                assert r.status == 200, await r.text()
        assert _viewers_at(b, "cam1") == 2
        # The last viewer at B leaves: the upstream lingers, then closes at both ends.
        for v in at_b:
            await v.close()
        left = time.monotonic()
        await wait_for(lambda: _viewers_at(a, "cam1"), lambda n: n == 1, what="upstream gone at A")
        assert time.monotonic() - left >= LINGER * 0.8, "the upstream lingered"
        await wait_for(b.gateway.streams, lambda s: s == [], what="relay gone at B")
        # A viewer coming back opens a new upstream; the publisher leaving A ends it.
        late = Viewer(b.whep("cam1"), b.token("cam1", "viewer"))
        await late.start()
        await late.wait_frames(5, timeout=10)
        await publisher.stop()
        await wait_for(
            lambda: late.pc.connectionState if late else "",
            lambda s: s in ("closed", "failed"),
            what="B's viewer closed when the publisher left A",
            timeout=5,
        )
        await wait_for(b.gateway.streams, lambda s: s == [], what="relay gone at B")
    finally:
        for v in [at_a, *at_b, *([late] if late else [])]:
            await v.close()
        await publisher.stop()


async def test_a_viewer_joining_at_b_gets_a_keyframe_through_the_upstream(
    nodes: tuple[Node, Node, HeldStreams],
) -> None:
    # aiortc's live encoder makes a keyframe only when asked: a second viewer at B sees
    # video at once only if its PLI goes up B's upstream to A and on to the publisher.
    a, b, _ = nodes
    track = PatternTrack("cam3", width=320, height=180)
    publisher = WhipPublisher(a.whip("cam3"), a.token("cam3"), [track])
    await publisher.start()
    first = Viewer(b.whep("cam3"), b.token("cam3", "viewer"))
    second = Viewer(b.whep("cam3"), b.token("cam3", "viewer"))
    try:
        await first.start()
        await first.wait_frames(10, timeout=10)
        relayed = b.gateway.publication("cam3")
        assert relayed is not None
        keyframes = relayed.producers["video"].keyframes
        await second.start()
        await second.wait_frames(1, timeout=2)
        assert relayed.producers["video"].keyframes > keyframes
        assert second.frame_times[0] - second.started_at < 1.5
        # A request naming itself a relaying node is served from what is live here and
        # never ends or re-routes B's relay (the header is a hint for logs, not trusted).
        probe = Viewer(b.whep("cam3"), b.token("cam3", "viewer"))
        probe.pc.addTransceiver("video", direction="recvonly")
        await probe.pc.setLocalDescription(await probe.pc.createOffer())
        headers = {
            "Content-Type": "application/sdp",
            "Authorization": f"Bearer {probe.token}",
            "X-Vdispatch-Relay-Node": "node-x",
        }
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.post(b.whep("cam3"), data=probe.pc.localDescription.sdp, headers=headers) as r,
            ):
                assert r.status == 201, await r.text()
        finally:
            await probe.close()
        assert b.gateway.publication("cam3") is relayed
    finally:
        await first.close()
        await second.close()
        await publisher.stop()


async def test_h264_and_opus_are_relayed_as_published(
    nodes: tuple[Node, Node, HeldStreams],
) -> None:
    a, b, _ = nodes
    track = EncodedVideoTrack(encode_h264(60, gop=30))
    publisher = WhipPublisher(a.whip("cam5"), a.token("cam5"), [ToneTrack()])
    prefer_codecs(publisher.pc.addTransceiver(track, direction="sendonly"), ["video/H264"])
    viewer = Viewer(
        b.whep("cam5"), b.token("cam5", "viewer"), audio=True, video_codecs=["video/H264"]
    )
    await publisher.start()
    try:
        await viewer.start()
        await viewer.wait_frames(30, timeout=15)
        # the same NAL units as sent (start codes may differ in length: Annex B)
        received = [_nal_units(f) for f in viewer.frames[:30]]
        assert _contiguous_in(received, [_nal_units(f) for f in track.sent])
        await wait_for(lambda: viewer.audio_frames, lambda n: n >= 25, what="Opus frames at B")
        (relayed,) = b.gateway.streams()
        assert (relayed.video_codec, relayed.audio_codec) == ("H264", "OPUS")
    finally:
        await viewer.close()
        await publisher.stop()


async def test_a_publisher_at_b_takes_over_a_stream_b_relays(
    nodes: tuple[Node, Node, HeldStreams],
) -> None:
    # A station failing over to B publishes there while B still relays its old stream
    # from A (A's media may be dying): B's own publisher wins, the relay gives way.
    a, b, _ = nodes
    at_a = WhipPublisher(a.whip("cam4"), a.token("cam4"), [EncodedVideoTrack(encode_vp8(30))])
    at_b = WhipPublisher(b.whip("cam4"), b.token("cam4"), [EncodedVideoTrack(encode_vp8(30))])
    relayed = Viewer(b.whep("cam4"), b.token("cam4", "viewer"))
    local = Viewer(b.whep("cam4"), b.token("cam4", "viewer"))
    await at_a.start()
    try:
        await relayed.start()
        await relayed.wait_frames(5, timeout=10)
        await at_b.start()
        pub = b.gateway.publication("cam4")
        assert pub is not None and pub.origin is None
        await wait_for(
            lambda: relayed.pc.connectionState,
            lambda s: s in ("closed", "failed"),
            what="the relayed viewer closed",
            timeout=5,
        )
        await wait_for(lambda: _viewers_at(a, "cam4"), lambda n: n == 0, what="upstream gone")
        await local.start()
        await local.wait_frames(5, timeout=10)
    finally:
        for v in (relayed, local):
            await v.close()
        await at_b.stop()
        await at_a.stop()


async def _post_whep(url: str, token: str) -> tuple[int, str, float]:
    viewer = Viewer(url, token)
    viewer.pc.addTransceiver("video", direction="recvonly")
    await viewer.pc.setLocalDescription(await viewer.pc.createOffer())
    started = time.monotonic()
    try:
        status, body, _ = await whip_or_whep(url, token, viewer.pc.localDescription.sdp)
    finally:
        await viewer.close()
    return status, body, time.monotonic() - started


async def test_dead_refusing_or_silent_holder_is_a_clean_error(
    nodes: tuple[Node, Node, HeldStreams],
) -> None:
    a, b, directory = nodes
    # Dead: nothing listens at its address any more.
    with socket_closed() as dead_url:
        directory.fixed["ghost"] = StreamEntry("ghost", "node-dead", dead_url, time.time())
        status, body, took = await _post_whep(b.whep("ghost"), b.token("ghost", "viewer"))
    assert status == 502 and "node-dead" in body and "unreachable" in body, body
    assert took < RELAY_TIMEOUT + 1
    # Refusing: the entry is stale, A does not hold the stream (A answers 404).
    directory.fixed["stale"] = StreamEntry("stale", "node-a", a.url, time.time())
    status, body, took = await _post_whep(b.whep("stale"), b.token("stale", "viewer"))
    assert status == 502 and "node-a refused" in body and "404" in body, body
    # Silent: accepts the connection, never answers.
    server = await asyncio.start_server(_hold_open, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        directory.fixed["mute"] = StreamEntry("mute", "node-mute", f"http://127.0.0.1:{port}", 0)
        status, body, took = await _post_whep(b.whep("mute"), b.token("mute", "viewer"))
    finally:
        server.close()
    assert status == 504 and "node-mute" in body, body
    assert took < RELAY_TIMEOUT + 1.5
    assert b.gateway.streams() == []
    # A stream nobody holds is still a plain 404.
    status, body, _ = await _post_whep(b.whep("nobody"), b.token("nobody", "viewer"))
    assert status == 404, body


async def _hold_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        await reader.read()  # until the client gives up
    writer.close()


@contextlib.contextmanager
def socket_closed() -> Any:
    """The URL of a port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


async def test_redirect_mode_answers_307_to_the_holder(tmp_path: Path) -> None:
    directory = HeldStreams()
    set_host_addresses(["127.0.0.1"])
    try:
        async with (
            _node(tmp_path, "node-a", directory) as a,
            _node(tmp_path, "node-b", directory, cluster={"relay": "redirect"}) as b,
        ):
            publisher = WhipPublisher(
                a.whip("cam2"), a.token("cam2"), [EncodedVideoTrack(encode_vp8(30, gop=30))]
            )
            await publisher.start()
            try:
                token = b.token("cam2", "viewer")
                headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}
                async with aiohttp.ClientSession() as http:
                    for query in ("", "?wall=hall-1"):
                        async with http.post(
                            b.whep("cam2") + query,
                            data="v=0\r\n",
                            headers=headers,
                            allow_redirects=False,
                        ) as r:
                            assert r.status == 307, await r.text()
                            # the query string goes along (tokens may come that way)
                            assert r.headers["Location"] == a.whep("cam2") + query
                assert b.gateway.streams() == []  # nothing relayed
            finally:
                await publisher.stop()
    finally:
        set_host_addresses(None)
