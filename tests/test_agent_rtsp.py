"""A station's IP camera (a real RTSP server: gst-rtsp-server) published by the agent to a
real node: H.264 passed through byte for byte, AAC to Opus, recorded; the camera reboots
and the agent publishes again within 3 s, the gap in the recording's continuity log; a
wrong password or an unreachable camera is a clear error in the status, retried."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from camera_agents import Station, StationConfig, bound_port, serve_status
from media_gateway import set_host_addresses
from vdispatch.node import build_app
from vdispatch.settings import load_settings

from .conftest import Node
from .peers import Viewer
from .recordings import wait_for_manifest
from .rtsp_camera import RtspCamera, access_units, require_rtsp_server, sha
from .test_recorder import ffprobe
from .waiting import wait_for

STATION = "county-a"


@pytest.fixture
async def rec_node(tmp_path: Path) -> AsyncIterator[Node]:
    """A node recording in 2 s segments that keeps a recording 20 s for its publisher."""
    settings = load_settings(
        data_dir=tmp_path / "var", ice_addresses="127.0.0.1", segment_seconds=2, reconnect_grace=20
    )
    app = build_app(settings)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    set_host_addresses(["127.0.0.1"])
    try:
        yield Node(url=str(server.make_url("")).rstrip("/"), app=app)
    finally:
        await server.close()
        set_host_addresses(None)


@pytest.fixture
async def camera() -> AsyncIterator[RtspCamera]:
    require_rtsp_server()
    cam = RtspCamera()
    await cam.start()
    try:
        yield cam
    finally:
        await cam.stop()


def station_config(tmp_path: Path, node: Node, cameras: list[dict[str, object]]) -> StationConfig:
    streams = [f"{STATION}-{c['id']}" for c in cameras]
    token_file = tmp_path / "station.token"
    token_file.write_text(node.tokens.mint(streams, "station", 600))  # type: ignore[arg-type]
    return StationConfig.model_validate(
        {
            "station": STATION,
            "gateways": [node.url],
            "token_file": token_file,
            "status_port": 0,
            "cameras": cameras,
        }
    )


async def _status(port: int) -> dict[str, dict[str, object]]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/status.json") as resp,
    ):
        assert resp.status == 200
        body = await resp.json()
    return {c["id"]: c for c in body["cameras"]}


async def test_an_rtsp_camera_is_passed_through_byte_for_byte_and_recorded(
    rec_node: Node, camera: RtspCamera, tmp_path: Path
) -> None:
    config = station_config(
        tmp_path, rec_node, [{"id": "judge", "role": "judge", "source": camera.url}]
    )
    station = Station(config, config.token_file.read_text())
    reference: list[bytes] = []
    stop = threading.Event()
    # What the camera sends, as another RTSP client receives it (the media is shared).
    client = asyncio.create_task(asyncio.to_thread(access_units, camera.url, stop, reference))
    viewer = Viewer(rec_node.whep(f"{STATION}-judge"), rec_node.token(f"{STATION}-judge", "viewer"))
    await station.start()
    try:
        agent = station.cameras[0].agent
        await asyncio.wait_for(agent.connected.wait(), 15)
        await wait_for(lambda: reference, what="the reference client receives")
        await viewer.start()
        await viewer.wait_frames(90, timeout=15)
        stop.set()
        await client
        received = [sha(f) for f in viewer.frames]
        sent = {sha(f) for f in reference}
        assert len(received) >= 90 and len(set(received)) > 60  # a moving picture
        # every access unit the viewer got is one the camera sent, unchanged
        assert [h for h in received if h not in sent] == []
        keyframes = [f for f in viewer.frames if b"\x00\x00\x00\x01\x65" in f]
        assert keyframes and all(b"\x00\x00\x00\x01\x67" in f for f in keyframes)
        assert viewer.decoded > 30
        status = station.status()["cameras"][0]
        assert status["state"] == "live" and status["publishing"]
        assert status["bitrate"] > 0 and status["frames"] >= 90
    finally:
        stop.set()
        await viewer.close()
        await station.stop()
        await asyncio.gather(client, return_exceptions=True)
    recordings = tmp_path / "var" / "recordings"
    rec, manifest = await wait_for_manifest(
        recordings, lambda m: len(m.segments) >= 1, "a closed segment", timeout=20
    )
    probe = ffprobe(rec / manifest.segments[0].file)
    kinds = {s["codec_type"]: s for s in probe["streams"]}
    assert kinds["video"]["codec_name"] == "h264"
    assert (kinds["video"]["width"], kinds["video"]["height"]) == (320, 240)
    assert kinds["audio"]["codec_name"] == "opus"  # the camera's AAC, as Opus


async def test_the_agent_publishes_again_within_3_s_of_a_camera_reboot(
    rec_node: Node, camera: RtspCamera, tmp_path: Path
) -> None:
    config = station_config(
        tmp_path,
        rec_node,
        [{"id": "room", "role": "room", "source": camera.url + "?transport=udp"}],
    )
    station = Station(config, config.token_file.read_text())
    await station.start()
    recordings = tmp_path / "var" / "recordings"
    try:
        cam = station.cameras[0]
        await asyncio.wait_for(cam.agent.connected.wait(), 15)
        await wait_for_manifest(recordings, lambda m: len(m.segments) >= 1, "a first segment")
        await camera.stop()  # the camera reboots
        await wait_for(lambda: not cam.agent.connected.is_set(), what="the publication ended")
        assert cam.source.status.state in ("connecting", "retrying")
        await wait_for(lambda: cam.source.status.last_error, what="the camera's loss in the status")
        down = cam.agent.sessions
        await camera.start()
        back = time.monotonic()
        await wait_for(lambda: cam.agent.sessions > down, what="published again", timeout=10)
        took = time.monotonic() - back
        assert took < 3.0, f"published again {took:.2f} s after the camera's return"
        assert cam.source.status.reconnects >= 1
        _, manifest = await wait_for_manifest(
            recordings,
            lambda m: any(c.kind == "publisher-disconnect" and c.end for c in m.continuity),
            "the camera's gap in the continuity log",
            timeout=20,
        )
        gap = next(c for c in manifest.continuity if c.kind == "publisher-disconnect")
        assert gap.end is not None and gap.reason == "publisher disconnected"
        # nothing else went missing (the wait for a first keyframe aside)
        assert {c.kind for c in manifest.continuity} <= {"publisher-disconnect", "keyframe-wait"}
    finally:
        await station.stop()


async def test_a_wrong_password_or_an_unreachable_camera_is_a_clear_error_retried(
    rec_node: Node, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require_rtsp_server()
    locked = RtspCamera("--user", "clerk", "--password", "right")
    await locked.start()
    nowhere = RtspCamera()  # never started: nothing listens on its port
    wrong = locked.url.replace("rtsp://", "rtsp://clerk:Xq7-guess@")
    config = station_config(
        tmp_path,
        rec_node,
        [
            {"id": "judge", "role": "judge", "source": wrong},
            {"id": "panorama", "role": "panorama", "source": nowhere.url},
            {
                "id": "evidence",
                "role": "evidence",
                "source": locked.url,
                "username": "clerk",
                "password": "right",
            },
        ],
    )
    station = Station(config, config.token_file.read_text())
    runner = await serve_status(station.status, 0)
    await station.start()
    try:
        port = bound_port(runner)

        def errors(status: dict[str, dict[str, object]]) -> bool:
            return bool(status["judge"]["last_error"] and status["panorama"]["last_error"])

        status = await wait_for(lambda: _status(port), errors, what="both errors in the status")
        assert "wrong user or password" in str(status["judge"]["last_error"])
        assert "unreachable" in str(status["panorama"]["last_error"])
        for cam in ("judge", "panorama"):
            assert status[cam]["state"] in ("retrying", "connecting")
            assert not status[cam]["publishing"]
        # the password is never shown
        shown = str(status["judge"]["source"]) + str(status["judge"]["last_error"])
        assert "Xq7-guess" not in shown
        assert str(status["judge"]["source"]).startswith("rtsp://clerk:***@")
        assert "camera=judge" in caplog.text and "Xq7-guess" not in caplog.text
        assert "right" not in str(status["evidence"]["source"])
        # the right password, from the config: published while the others retry
        await wait_for(
            lambda: _status(port), lambda s: s["evidence"]["publishing"], what="evidence live"
        )
        # retried with back-off: the unreachable one several times
        panorama = station.cameras[1].source.status
        first = panorama.last_error_at
        await wait_for(
            lambda: panorama.last_error_at != first, what="a retry of the unreachable camera"
        )
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/") as resp,
        ):
            assert resp.status == 200 and "status.json" in await resp.text()
    finally:
        await station.stop()
        await runner.cleanup()
        await locked.stop()
