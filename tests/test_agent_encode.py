"""Cameras the agent encodes itself (testsrc here; a USB camera the same way, tested where
a device exists): H.264 made in the camera's thread, so the camera is published like a
passed-through one and spooled (segments play, verify passes with the station's key); a
viewer's PLI makes the encoder's next picture an IDR."""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import pytest

from bitstream import nal_types
from camera_agents import Station, StationConfig, use_keyframe_tap
from camera_agents.encoder import H264Encoder, VP8Encoder
from camera_agents.testsrc import PatternSource
from media_gateway import tap_keyframe_requests
from recorder import manifest as mf
from recorder import verify_recording

from .conftest import Node
from .peers import Viewer
from .recordings import wait_for_manifest
from .test_agent_rtsp import rec_node  # noqa: F401  (the fixture)
from .test_recorder import ffprobe
from .waiting import wait_for

STATION = "county-e"


@pytest.fixture
def keyframe_tap() -> AsyncIterator[None]:
    use_keyframe_tap(tap_keyframe_requests)  # as `vdispatch agent` does
    yield
    use_keyframe_tap(None)


def test_the_encoder_makes_annexb_baseline_with_parameter_sets_and_idr_on_request() -> None:
    encoder = H264Encoder(320, 240, 30, 500_000, keyframe_seconds=1.0)
    out: list[tuple[av.Packet, bool]] = []
    for i in range(45):
        if i == 10:
            encoder.request_keyframe()
        yuv = np.full((360, 320), (i * 5) % 256, dtype=np.uint8)
        out += encoder.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p"))
    assert len(out) == 45  # one picture in, one access unit out: no delay, no B-frames
    keys = [i for i, (_, key) in enumerate(out) if key]
    assert keys == [0, 10, 40]  # the first, the requested one, then 1 s after it
    for packet, key in out:
        data = bytes(packet)
        assert data.startswith(b"\x00\x00\x00\x01") and packet.time_base == fractions.Fraction(
            1, 90000
        )
        types = nal_types(data)
        assert (5 in types) == key and (7 in types and 8 in types) == key
    assert [p.pts for p, _ in out[:3]] == [0, 3000, 6000]
    decoder = av.CodecContext.create("h264", "r")
    pictures = [f for p, _ in out for f in decoder.decode(p)]
    assert len(pictures) >= 44 and pictures[0].width == 320


def test_the_vp8_encoder_decodes_and_makes_keyframes_on_request() -> None:
    encoder = VP8Encoder(320, 240, 30, 500_000, keyframe_seconds=1.0)
    out: list[tuple[av.Packet, bool]] = []
    for i in range(45):
        if i == 10:
            encoder.request_keyframe()
        yuv = np.full((360, 320), (i * 5) % 256, dtype=np.uint8)
        out += encoder.encode(av.VideoFrame.from_ndarray(yuv, format="yuv420p"))
    assert len(out) == 45  # realtime, no look-ahead: one picture in, one frame out
    keys = [i for i, (_, key) in enumerate(out) if key]
    assert keys[:2] == [0, 10] and 30 in keys  # the first, the requested one, the interval
    assert encoder.keyframes_forced == 1
    assert [p.pts for p, _ in out[:3]] == [0, 3000, 6000]
    decoder = av.CodecContext.create("vp8", "r")
    pictures = [f for p, _ in out for f in decoder.decode(av.Packet(bytes(p)))]
    assert len(pictures) == 45 and (pictures[0].width, pictures[0].height) == (320, 240)
    # a decoder can start at the requested keyframe
    late = av.CodecContext.create("vp8", "r")
    assert late.decode(av.Packet(bytes(out[10][0])))


async def test_a_testsrc_camera_is_published_spooled_and_keyframes_on_pli(
    rec_node: Node,  # noqa: F811
    tmp_path: Path,
    keyframe_tap: None,
) -> None:
    stream = f"{STATION}-judge"
    token_file = tmp_path / "station.token"
    token_file.write_text(rec_node.tokens.mint([stream], "station", 600))  # type: ignore[arg-type]
    config = StationConfig.model_validate(
        {
            "station": STATION,
            "gateways": [rec_node.url],
            "token_file": token_file,
            "status_port": 0,
            "key_dir": tmp_path / "keys",
            "spool_dir": tmp_path / "spool",
            "spool_segment_seconds": 1.0,
            "cameras": [
                {
                    "id": "judge",
                    "role": "judge",
                    "source": "testsrc",
                    "width": 640,
                    "height": 360,
                    "fps": 15,
                    "bitrate_kbps": 800,
                    "keyframe_seconds": 1.0,
                }
            ],
        }
    )
    station = Station(config, token_file.read_text())
    source = station.cameras[0].source
    assert isinstance(source, PatternSource)
    spool = station.spool
    assert spool is not None
    viewer = Viewer(rec_node.whep(stream), rec_node.token(stream, "viewer"))
    await station.start()
    try:
        await asyncio.wait_for(station.cameras[0].agent.connected.wait(), 15)
        # the publication's first read asked for a keyframe (it starts at one)
        await wait_for(lambda: source.encoder.keyframes_forced, what="the publication's IDR")
        before = source.encoder.keyframes_forced
        await viewer.start()  # the gateway asks the publisher for a keyframe (PLI)
        await wait_for(
            lambda: source.encoder.keyframes_forced,
            lambda n: n > before,
            what="the viewer's PLI reaching the encoder",
        )
        await viewer.wait_frames(30, timeout=15)
        assert viewer.frames[0].startswith(b"\x00\x00\x00\x01")
        assert 5 in nal_types(viewer.frames[0]) and 7 in nal_types(viewer.frames[0])
        await wait_for(lambda: viewer.decoded, lambda n: n >= 15, what="decoded pictures")
        await wait_for(lambda: spool.status.segments, lambda n: n >= 2, what="2 spooled segments")
        status = station.status()
        assert status["spool"]["not_spooled"] == []
        assert status["cameras"][0]["state"] == "live" and status["cameras"][0]["frames"] > 15
    finally:
        await viewer.close()
        await station.stop()
    # the station's spool: plays, verifies with the station's key
    (directory,) = spool.recordings()
    result = await asyncio.to_thread(verify_recording, directory, [spool.key.public_pem])
    assert result.ok and result.segments >= 2, result.problems
    m = mf.load(directory)
    # the first segment too has its sound (opened with the tracks the camera declares)
    probe = await asyncio.to_thread(ffprobe, directory / m.segments[0].file)
    kinds = {s["codec_type"]: s for s in probe["streams"]}
    assert kinds["video"]["codec_name"] == "h264"
    assert (kinds["video"]["width"], kinds["video"]["height"]) == (640, 360)
    assert kinds["audio"]["codec_name"] == "opus"
    # and the node's recording of the live publication
    rec, manifest = await wait_for_manifest(
        tmp_path / "var" / "recordings", lambda m: len(m.segments) >= 1, "a closed segment"
    )
    probe = await asyncio.to_thread(ffprobe, rec / manifest.segments[0].file)
    kinds = {s["codec_type"]: s for s in probe["streams"]}
    assert kinds["video"]["codec_name"] == "h264" and kinds["video"]["width"] == 640


async def test_a_vp8_testsrc_camera_is_published_and_spooled(
    rec_node: Node,  # noqa: F811
    tmp_path: Path,
    keyframe_tap: None,
) -> None:
    stream = f"{STATION}-room"
    token_file = tmp_path / "station.token"
    token_file.write_text(rec_node.tokens.mint([stream], "station", 600))  # type: ignore[arg-type]
    config = StationConfig.model_validate(
        {
            "station": STATION,
            "gateways": [rec_node.url],
            "token_file": token_file,
            "status_port": 0,
            "key_dir": tmp_path / "keys",
            "spool_dir": tmp_path / "spool",
            "spool_segment_seconds": 1.0,
            "cameras": [
                {
                    "id": "room",
                    "role": "room",
                    "source": "testsrc",
                    "codec": "vp8",
                    "width": 320,
                    "height": 240,
                    "fps": 15,
                    "bitrate_kbps": 400,
                    "keyframe_seconds": 1.0,
                }
            ],
        }
    )
    station = Station(config, token_file.read_text())
    source = station.cameras[0].source
    assert isinstance(source, PatternSource) and isinstance(source.encoder, VP8Encoder)
    spool = station.spool
    assert spool is not None
    viewer = Viewer(rec_node.whep(stream), rec_node.token(stream, "viewer"))
    await station.start()
    try:
        await asyncio.wait_for(station.cameras[0].agent.connected.wait(), 15)
        await viewer.start()
        await wait_for(lambda: viewer.decoded, lambda n: n >= 15, what="decoded pictures")
        await wait_for(lambda: spool.status.segments, lambda n: n >= 2, what="2 spooled segments")
        assert station.status()["spool"]["not_spooled"] == []
    finally:
        await viewer.close()
        await station.stop()
    (directory,) = spool.recordings()
    result = await asyncio.to_thread(verify_recording, directory, [spool.key.public_pem])
    assert result.ok and result.segments >= 2, result.problems
    m = mf.load(directory)
    assert m.codecs == {"video": "vp8", "audio": "opus"} and m.container == "webm"
    probe = await asyncio.to_thread(ffprobe, directory / m.segments[0].file)
    kinds = {s["codec_type"]: s for s in probe["streams"]}
    assert kinds["video"]["codec_name"] == "vp8" and kinds["video"]["width"] == 320
    assert kinds["audio"]["codec_name"] == "opus"
