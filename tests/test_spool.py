"""The station's spool: a `file:` camera recorded in the recorder's format, signed with the
station key, verified; the ring on disk removes uploaded segments first and, over its cap
without uploads, the oldest the centre lacks, with an alarm and a continuity entry, and
`verify` still passes on what remains."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av

from camera_agents import CameraSource, FileSource, RtspSource, Spool
from camera_agents.testsrc import PatternSource
from recorder import manifest as mf
from recorder import verify_recording

from .rtsp_camera import RtspCamera, require_rtsp_server, write_h264_file
from .test_recorder import ffprobe
from .waiting import wait_for

STREAM = "county-s-judge"


def _closed(spool: Spool) -> list[tuple[str, int]]:
    return sorted(spool._on_disk)


async def test_the_spool_records_a_camera_and_its_ring_removes_uploaded_segments_first(
    tmp_path: Path,
) -> None:
    clip = tmp_path / "clip.mp4"
    await asyncio.to_thread(write_h264_file, clip, 2.0, 30, 15)
    spool = Spool(
        tmp_path / "spool",
        tmp_path / "keys" / "station-ed25519.pem",
        "county-s",
        max_bytes=1 << 30,
        segment_seconds=1.0,
    )
    await asyncio.to_thread(spool.start)
    source = FileSource("judge", clip)
    source.sinks.append(spool.sink(STREAM))
    await source.start()
    try:
        await wait_for(
            lambda: spool.status.segments, lambda n: n >= 5, what="5 segments", timeout=20
        )
        (rid, _), *_ = spool.pending()
        directory = spool.directory / rid
        assert rid.startswith(f"spool-{STREAM}-")
        # the centre holds 1 and 2: they are the first to go when space is needed
        spool.uploaded(rid, 1)
        spool.uploaded(rid, 2)
        spool.max_bytes = spool.status.bytes - 1
        await wait_for(lambda: not (directory / "seg-000001.mp4").exists(), what="segment 1 gone")
        m = await asyncio.to_thread(mf.load, directory)
        assert mf.EVICTED in m.segments[0].flags
        assert not [c for c in m.continuity if c.kind == "spool-full"]
        assert spool.status.alarm is None and spool.status.evicted_unuploaded == 0
        assert (directory / "seg-000003.mp4").exists()  # not uploaded: kept while it may
        # no uploads and a cap far too small: the oldest the centre lacks go, alarmed
        spool.max_bytes = 1
        await wait_for(lambda: spool.status.alarm, what="the spool-full alarm")
        assert "before upload" in str(spool.status.alarm)
    finally:
        await source.stop()
        await asyncio.to_thread(spool.stop)
    m = await asyncio.to_thread(mf.load, directory)
    assert m.state == "closed" and m.node_id == "station:county-s"
    assert {c.kind for c in m.continuity} == {"spool-full"}  # no write failure, no drop
    full = [c for c in m.continuity if c.kind == "spool-full"]
    assert full and "removed from the station's full spool" in full[0].reason
    assert m.codecs == {"video": "h264", "audio": "opus"}
    result = await asyncio.to_thread(verify_recording, directory, [spool.key.public_pem])
    assert result.ok, result.problems  # never corrupt: verify passes on what remains
    assert [s.index for s in m.segments] == list(range(1, len(m.segments) + 1))


async def test_spooled_segments_play_and_verify(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    await asyncio.to_thread(write_h264_file, clip, 2.0, 30, 15)
    spool = Spool(tmp_path / "spool", tmp_path / "key.pem", "county-s", 1 << 30, 1.0)
    await asyncio.to_thread(spool.start)
    source = FileSource("judge", clip)
    source.sinks.append(spool.sink(STREAM))
    await source.start()
    try:
        await wait_for(
            lambda: spool.status.segments, lambda n: n >= 3, what="3 segments", timeout=20
        )
    finally:
        await source.stop()
        await asyncio.to_thread(spool.stop)
    (directory,) = spool.recordings()
    result = await asyncio.to_thread(verify_recording, directory, [spool.key.public_pem])
    assert result.ok and result.segments >= 3 and 2.5 <= result.duration <= 6
    m = mf.load(directory)
    assert m.continuity == []  # every packet written: no write failure, no drop
    for s in m.segments[:-1]:  # the last closed when the agent stopped
        assert 0.8 <= s.duration <= 1.7  # cut on keyframes about every second

    def frames(path: Path) -> int:
        with av.open(str(path)) as f:
            return sum(1 for p in f.demux(f.streams.video[0]) if p.size)

    counts = [await asyncio.to_thread(frames, directory / s.file) for s in m.segments]
    assert all(c >= 20 for c in counts[:-1])  # 30 fps, passed through

    # a second run recovers the first: closed, its segments counted for the ring
    again = Spool(tmp_path / "spool", tmp_path / "key.pem", "county-s", 1 << 30, 1.0)
    await asyncio.to_thread(again.start)
    try:
        assert len(again.pending()) == len(m.segments)
    finally:
        await asyncio.to_thread(again.stop)


async def _first_segment_kinds(tmp_path: Path, source: CameraSource) -> list[str]:
    """The stream kinds (ffprobe) of the first segment the spool closes for `source`."""
    spool = Spool(tmp_path / "spool", tmp_path / "key.pem", "county-s", 1 << 30, 1.0)
    await asyncio.to_thread(spool.start)
    source.sinks.append(spool.sink(STREAM, lambda: source.has_audio))
    await source.start()
    try:
        await wait_for(
            lambda: spool.status.segments, lambda n: n >= 1, what="a segment", timeout=30
        )
    finally:
        await source.stop()
        await asyncio.to_thread(spool.stop)
    (directory,) = spool.recordings()
    m = mf.load(directory)
    assert m.codecs == {"video": "h264", "audio": "opus"}
    first = directory / m.segments[0].file
    probe = await asyncio.to_thread(ffprobe, first)

    def sound(path: Path) -> int:
        with av.open(str(path)) as f:
            return sum(1 for p in f.demux(f.streams.audio[0]) if p.size)

    assert await asyncio.to_thread(sound, first) > 0  # the first second's sound is there
    return sorted(s["codec_type"] for s in probe["streams"])


async def test_a_test_pattern_cameras_first_spool_segment_has_its_sound(tmp_path: Path) -> None:
    source = PatternSource("judge", "county-s judge", width=320, height=240, keyframe_seconds=1.0)
    assert await _first_segment_kinds(tmp_path, source) == ["audio", "video"]


async def test_an_ip_cameras_first_spool_segment_has_its_sound(tmp_path: Path) -> None:
    require_rtsp_server()
    camera = RtspCamera()
    await camera.start()
    try:
        source = RtspSource("judge", camera.url)
        assert await _first_segment_kinds(tmp_path, source) == ["audio", "video"]
    finally:
        await camera.stop()
