"""A published stream reaches viewers through the gateway, bit for bit."""

from __future__ import annotations

import asyncio

from camera_agents import WhipPublisher
from camera_agents.testsrc import PatternTrack

from .conftest import Node
from .peers import EncodedVideoTrack, Viewer, encode_vp8


def _is_vp8_keyframe(frame: bytes) -> bool:
    return not frame[0] & 0x01


async def test_three_viewers_receive_byte_identical_frames(node: Node) -> None:
    published = encode_vp8(90, gop=30)
    track = EncodedVideoTrack(published)
    publisher = WhipPublisher(node.whip("cam1"), node.token("cam1"), [track])
    await publisher.start()
    viewers = [Viewer(node.whep("cam1"), node.token("cam1", "viewer")) for _ in range(3)]
    try:
        for v in viewers:
            await v.start()
        for v in viewers:
            await v.wait_frames(60, timeout=15)
        sent = track.sent
        for v in viewers:
            # The viewer starts on a keyframe and then sees every frame, unchanged.
            assert _is_vp8_keyframe(v.frames[0])
            start = next(i for i, f in enumerate(sent) if f == v.frames[0])
            assert v.frames[:60] == sent[start : start + 60]
            assert v.decoded > 0
    finally:
        for v in viewers:
            await v.close()
        await publisher.stop()


async def test_late_viewer_sees_video_quickly_despite_long_keyframe_interval(node: Node) -> None:
    # aiortc's live encoder makes a keyframe only on request (interval of minutes).
    publisher = WhipPublisher(
        node.whip("cam2"), node.token("cam2"), [PatternTrack("cam2", width=640, height=360)]
    )
    await publisher.start()
    viewer = Viewer(node.whep("cam2"), node.token("cam2", "viewer"))
    try:
        await asyncio.sleep(5)
        await viewer.start()
        await viewer.wait_frames(1, timeout=5)
        first_frame_after = viewer.frame_times[0] - viewer.started_at
        assert first_frame_after < 1.0, f"first frame after {first_frame_after:.2f}s"
    finally:
        await viewer.close()
        await publisher.stop()
