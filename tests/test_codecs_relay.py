"""H.264 video and Opus audio pass through the gateway as published; a viewer that
cannot take a stream's codec is told so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.codecs.h264 import H264Encoder

from camera_agents import WhipPublisher
from camera_agents.testsrc import ToneTrack

from .conftest import Node
from .peers import EncodedVideoTrack, Viewer, encode_h264, prefer_codecs, whip_or_whep

NAL_SPS, NAL_IDR = 7, 5


def _nal_units(frame: bytes) -> list[bytes]:
    """The NAL units of an Annex B access unit, start codes removed."""
    return list(H264Encoder._split_bitstream(frame))


def _nal_types(frame: bytes) -> list[int]:
    return [nal[0] & 0x1F for nal in _nal_units(frame)]


async def _publish_h264(node: Node, stream: str, track: EncodedVideoTrack) -> WhipPublisher:
    """A WHIP publisher whose video offer has H.264 only."""
    publisher = WhipPublisher(node.whip(stream), node.token(stream), [])
    transceiver = publisher.pc.addTransceiver(track, direction="sendonly")
    prefer_codecs(transceiver, ["video/H264"])
    await publisher.start()
    return publisher


async def _wait(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_an_h264_viewer_receives_the_published_nal_units_unchanged(node: Node) -> None:
    published = encode_h264(90, gop=30)
    assert NAL_SPS in _nal_types(published[0]) and NAL_IDR in _nal_types(published[0])
    track = EncodedVideoTrack(published)
    publisher = await _publish_h264(node, "h264cam", track)
    viewer = Viewer(
        node.whep("h264cam"), node.token("h264cam", "viewer"), video_codecs=["video/H264"]
    )
    try:
        [info] = node.gateway.streams()
        assert info.video_codec == "H264"
        await viewer.start()
        await viewer.wait_frames(45, timeout=15)
        await _wait(lambda: viewer.decoded >= 10, "decoded H.264 frames")

        received = [_nal_units(f) for f in viewer.frames[:45]]
        sent = [_nal_units(f) for f in track.sent]
        # The viewer starts on a keyframe (SPS, PPS, IDR), then sees every frame as sent.
        assert NAL_SPS in _nal_types(viewer.frames[0])
        assert NAL_IDR in _nal_types(viewer.frames[0])
        start = next(i for i, nals in enumerate(sent) if nals == received[0])
        assert received == sent[start : start + 45]
    finally:
        await viewer.close()
        await publisher.stop()


async def test_an_audio_viewer_receives_the_published_opus_tone(node: Node) -> None:
    publisher = WhipPublisher(node.whip("radio1"), node.token("radio1"), [ToneTrack()])
    await publisher.start()
    viewer = Viewer(node.whep("radio1"), node.token("radio1", "viewer"), audio=True)
    try:
        [info] = node.gateway.streams()
        assert info.audio_codec == "OPUS"
        assert info.video_codec is None
        await viewer.start()
        # 20 ms frames: 25 frames is half a second of audio.
        await _wait(lambda: viewer.audio_frames >= 25, "audio frames")
        assert viewer.frames == []  # no video in this stream
    finally:
        await viewer.close()
        await publisher.stop()


async def test_a_vp8_only_viewer_of_an_h264_stream_gets_a_400_naming_the_codec(
    node: Node,
) -> None:
    track = EncodedVideoTrack(encode_h264(30, gop=30))
    publisher = await _publish_h264(node, "h264cam", track)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        prefer_codecs(pc.addTransceiver("video", direction="recvonly"), ["video/VP8"])
        await pc.setLocalDescription(await pc.createOffer())
        assert "H264" not in pc.localDescription.sdp
        status, body, location = await whip_or_whep(
            node.whep("h264cam"), node.token("h264cam", "viewer"), pc.localDescription.sdp
        )
        assert status == 400, body
        assert "H264" in body
        assert "\n" not in body.strip() and len(body) < 300
        assert location is None
        [info] = node.gateway.streams()
        assert info.viewers == 0
    finally:
        await pc.close()
        await publisher.stop()
