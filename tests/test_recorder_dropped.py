"""Frames the recorder receives and does not write are on record: a continuity entry of
kind "dropped" per burst (how many, which track, why) in the signed manifest, shown in
the archive; never only a counter in memory."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from media_gateway.packet import RelayPacket
from recorder import Recorder, RecorderSettings, TrackInfo, continuity
from recorder import manifest as mf
from recorder.feed import NTP_EPOCH_OFFSET
from recorder.verify import verify_recording

from .archive_site import archive_site
from .console import logged_in
from .recordings import _packetize, frames
from .test_recorder_jitter import _opus

TRACKS = [TrackInfo("video", "video/vp8", 90000), TrackInfo("audio", "audio/opus", 48000)]


def ntp(wall: float) -> int:
    return int((wall + NTP_EPOCH_OFFSET) * (1 << 32))


async def drop_some(data_dir: Path) -> tuple[Path, int]:
    """3 s of VP8 and Opus into a writer queue of 4 frames, fed faster than it writes;
    the audio's sender report puts its first second before the first segment began."""
    recorder = Recorder(
        RecorderSettings(
            data_dir=data_dir, segment_seconds=1, max_pending_frames=4, max_clock_skew=0
        ),
        node_id="test-node",
    )
    feeds = recorder.start("cam", TRACKS, lambda: None)
    start = 1_700_000_000.0
    feeds["video"].sender_report(ntp(start), 0)
    feeds["audio"].sender_report(ntp(start - 1.0), 0)  # audio 1 s early: late for its segment
    video, audio = frames(90), _opus(150)
    seq = {"video": 0, "audio": 0}
    for i, data in enumerate(video):
        payloads = _packetize("vp8", data, i)
        for j, payload in enumerate(payloads):
            marker = int(j == len(payloads) - 1)
            feeds["video"].send(RelayPacket(seq["video"], i * 3000, marker, payload, False, 0.0))
            seq["video"] += 1
        for k in range(i * 5 // 3, (i + 1) * 5 // 3):
            feeds["audio"].send(RelayPacket(seq["audio"], k * 960, 1, audio[k], False, 0.0))
            seq["audio"] += 1
        if i % 15 == 0:
            await asyncio.sleep(0.05)  # the writer catches up now and then
    recording = recorder.active["cam"]
    dropped = recording.dropped_frames
    await recorder.close()
    return recording.directory, dropped


async def test_dropped_frames_are_in_the_signed_manifest_and_the_archive(
    tmp_path: Path, recording_template: Path
) -> None:
    directory, dropped = await drop_some(tmp_path / "rec" / "var")
    manifest = mf.load(directory)
    entries = [c for c in manifest.continuity if c.kind == "dropped"]
    parsed = [continuity.parse(c.reason) for c in entries]
    assert all(p is not None for p in parsed), entries
    counted = {(p[0], p[1]["track"]): 0 for p in parsed if p is not None}
    for p in parsed:
        assert p is not None
        counted[p[0], p[1]["track"]] += int(p[1]["frames"])
    assert dropped > 0 and sum(counted.values()) == dropped, (dropped, entries)
    assert ("frames-dropped-late", "audio") in counted  # the early audio
    assert ("frames-dropped-backlog", "video") in counted  # the full writer queue
    assert len(entries) <= 3 * len(counted), entries  # one entry a burst, not one a frame
    result = await asyncio.to_thread(verify_recording, directory)
    assert result.ok, result.problems

    # The archive's recording page lists them, its reason in Chinese.
    site_data = tmp_path / "var"
    async with (
        archive_site(site_data, recording_template, directory) as site,
        logged_in(site.url, "auditor") as c,
    ):
        page = await c.get(f"/archive/{site.ids['gap']}")
        assert page.status == 200, page.text
        assert 'data-kind="dropped"' in page.text
        assert re.search(r"丢弃 \d+ 个 audio 帧", page.text)
        assert "时间戳早于所属分段的开始" in page.text
        english = await c.get(f"/archive/{site.ids['gap']}?lang=en")
        assert re.search(r"\d+ video frames dropped: the recording&#39;s writer", english.text)
