"""Making real recordings quickly: encoded frames fed straight into the recorder."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiortc.codecs.vpx import Vp8Encoder

from media_gateway.packet import RelayPacket
from recorder import Recorder, RecorderSettings, RecordingListener, TrackInfo

from .peers import encode_vp8

_FRAMES: dict[tuple[int, int], list[bytes]] = {}


def frames(count: int, gop: int = 30) -> list[bytes]:
    key = (count, gop)
    if key not in _FRAMES:
        _FRAMES[key] = encode_vp8(count, gop=gop)
    return _FRAMES[key]


async def make_recording(
    data_dir: Path,
    seconds: float = 9.0,
    segment_seconds: float = 2.0,
    listener: RecordingListener | None = None,
) -> Path:
    """A closed VP8 recording of `seconds`, fed as fast as the writer takes it."""
    recorder = Recorder(
        RecorderSettings(data_dir=data_dir, segment_seconds=segment_seconds),
        node_id="test-node",
        listener=listener,
    )
    feeds = recorder.start("cam", [TrackInfo("video", "video/vp8", 90000)], lambda: None)
    feed = feeds["video"]
    packer = Vp8Encoder()
    seq = 0
    for i, data in enumerate(frames(int(seconds * 30))):
        payloads = packer._packetize(data, i & 0x7FFF)
        for j, payload in enumerate(payloads):
            marker = int(j == len(payloads) - 1)
            feed.send(RelayPacket(seq, (i * 3000) & 0xFFFFFFFF, marker, payload, False, 0.0))
            seq = (seq + 1) & 0xFFFF
        if i % 30 == 0:
            await asyncio.sleep(0)
    directory = recorder.active["cam"].directory
    await recorder.close()
    return directory
