"""A recording's wall clock is trusted time: a frame is never put hours (or a century)
away from when the node received it, whatever the publisher's sender reports say.

aiortc sends sender reports from the start of a publication, and until its first packet
is sent they carry NTP 0 and RTP 0 (its video waits for a keyframe, often past the first
report): taken as a mapping, that put a recording's first segment in 1900 and its end
years ahead (its end is its last frame plus its mean frame interval). A report from a
clock that is not the stream's (another publication's random RTP offset) put frames
up to half the RTP wrap away (12.4 h for Opus). Such frames are timed by arrival and the
recording says so in a "clock" continuity entry."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

from media_gateway.packet import RelayPacket
from recorder import Recorder, RecorderSettings, TrackFeed, TrackInfo
from recorder import manifest as mf
from recorder.feed import NTP_EPOCH_OFFSET

from .recordings import _packetize, frames
from .test_recorder_jitter import _opus

FPS = 30
TRACKS = [TrackInfo("video", "video/h264", 90000), TrackInfo("audio", "audio/opus", 48000)]
VIDEO_ORIGIN = 4_000_000_000  # aiortc's random offset: this one wraps within a minute


def ntp(wall: float) -> int:
    return int((wall + NTP_EPOCH_OFFSET) * (1 << 32))


def wall_of(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def publish(
    feeds: dict[str, TrackFeed],
    seconds: float,
    reports: dict[tuple[str, int], tuple[int, int]],
) -> None:
    """`seconds` of H.264 and Opus at about real time (the node's clock is the judge);
    `reports`: (kind, frame index) -> the sender report (ntp, rtp) sent just before it."""
    video, audio = frames(int(seconds * FPS), codec="h264"), _opus(int(seconds * 50))
    events = sorted(
        [(i / FPS, "video", i) for i in range(len(video))]
        + [(i * 0.02, "audio", i) for i in range(len(audio))]
    )
    seq = {"video": 0, "audio": 0}
    began = time.monotonic()
    for at, kind, i in events:
        ahead = began + at - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)
        if (kind, i) in reports:
            feeds[kind].sender_report(*reports[kind, i])
        if kind == "video":
            ts, payloads = (VIDEO_ORIGIN + i * 3000) & 0xFFFFFFFF, _packetize("h264", video[i], i)
        else:
            ts, payloads = i * 960, [audio[i]]
        for j, payload in enumerate(payloads):
            marker = int(j == len(payloads) - 1)
            feeds[kind].send(RelayPacket(seq[kind], ts, marker, payload, False, 0.0))
            seq[kind] = (seq[kind] + 1) & 0xFFFF


async def record(
    tmp_path: Path, seconds: float, reports: dict[tuple[str, int], tuple[int, int]]
) -> tuple[mf.Manifest, int]:
    recorder = Recorder(RecorderSettings(data_dir=tmp_path, segment_seconds=1), node_id="n")
    feeds = recorder.start("cam", TRACKS, lambda: None)
    await publish(feeds, seconds, reports)
    recording = recorder.active["cam"]
    faults = recording.clock_faults
    await recorder.close()
    return mf.load(recording.directory), faults


def assert_sane(manifest: mf.Manifest, start: float, end: float) -> None:
    """Every segment within the time the media was sent (and a little network)."""
    assert manifest.segments
    for seg in manifest.segments:
        assert seg.end is not None
        assert start - 1.0 <= wall_of(seg.start) <= wall_of(seg.end) <= end + 1.0, seg


async def test_aiortcs_zeroed_sender_report_before_its_first_packet_is_no_clock(
    tmp_path: Path,
) -> None:
    start = time.time()
    reports = {
        ("video", 0): (0, 0),  # sent while the sender waited for a keyframe
        ("audio", 0): (ntp(start), 0),
        ("video", 40): (ntp(start + 40 / FPS), (VIDEO_ORIGIN + 40 * 3000) & 0xFFFFFFFF),
    }
    manifest, faults = await record(tmp_path, 3.0, reports)
    assert_sane(manifest, start, time.time())
    assert faults == 0  # refused at the report: no frame had to be re-timed
    assert [c.kind for c in manifest.continuity] == ["keyframe-wait"] or not manifest.continuity


async def test_a_sender_report_from_another_clock_is_refused_and_noted(tmp_path: Path) -> None:
    """The audio report of another publication: its RTP time 11.7 h of ticks off ours."""
    start = time.time()
    off = int(11.7 * 3600 * 48000)
    reports = {
        ("video", 0): (ntp(start), VIDEO_ORIGIN),
        ("audio", 0): (ntp(start), 0),
        ("audio", 60): (ntp(start + 1.2), (60 * 960 - off) & 0xFFFFFFFF),
    }
    manifest, faults = await record(tmp_path, 3.0, reports)
    assert_sane(manifest, start, time.time())
    assert faults == 1
    (clock,) = [c for c in manifest.continuity if c.kind == "clock"]
    assert clock.start == clock.end
    # measured against the frame's arrival, so a loaded machine moves the last digit
    lead, _, rest = clock.reason.partition(" s off the node's clock")
    assert lead.startswith("audio timestamps +") and rest, clock.reason
    assert abs(float(lead.removeprefix("audio timestamps +")) - 11.7 * 3600) < 1.0


async def test_a_first_report_from_another_clock_times_the_track_by_arrival(
    tmp_path: Path,
) -> None:
    """Nothing to check the first report against: the first frame is re-timed, and the
    track follows its RTP clock from its arrival until a report agrees with the node."""
    start = time.time()
    off = int(11.7 * 3600 * 90000)
    reports = {
        ("video", 0): (ntp(start), (VIDEO_ORIGIN - off) & 0xFFFFFFFF),
        ("audio", 0): (ntp(start), 0),
        ("video", 45): (ntp(start + 1.5), (VIDEO_ORIGIN + 45 * 3000) & 0xFFFFFFFF),
    }
    manifest, faults = await record(tmp_path, 3.0, reports)
    assert_sane(manifest, start, time.time())
    assert faults == 1
    (clock,) = [c for c in manifest.continuity if c.kind == "clock"]
    assert clock.reason.startswith("video timestamps")
    assert len(manifest.segments) >= 2  # one-second segments: the track went on, cut on time
