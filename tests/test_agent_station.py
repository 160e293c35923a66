"""A station's agent: `file:` cameras loop in real time with H.264 passed through (AVCC to
Annex B, SPS/PPS in front of each keyframe), garbage is skipped, a 2-camera TOML config
publishes two streams through `vdispatch agent --config`, and a bad config names its field."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import sys
import time
from pathlib import Path

import aiohttp
import av
import pytest

from bitstream import (
    avcc_parameter_sets,
    length_prefixed_to_annexb,
    nal_types,
    with_parameter_sets,
)
from camera_agents import (
    CameraSource,
    FileSource,
    RtspSource,
    V4l2Source,
    WhipPublisher,
    load_station_config,
    redact,
)
from camera_agents.source import Media
from camera_agents.station_config import STREAM_ID_RE, StationConfigError
from signaling.tokens import STREAM_ID_RE as GATEWAY_STREAM_ID_RE

from .conftest import Node
from .peers import Viewer
from .rtsp_camera import free_port, write_h264_file
from .waiting import wait_for

ROOT = Path(__file__).parent.parent


async def _take(source: FileSource, count: int, timeout: float = 15.0) -> list[av.Packet]:
    sub = source.subscribe("video")
    try:
        return [await asyncio.wait_for(sub.get(), timeout) for _ in range(count)]  # type: ignore[misc]
    finally:
        source.unsubscribe(sub)


async def test_a_file_camera_loops_in_real_time_with_parameter_sets_before_keyframes(
    tmp_path: Path,
) -> None:
    clip = tmp_path / "clip.mp4"
    frames = await asyncio.to_thread(write_h264_file, clip, 1.0, 30, 15)
    source = FileSource("rehearsal", clip)
    await source.start()
    try:
        begun = time.monotonic()
        packets = await _take(source, int(frames * 2.5))
        took = time.monotonic() - begun
        assert source.live.is_set() and source.status.reconnects == 0  # live across passes
    finally:
        await source.stop()
    pts = [int(p.pts) for p in packets]
    assert all(b > a for a, b in itertools.pairwise(pts)), "timestamps keep rising"
    span = (pts[-1] - pts[0]) / 90000
    assert span == pytest.approx((len(pts) - 1) / 30, abs=0.1)  # 30 fps across the loops
    assert took >= span - 0.2  # paced in real time, not as fast as the file reads
    keyframes = [bytes(p) for p in packets if 5 in nal_types(bytes(p))]
    assert len(keyframes) >= 4  # two per pass
    assert all(nal_types(k)[:2] == [7, 8] for k in keyframes)  # SPS, PPS, then the IDR
    assert all(bytes(p).startswith(b"\x00\x00\x00\x01") for p in packets)  # Annex B
    assert source.status.audio_frames > 0  # the file's AAC, decoded for Opus
    assert source.status.skipped == 0 and source.status.state == "stopped"


async def test_a_file_cameras_audio_clock_goes_on_across_passes(tmp_path: Path) -> None:
    """Opus timestamps follow the video's timeline from pass to pass: they used to start
    at 0 again each pass, so the RTP clock stepped back a whole pass and the node put the
    audio a pass in the past until the publisher's next sender report."""
    clip = tmp_path / "clip.mp4"
    await asyncio.to_thread(write_h264_file, clip, 1.0, 30, 15)
    source = FileSource("rehearsal", clip)
    await source.start()
    sub = source.subscribe("audio")
    try:
        packets = [await asyncio.wait_for(sub.get(), 15) for _ in range(125)]  # 2.5 passes
    finally:
        source.unsubscribe(sub)
        await source.stop()
    seconds = [float(p.pts * p.time_base) for p in packets]  # type: ignore[operator]
    steps = [b - a for a, b in itertools.pairwise(seconds)]
    assert min(steps) > -0.05  # at most the AAC's priming back at a pass's start
    assert seconds[-1] - seconds[0] == pytest.approx(len(seconds) * 0.02, abs=0.15)


async def test_garbage_from_a_camera_is_skipped_and_counted(tmp_path: Path) -> None:
    clip, broken = tmp_path / "clip.mkv", tmp_path / "broken.mkv"
    await asyncio.to_thread(write_h264_file, clip, 1.0, 30, 15)

    def corrupt() -> None:
        rng = random.Random(7)
        with av.open(str(clip)) as src, av.open(str(broken), "w") as out:
            s = out.add_stream_from_template(src.streams.video[0])
            for i, packet in enumerate(src.demux(src.streams.video[0])):
                if packet.size == 0:
                    continue
                if i % 7 == 3:  # a damaged frame: random bytes where its NAL units were
                    bad = av.Packet(rng.randbytes(packet.size))
                    bad.pts, bad.dts, bad.time_base = packet.pts, packet.dts, packet.time_base
                    packet = bad
                packet.stream = s
                out.mux(packet)

    await asyncio.to_thread(corrupt)
    source = FileSource("broken", broken, audio=False)
    await source.start()
    try:
        packets = await _take(source, 40)
        await wait_for(lambda: source.status.skipped, lambda n: n >= 4, what="skipped frames")
        assert source.status.state == "live"
    finally:
        await source.stop()
    assert len(packets) == 40


async def test_a_file_that_is_no_video_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    source = FileSource("junk", junk)
    await source.start()
    try:
        await wait_for(lambda: source.status.last_error, what="an error in the status")
        assert "cannot open" in str(source.status.last_error)
        assert source.status.state in ("retrying", "connecting")
    finally:
        await source.stop()


def test_avcc_samples_become_annex_b_with_parameter_sets() -> None:
    sps, pps = b"\x67\x42\xc0\x1e\xaa", b"\x68\xce\x3c\x80"
    avcc = b"\x01\x42\xc0\x1e\xff\xe1" + len(sps).to_bytes(2, "big") + sps
    avcc += b"\x01" + len(pps).to_bytes(2, "big") + pps
    size, sets = avcc_parameter_sets(avcc)
    assert size == 4 and sets == b"\x00\x00\x00\x01" + sps + b"\x00\x00\x00\x01" + pps
    idr = b"\x65\x88\x84\x00\x33"
    sample = len(idr).to_bytes(4, "big") + idr
    annexb = length_prefixed_to_annexb(sample, size)
    assert annexb == b"\x00\x00\x00\x01" + idr
    assert nal_types(with_parameter_sets(annexb, sets)) == [7, 8, 5]
    p_frame = b"\x00\x00\x00\x01\x41\x9a\x00"
    assert with_parameter_sets(p_frame, sets) == p_frame
    with pytest.raises(ValueError):
        length_prefixed_to_annexb(b"\x00\x00\x00\x09\x65", 4)


def _write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(body)
    return path


def test_a_bad_station_config_names_the_field(tmp_path: Path) -> None:
    head = 'station = "county-a"\ngateways = ["http://city:8080"]\ntoken_file = "t"\n'
    cases = {
        '[[cameras]]\nid = "judge"\nrole = "clerk"\nsource = "testsrc"\n': "cameras.0.role",
        '[[cameras]]\nid = "Judge"\nrole = "judge"\nsource = "testsrc"\n': "cameras.0.id",
        '[[cameras]]\nid = "j"\nrole = "judge"\nsource = "http://x"\n': "cameras.0.source",
        '[[cameras]]\nid = "j"\nrole = "judge"\nsource = "testsrc"\nfps = 0\n': "cameras.0.fps",
        '[[cameras]]\nid = "j"\nrole = "judge"\nsource = "testsrc"\n'
        '[[cameras]]\nid = "j"\nrole = "room"\nsource = "testsrc"\n': "used twice",
    }
    for cameras, field in cases.items():
        with pytest.raises(StationConfigError, match=field.replace(".", r"\.")):
            load_station_config(_write_config(tmp_path, head + cameras))
    with pytest.raises(StationConfigError, match="cameras"):
        load_station_config(_write_config(tmp_path, head))
    with pytest.raises(StationConfigError, match="not TOML"):
        load_station_config(_write_config(tmp_path, "station = \n"))
    # the agent's stream-id rule is the gateway's
    assert STREAM_ID_RE.pattern == GATEWAY_STREAM_ID_RE.pattern


async def test_a_two_camera_station_publishes_two_streams(node: Node, tmp_path: Path) -> None:
    clip = tmp_path / "court.mp4"
    await asyncio.to_thread(write_h264_file, clip, 2.0, 30, 30)
    streams = ["county-b-panorama", "county-b-judge"]
    token_file = tmp_path / "station.token"
    token_file.write_text(node.tokens.mint(streams, "station", 600) + "\n")
    status_port = free_port()
    config = _write_config(
        tmp_path,
        f"""
station = "county-b"
gateways = ["http://127.0.0.1:9", "{node.url}"]  # the first is down: fail-over
token_file = "{token_file.name}"  # beside the config
status_port = {status_port}

[[cameras]]
id = "panorama"
role = "panorama"
source = "file:{clip}"

[[cameras]]
id = "judge"
role = "judge"
source = "testsrc"
audio = false
""",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VDISPATCH_ICE_ADDRESSES": "127.0.0.1"}
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vdispatch",
        "agent",
        "--config",
        str(config),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    viewer = Viewer(node.whep(streams[0]), node.token(streams[0], "viewer"))
    try:
        await wait_for(
            lambda: sorted(s.stream_id for s in node.gateway.streams()),
            lambda ids: ids == sorted(streams),
            what="both cameras published",
            timeout=30,
            describe=lambda ids: f"{ids}; the agent: {agent.returncode=}",
        )
        await viewer.start()
        await viewer.wait_frames(30, timeout=15)
        assert all(f.startswith(b"\x00\x00\x00\x01") for f in viewer.frames)

        async def status() -> dict[str, dict[str, object]]:
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"http://127.0.0.1:{status_port}/status.json") as resp,
                ):
                    return {c["id"]: c for c in (await resp.json())["cameras"]}
            except aiohttp.ClientError:
                return {}

        seen = await wait_for(
            status,
            lambda s: bool(s) and all(c["publishing"] and c["frames"] for c in s.values()),
            what="both cameras publishing in the status",
        )
        assert {c["stream"] for c in seen.values()} == set(streams)
        assert seen["panorama"]["role"] == "panorama"
        assert seen["panorama"]["gateway"] == node.url
        # systemd stops it with SIGTERM: each publication ends with a WHIP DELETE
        agent.terminate()
        assert await asyncio.wait_for(agent.wait(), 25) == 0
        await wait_for(lambda: not node.gateway.streams(), what="both streams ended", timeout=3)
    finally:
        await viewer.close()
        if agent.returncode is None:
            agent.terminate()
        await asyncio.wait_for(agent.wait(), 15)


async def test_a_usb_camera_is_published(node: Node) -> None:
    devices = sorted(Path("/dev").glob("video*"))
    if not devices:
        pytest.skip("no /dev/video* here (a USB camera or v4l2loopback is needed)")
    source = V4l2Source("usb", str(devices[0]), width=640, height=360, fps=15)
    await source.start()
    try:
        await wait_for(lambda: source.live.is_set(), what="the USB camera live", timeout=15)
        publisher = WhipPublisher(node.whip("usb"), node.token("usb"), source.tracks())
        await publisher.start()  # encoded by aiortc (H.264)
        try:
            viewer = Viewer(node.whep("usb"), node.token("usb", "viewer"))
            await viewer.start()
            await viewer.wait_frames(10, timeout=15)
            await viewer.close()
        finally:
            await publisher.stop()
    finally:
        await source.stop()


async def test_a_reader_that_falls_behind_gets_the_latest_picture_from_a_keyframe() -> None:
    source = CameraSource("slow")
    sub = source.subscribe("video")

    def au(i: int) -> Media:
        key = i % 10 == 0
        data = (b"\x00\x00\x00\x01\x65" if key else b"\x00\x00\x00\x01\x41") + bytes([i])
        packet = av.Packet(data)
        packet.pts = i
        return Media("video", packet, key, len(data))

    for i in range(45):  # the reader reads nothing: its queue (30) overflows
        source._deliver(au(i))
    first = await sub.get()
    # the full queue was dropped when it overflowed: it resumes at that keyframe
    assert bytes(first)[4] == 0x65 and first.pts == 30
    assert source.status.drops == 30 and source.status.frames == 45
    rest = [(await sub.get()).pts for _ in range(14)]
    assert rest == list(range(31, 45))


def test_rtsp_urls_are_shown_without_their_password() -> None:
    assert redact("rtsp://admin:s3cret@10.0.0.5:554/h264") == "rtsp://admin:***@10.0.0.5:554/h264"
    assert redact("rtsp://10.0.0.5/h264") == "rtsp://10.0.0.5/h264"
    source = RtspSource(
        "judge", "rtsp://10.0.0.5/x?transport=udp&a=1", username="op", password="p@ss:w"
    )
    assert source.transport == "udp"
    assert source.description == "rtsp://op:***@10.0.0.5/x?a=1 (udp)"
    with pytest.raises(ValueError, match="tcp or udp"):
        RtspSource("judge", "rtsp://10.0.0.5/x?transport=http")
