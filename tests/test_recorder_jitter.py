"""A publisher whose audio clock jitters by tens of milliseconds (a browser on a poor link,
whose sender reports move its audio back and forth) is still recorded whole: no segment
fails, every segment decodes cleanly with both streams, and audio stays within a video
frame of where the publisher's clock put it."""

from __future__ import annotations

import asyncio
import subprocess
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from media_gateway.packet import RelayPacket
from recorder import Recorder, RecorderSettings, TrackInfo
from recorder import manifest as mf
from recorder.feed import NTP_EPOCH_OFFSET
from recorder.segment import SegmentFile, TrackSpec

from .recordings import _packetize, frames

FPS = 30
AUDIO_FRAME = 0.02  # Opus: 20 ms, 960 samples at 48 kHz
# The audio clock's offset (s) from these audio frames on: a walk that steps back by 16-31 ms
# around the video keyframes that start MP4 fragments and segments, and forward again. A
# step back of more than a frame (20 ms) puts that frame at or before the previous one.
STEPS = {
    30: 0.0047,
    49: -0.0189,
    75: 0.0071,
    99: -0.0242,
    125: -0.0079,
    150: -0.0336,
    175: -0.0111,
    199: -0.0397,
    225: -0.0052,
    249: -0.0265,
    275: 0.0,
}
# The video clock's, by video frame: steps of up to 31 ms each way, and one of 45 ms back
# (more than a frame: that picture lands on the previous one's time).
VIDEO_STEPS = {20: -0.0213, 45: 0.0094, 60: -0.0216, 88: -0.0007, 100: -0.0457, 130: 0.0}


def _opus(count: int) -> list[bytes]:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format = 48000, "stereo", "s16"
    out: list[bytes] = []
    t = np.arange(960) / 48000
    for i in range(count):
        tone = (np.sin(2 * np.pi * 440 * (t + i * AUDIO_FRAME)) * 8000).astype(np.int16)
        samples = np.repeat(tone, 2)[None, :]  # interleaved stereo
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, i * 960
        out += [bytes(p) for p in codec.encode(frame)]
    return out


def _offsets(steps: dict[int, float], count: int) -> list[float]:
    offsets, off = [], 0.0
    for i in range(count):
        off = steps.get(i, off)
        offsets.append(off)
    return offsets


def _decodes_cleanly(path: Path, *ffmpeg_options: str) -> None:
    probe = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert sorted(probe.stdout.split()) == ["audio", "video"], (path, probe.stdout)
    run = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), *ffmpeg_options, "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stderr == "", (path, run.stderr)


@pytest.mark.parametrize("jitters", ["audio", "both"])
@pytest.mark.parametrize("codec", ["h264", "vp8"])
def test_a_segment_takes_clocks_stepping_back_across_fragments(
    codec: str, jitters: str, tmp_path: Path
) -> None:
    seconds = 5
    video = frames(seconds * FPS, codec=codec)
    audio = _opus(int(seconds / AUDIO_FRAME))
    container = "mp4" if codec == "h264" else "webm"
    seg = SegmentFile(
        tmp_path,
        1,
        container,
        [TrackSpec("video", f"video/{codec}", 320, 240), TrackSpec("audio", "audio/opus")],
    )
    base = 1_000_000.0
    # In arrival order, each frame at its capture time on the publisher's (jittery) clocks.
    shift = _offsets(VIDEO_STEPS if jitters == "both" else {}, len(video))
    events = [
        (i / FPS, "video", d, i % FPS == 0, base + i / FPS + shift[i]) for i, d in enumerate(video)
    ]
    shift = _offsets(STEPS, len(audio))
    events += [
        (i * AUDIO_FRAME, "audio", d, True, base + i * AUDIO_FRAME + shift[i])
        for i, d in enumerate(audio)
    ]
    events.sort(key=lambda e: (e[0], e[1]))
    walls: dict[str, list[float]] = {"video": [], "audio": []}
    for _, kind, data, key, wall in events:
        seg.write(kind, data, wall, base, key)  # MP4: EINVAL here before
        walls[kind].append(wall - base)
    path = seg.finish()
    # ffmpeg's null output retimes video to 1/30 s, where pictures closer than half a
    # frame collide and it complains of its own output; in the stream's own time base
    # it decodes every packet without a word.
    _decodes_cleanly(path, *(["-enc_time_base:v", "-1"] if jitters == "both" else []))
    with av.open(str(path)) as f:
        # The time base the muxer keeps is the one the segment counts in (else its
        # "strictly rising" guard is void and jitter fails the segment).
        expected = {
            "mp4": (Fraction(1, 90000), Fraction(1, 48000)),
            "webm": (Fraction(1, 1000),) * 2,
        }
        tbs = tuple(Fraction(s.time_base or 0) for s in (f.streams.video[0], f.streams.audio[0]))
        assert tbs == expected[container]
        stamps: dict[str, list[float]] = {"video": [], "audio": []}
        for packet in f.demux():
            if packet.pts is not None:
                stamps[packet.stream.type].append(float(packet.pts * packet.time_base))
    # Nothing dropped, and in sync: every frame within a video frame of its capture time.
    for kind in ("video", "audio"):
        assert len(stamps[kind]) == len(walls[kind]), kind
        worst = max(abs(p - w) for p, w in zip(stamps[kind], walls[kind], strict=True))
        assert worst < 1 / FPS, (kind, worst)


async def test_a_recording_of_a_jittery_audio_clock_closes_every_segment(
    tmp_path: Path,
) -> None:
    """Through the recorder's feeds: the audio feed's sender reports move its clock back
    16-31 ms about every second, as a browser's do on a poor link."""
    seconds = 6
    recorder = Recorder(RecorderSettings(data_dir=tmp_path, segment_seconds=2), node_id="test-node")
    tracks = [TrackInfo("video", "video/h264", 90000), TrackInfo("audio", "audio/opus", 48000)]
    feeds = recorder.start("cam", tracks, lambda: None)
    start = time.time()

    def report(kind: str, wall: float, rtp: int) -> None:
        feeds[kind].sender_report(int((wall + NTP_EPOCH_OFFSET) * (1 << 32)), rtp)

    report("video", start, 0)
    report("audio", start, 0)
    video = frames(seconds * FPS, codec="h264")
    audio = _opus(int(seconds / AUDIO_FRAME))
    offsets = _offsets(STEPS, len(audio))
    events = [(i / FPS, "video", i) for i in range(len(video))]
    events += [(i * AUDIO_FRAME, "audio", i) for i in range(len(audio))]
    events.sort()
    seq = {"video": 0, "audio": 0}
    for n, (_, kind, i) in enumerate(events):
        if kind == "video":
            ts, payloads = i * 3000, _packetize("h264", video[i], i)
        else:
            ts, payloads = i * 960, [audio[i]]
            if i in STEPS:  # a new sender report: the same RTP time, a moved wall clock
                report("audio", start + i * AUDIO_FRAME + offsets[i], ts)
        for j, payload in enumerate(payloads):
            marker = int(j == len(payloads) - 1)
            feeds[kind].send(RelayPacket(seq[kind], ts, marker, payload, False, 0.0))
            seq[kind] = (seq[kind] + 1) & 0xFFFF
        if n % 20 == 0:
            await asyncio.sleep(0.01)  # about real time's pace for the writer
    directory = recorder.active["cam"].directory
    dropped = recorder.active["cam"].dropped_frames
    await recorder.close()
    manifest = mf.load(directory)
    assert manifest.state == "closed"
    assert [c.kind for c in manifest.continuity] == [], manifest.continuity
    assert dropped == 0
    assert len(manifest.segments) == seconds // 2, manifest.segments
    assert manifest.open_segments == []
    for seg in manifest.segments:
        _decodes_cleanly(directory / seg.file)
