"""A full disk stops writing cleanly (alarm + continuity entry, nothing half-written
left behind) and recording resumes by itself when space returns."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiortc.codecs.vpx import Vp8Encoder

from media_gateway.packet import RelayPacket
from recorder import Manifest, Recorder, RecorderSettings, TrackInfo
from recorder.verify import verify_recording

from .conftest import require_or_skip
from .recordings import frames


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    require_or_skip(os.geteuid() == 0, "mounting a tmpfs needs root", "VDISPATCH_REQUIRE_SERVICES")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


class Alarms:
    def __init__(self) -> None:
        self.alarms: list[tuple[str, str]] = []

    def segment_closed(self, recording: object, entry: object) -> None: ...

    def continuity(self, recording: object, entry: object) -> None: ...

    def recording_closed(self, recording: object) -> None: ...

    def alarm(self, recording: object, kind: str, message: str) -> None:
        self.alarms.append((kind, message))


async def test_a_full_disk_stops_cleanly_and_recording_resumes(small_disk: Path) -> None:
    listener = Alarms()
    recorder = Recorder(
        RecorderSettings(data_dir=small_disk, segment_seconds=1.0, min_free_bytes=64 * 1024),
        node_id="test",
        listener=listener,
    )
    feed = recorder.start("cam", [TrackInfo("video", "video/vp8", 90000)], lambda: None)["video"]
    recording = recorder.active["cam"]
    packer = Vp8Encoder()
    video = frames(300, gop=30)
    state = {"seq": 0, "frame": 0}

    async def feed_seconds(seconds: float) -> None:
        for _ in range(int(seconds * 30)):
            i = state["frame"]
            data = video[i % len(video)]
            payloads = packer._packetize(data, i & 0x7FFF)
            for j, payload in enumerate(payloads):
                marker = int(j == len(payloads) - 1)
                feed.send(
                    RelayPacket(state["seq"], (i * 3000) & 0xFFFFFFFF, marker, payload, False, 0)
                )
                state["seq"] = (state["seq"] + 1) & 0xFFFF
            state["frame"] += 1
            await asyncio.sleep(0.002)

    await feed_seconds(3)
    filler = small_disk / "filler"
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    with filler.open("wb") as f:  # leave ~100 KB: the next segment cannot be written
        f.write(b"\0" * (free - 100_000))
    await feed_seconds(3)
    for _ in range(50):
        if listener.alarms:
            break
        await asyncio.sleep(0.05)
    assert listener.alarms and listener.alarms[0][0] == "disk-full", listener.alarms
    assert not list(small_disk.glob("recordings/*/*.part")), "no half-written segment left"

    filler.unlink()  # space returns
    await feed_seconds(4)
    directory = recording.directory
    await recorder.close()

    manifest = Manifest.from_json((directory / "manifest.json").read_bytes())
    gaps = [c for c in manifest.continuity if c.kind == "disk-full"]
    assert len(gaps) == 1 and gaps[0].end is not None and gaps[0].start < gaps[0].end
    after = [s for s in manifest.segments if s.start >= gaps[0].end]
    assert after, "recording resumed after space returned"
    assert verify_recording(directory).ok
