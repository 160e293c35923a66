"""The demo's synthetic cameras: the test pattern encoded once as a short loop and sent
round and round (camera_agents/loop_source.py). The loop has a keyframe at each GOP
start and decodes across its wrap; the source's timestamps keep rising; a keyframe
request makes the next picture the loop's next keyframe; published through a node, a
viewer's PLI gets it a keyframe at once and it decodes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import av
import pytest

from bitstream import nal_types
from camera_agents import Agent, AgentConfig, LoopSource, use_keyframe_tap
from camera_agents.loop_source import encode_tone_loop, encode_video_loop
from camera_agents.source import Kind, Payload
from media_gateway import tap_keyframe_requests

from .conftest import Node
from .peers import Viewer
from .waiting import wait_for


@pytest.fixture
def keyframe_tap() -> AsyncIterator[None]:
    use_keyframe_tap(tap_keyframe_requests)  # as `vdispatch demo` does
    yield
    use_keyframe_tap(None)


def _decoded(codec: str, pictures: list[bytes]) -> int:
    decoder = av.CodecContext.create(codec, "r")
    return sum(len(decoder.decode(av.Packet(p))) for p in pictures)


@pytest.mark.parametrize(("codec", "decoder"), [("h264", "h264"), ("vp8", "libvpx")])
def test_the_loop_has_a_keyframe_each_gop_and_decodes_across_its_wrap(
    codec: str, decoder: str
) -> None:
    loop = encode_video_loop(
        "county-x", width=320, height=180, fps=30, pictures=60, gop=15, bitrate=300_000, codec=codec
    )
    assert len(loop) == 60
    assert [i for i, p in enumerate(loop) if p.keyframe] == [0, 15, 30, 45]
    if codec == "h264":  # a viewer can start at any keyframe: SPS and PPS in front
        assert all({5, 7, 8} <= set(nal_types(p.data)) for p in loop if p.keyframe)
    data = [p.data for p in loop]
    assert _decoded(decoder, data + data + data[:20]) == 140  # round twice and on


def test_the_tone_loop_is_a_second_of_opus_packets_that_decode() -> None:
    packets = encode_tone_loop()
    assert len(packets) == 50
    decoder = av.CodecContext.create("opus", "r")
    frames = [f for p in packets + packets for f in decoder.decode(av.Packet(p))]
    assert sum(f.samples for f in frames) == 2 * 48000


async def test_the_source_goes_round_with_rising_timestamps_and_skips_to_a_keyframe() -> None:
    source = LoopSource("cam", "county-x cam", width=320, height=180, seconds=1)
    seen: list[tuple[Kind, Payload, bool]] = []
    source.sinks.append(lambda kind, payload, key: seen.append((kind, payload, key)))
    await source.start()
    try:
        await wait_for(lambda: source.status.frames, lambda n: n >= 40, what="past the wrap")
        video = [(p, key) for kind, p, key in seen if kind == "video"]
        audio = [p for kind, p, _ in seen if kind == "audio"]
        assert [p.pts for p, _ in video[:40]] == [i * 3000 for i in range(40)]
        assert [i for i, (_, key) in enumerate(video[:40]) if key] == [0, 30]  # a second
        assert [p.pts for p in audio[:60]] == [i * 960 for i in range(60)]
        # on request the next picture is the loop's next keyframe, long before its time
        before = len(video)
        source.request_keyframe()
        await wait_for(lambda: source.status.frames, lambda n: n >= before + 3, what="3 more")
        after = [key for kind, _, key in seen if kind == "video"][before : before + 3]
        assert any(after), after
        assert source.status.state == "live" and source.status.drops == 0
    finally:
        await source.stop()


async def test_a_loop_camera_is_published_and_a_viewer_starts_at_a_keyframe_at_once(
    node: Node, keyframe_tap: None
) -> None:
    # one keyframe per 2 s loop: the viewer's quick start is its PLI's doing
    source = LoopSource("cam1", "cam1", width=320, height=180, seconds=2, keyframe_seconds=2)
    await source.start()
    agent = Agent(
        AgentConfig(gateways=[node.url], stream_id="cam1", token=node.token("cam1")),
        track_factory=lambda _config: source.tracks(),
        source=source,
    )
    task = asyncio.create_task(agent.run())
    viewer = Viewer(node.whep("cam1"), node.token("cam1", "viewer"), audio=True)
    try:
        await asyncio.wait_for(agent.connected.wait(), 15)
        requested = source.keyframes_requested
        await viewer.start()
        await viewer.wait_frames(30, timeout=15)
        # The viewer's PLI reaches the loop, unless the gateway coalesced it with a request
        # still open (its own at publication, on a loaded machine) that a keyframe answered.
        assert source.keyframes_requested > requested or requested >= 1
        assert 5 in nal_types(viewer.frames[0]) and 7 in nal_types(viewer.frames[0])
        await wait_for(lambda: viewer.decoded, lambda n: n >= 30, what="decoded pictures")
        await wait_for(lambda: viewer.audio_frames, lambda n: n >= 25, what="the tone")
    finally:
        await viewer.close()
        await agent.stop()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await source.stop()
