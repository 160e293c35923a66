"""Lifecycles close in cascade and leave nothing behind; a stalled viewer harms nobody."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestServer

from camera_agents import WhipPublisher
from media_gateway import Publication, RouterListener, set_host_addresses
from recorder import Manifest, Recorder
from signaling import ARCHIVE_KEY, GATEWAY_KEY, RECORDER_KEY, TOKENS_KEY
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .conftest import Node
from .peers import EncodedVideoTrack, Viewer, encode_vp8
from .waiting import wait_for

FRAMES = encode_vp8(60, gop=15)


def _open_fds() -> int:
    """Open descriptors, but the catalog database's: its connection pool is bounded and
    may grow by one when two threads (catalog bridge, presence) overlap for the first
    time; checked-out connections are counted separately."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += "catalog.sqlite3" not in target
    return count


def _still_open(node: Node) -> list[str]:
    """What of the node's is still open or in use: streams, routers, recordings (which
    close after the node's reconnect grace, 0.2 s in tests), catalog connections."""
    recorder = node.app[RECORDER_KEY]
    busy = [f"stream {s.stream_id}" for s in node.gateway.streams()]
    busy += [f"router {name}" for name in node.gateway._routers]
    busy += [f"recording of {name}" for name in recorder.active]
    busy += [f"grace of {name}" for name in recorder.awaiting_reconnect]
    busy += [f"{recorder.closing} recordings closing"] if recorder.closing else []
    # the catalog bridge and presence store in threads, a moment after the event
    in_use = node.app[ARCHIVE_KEY].catalog.engine.pool.checkedout()  # type: ignore[attr-defined]
    busy += [f"{in_use} catalog connections in use"] if in_use else []
    return busy


async def _settle(node: Node) -> None:
    await wait_for(lambda: _still_open(node), lambda busy: not busy, what="everything closed")


def _counts() -> tuple[int, int, int]:
    # The default executor's workers (named asyncio_N) are pooled, not leaked: a burst of
    # concurrent to_thread calls may add one that then idles for good. Every other thread
    # counts.
    others = [t for t in threading.enumerate() if not t.name.startswith("asyncio_")]
    return len(asyncio.all_tasks()), len(others), _open_fds()


async def _cycle(node: Node, stream: str) -> None:
    publisher = WhipPublisher(node.whip(stream), node.token(stream), [EncodedVideoTrack(FRAMES)])
    await publisher.start()
    viewer = Viewer(node.whep(stream), node.token(stream, "viewer"))
    await viewer.start()
    await viewer.wait_frames(3)
    await viewer.close()
    await publisher.stop()


async def test_twenty_connect_disconnect_cycles_leak_no_task_thread_or_socket(node: Node) -> None:
    await _cycle(node, "warmup")  # the default executor's threads are made once
    await _settle(node)
    baseline = _counts()
    for i in range(20):
        await _cycle(node, f"cycle{i}")
    await _settle(node)
    # (tasks, threads, open descriptors) back down to what they were after the warm-up
    await wait_for(
        _counts,
        lambda now: all(n <= b for n, b in zip(now, baseline, strict=True)),
        what=f"(tasks, threads, descriptors) back to {baseline}",
        timeout=5,
    )


async def test_deleting_the_publisher_ends_its_viewers(node: Node) -> None:
    publisher = WhipPublisher(node.whip("cam"), node.token("cam"), [EncodedVideoTrack(FRAMES)])
    await publisher.start()
    viewer = Viewer(node.whep("cam"), node.token("cam", "viewer"))
    await viewer.start()
    await viewer.wait_frames(3)
    await publisher.stop()
    await wait_for(
        lambda: dict(node.gateway._routers), lambda r: r == {}, what="no router left", timeout=5
    )
    await viewer.close()


async def test_a_viewer_that_stops_reading_does_not_cost_the_others_a_frame(node: Node) -> None:
    frames = encode_vp8(300, gop=60)
    track = EncodedVideoTrack(frames)
    publisher = WhipPublisher(node.whip("cam"), node.token("cam"), [track])
    await publisher.start()
    stalled = Viewer(node.whep("cam"), node.token("cam", "viewer"))
    healthy = [Viewer(node.whep("cam"), node.token("cam", "viewer")) for _ in range(2)]
    try:
        for v in [stalled, *healthy]:
            await v.start()
        for v in [stalled, *healthy]:
            await v.wait_frames(5)
        # The stalled viewer's socket is never read again: the kernel drops what arrives.
        loop = asyncio.get_running_loop()
        conn = stalled.pc.getTransceivers()[0].receiver.transport.transport._connection
        for proto in conn._protocols:
            loop._remove_reader(proto.transport.get_extra_info("socket").fileno())  # type: ignore[attr-defined]
        before = [len(v.frames) for v in healthy]
        await wait_for(
            lambda: [len(v.frames) - n for v, n in zip(healthy, before, strict=True)],
            lambda got: min(got) >= 100,
            what="100 more frames for each healthy viewer (30 a second are sent)",
            timeout=4,
        )
        for v, n in zip(healthy, before, strict=True):
            got = v.frames[n:]
            start = next(i for i, f in enumerate(track.sent) if f == got[0])
            assert got == track.sent[start : start + len(got)], "a healthy viewer lost frames"
    finally:
        for v in [stalled, *healthy]:
            await v.close()
        await publisher.stop()


async def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


class _Spy(RouterListener):
    """Notes each stream event and the grace periods running when it arrived."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.events: list[tuple[str, str, frozenset[str]]] = []

    def on_unpublished(self, publication: Publication) -> None:
        self.events.append(("unpublished", publication.stream_id, self.recorder.awaiting_reconnect))

    def on_gateway_closed(self, publication: Publication) -> None:
        self.events.append(
            ("gateway closed", publication.stream_id, self.recorder.awaiting_reconnect)
        )


async def test_node_shutdown_closes_recordings_as_node_stopped_with_no_grace_timer(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        data_dir=tmp_path / "var", ice_addresses="127.0.0.1", segment_seconds=1, reconnect_grace=30
    )
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    url = str(server.make_url("")).rstrip("/")
    token = app[TOKENS_KEY].mint(["cam"], "station", 600)
    publisher = WhipPublisher(f"{url}/whip/cam", token, [EncodedVideoTrack(FRAMES)])
    gateway, recorder = app[GATEWAY_KEY], app[RECORDER_KEY]
    spy = _Spy(recorder)
    gateway.add_listener(spy)
    try:
        await publisher.start()
        await _until(
            lambda: "cam" in recorder.active and bool(recorder.active["cam"].manifest.segments),
            10,
            "a first closed segment",
        )
        (directory,) = (tmp_path / "var" / "recordings").iterdir()
        await server.close()  # the node's cleanup: the gateway closes, then the recorder
    finally:
        await publisher.stop()
        await server.close()
        set_host_addresses(None)

    # The router closed its publisher without calling back: the stream went down as
    # "gateway closed", never "unpublished", and no grace period started.
    assert spy.events == [("gateway closed", "cam", frozenset())]
    assert recorder.awaiting_reconnect == frozenset() and recorder.active == {}
    manifest = Manifest.from_json((directory / "manifest.json").read_bytes())
    assert manifest.state == "closed"
    assert manifest.end_reason == "node stopped"
    assert manifest.segments and manifest.open_segments == []
    assert [c.kind for c in manifest.continuity if c.kind == "publisher-disconnect"] == []
    # Closing again changes nothing.
    await gateway.close()
    await recorder.close()
    assert Manifest.from_json((directory / "manifest.json").read_bytes()) == manifest
