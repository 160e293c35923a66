"""The gateway's fast ingress reads a burst ahead of its fan-out and hands the rest of it
to the next turn of the event loop: nothing is lost or reordered on the way."""

from __future__ import annotations

import pytest

from camera_agents import WhipPublisher
from media_gateway.aiortc_hooks import ingress

from .conftest import Node
from .peers import EncodedVideoTrack, Viewer, encode_vp8

FRAMES = encode_vp8(60, width=640, height=480, gop=20)


def _contiguous(received: list[bytes], sent: list[bytes]) -> bool:
    """`received` is a run of consecutive sent frames."""
    if not received:
        return False
    for start in range(len(sent) - len(received) + 1):
        if sent[start : start + len(received)] == received:
            return True
    return False


async def test_every_packet_handed_to_the_next_turn_still_arrives_whole_and_in_order(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no time budget: after each packet, the rest of a burst waits for the next turn
    monkeypatch.setattr(ingress, "INGRESS_BUDGET", 0.0)
    track = EncodedVideoTrack(FRAMES, loop=False)
    publisher = WhipPublisher(node.whip("cam"), node.token("cam"), [track])
    await publisher.start()
    viewers = [Viewer(node.whep("cam"), node.token("cam", "viewer")) for _ in range(2)]
    try:
        for v in viewers:
            await v.start()
        for v in viewers:
            await v.wait_frames(25, timeout=15)
        assert max(len(f) for f in FRAMES) > 3000  # keyframes of several packets
        for v in viewers:
            assert _contiguous(v.frames, track.sent), [len(f) for f in v.frames]
        publication = node.gateway.publication("cam")
        assert publication is not None
        assert all(p.packets_lost == 0 for p in publication.producers.values())
    finally:
        for v in viewers:
            await v.close()
        await publisher.stop()
