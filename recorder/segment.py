"""One segment file: remux encoded frames with PyAV, no transcoding. Blocking: every
method runs on the recording's writer thread, never on the event loop.

The file is written as `seg-NNNNNN.ext.part`, then closed, fsynced and renamed, so a
file with its final name is always complete.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .manifest import fsync_dir

# Each stream's timestamps are counted in the time base its muxer really keeps, or
# the "strictly rising" guard in write() is void: two stamps one tick apart in a finer
# base can round to the same tick when PyAV rescales them, and the muxer then refuses
# the packet (EINVAL). Matroska counts in milliseconds; MP4 keeps the RTP clock for
# video and the sample rate (Opus: always 48 kHz) for audio.
_TIME_BASE = {
    ("webm", "video"): Fraction(1, 1000),
    ("webm", "audio"): Fraction(1, 1000),
    ("mp4", "video"): Fraction(1, 90000),
    ("mp4", "audio"): Fraction(1, 48000),
}
_VIDEO_CODEC = {"video/vp8": "vp8", "video/h264": "h264"}


@dataclass(frozen=True)
class TrackSpec:
    kind: str  # "video" | "audio"
    mime: str  # "video/vp8", "video/h264", "audio/opus"
    width: int | None = None
    height: int | None = None


def container_for(mimes: list[str]) -> str:
    return "mp4" if "video/h264" in mimes else "webm"


def segment_name(index: int, container: str) -> str:
    return f"seg-{index:06d}.{container}"


class SegmentFile:
    def __init__(self, directory: Path, index: int, container: str, tracks: list[TrackSpec]):
        self.index = index
        self.container = container
        self.path = directory / segment_name(index, container)
        self.part = self.path.with_name(self.path.name + ".part")
        # Written so that a crash leaves a readable prefix: WebM clusters and MP4
        # fragments of at most a second each.
        options = (
            {"movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "1000000"}
            if container == "mp4"
            else {"cluster_time_limit": "1000"}
        )
        self._out = av.open(str(self.part), "w", format=container, options=options)
        self._streams: dict[str, av.stream.Stream] = {}
        self._last_dts: dict[str, int] = {}
        for t in tracks:
            if t.kind == "video":
                s = self._out.add_mux_stream(
                    _VIDEO_CODEC[t.mime], width=t.width or 1280, height=t.height or 720
                )
            else:
                # An opened (never used) libopus context gives the stream its OpusHead.
                s = self._out.add_stream("libopus", rate=48000, layout="stereo")
            s.time_base = _TIME_BASE[container, t.kind]
            self._streams[t.kind] = s
        self.first_wall: float | None = None
        self.last_wall: float | None = None
        self._last_by_kind: dict[str, float] = {}
        self._count_by_kind: dict[str, int] = {}
        self.frames = 0

    def write(self, kind: str, data: bytes, wall: float, base_wall: float, keyframe: bool) -> None:
        """Mux one frame at wall-clock `wall` (seconds); `base_wall` is the segment's t=0."""
        stream = self._streams.get(kind)
        if stream is None:
            return
        tb = _TIME_BASE[self.container, kind]
        pts = max(0, round((wall - base_wall) / tb))
        last = self._last_dts.get(kind)
        if last is not None and pts <= last:
            pts = last + 1  # muxers need strictly rising timestamps per stream
        self._last_dts[kind] = pts
        packet = av.Packet(data)
        packet.stream = stream
        packet.pts = packet.dts = pts
        packet.time_base = tb
        packet.is_keyframe = keyframe
        self._out.mux(packet)
        if self.first_wall is None or wall < self.first_wall:
            self.first_wall = wall
        if self.last_wall is None or wall > self.last_wall:
            self.last_wall = wall
        self._last_by_kind[kind] = max(wall, self._last_by_kind.get(kind, wall))
        self._count_by_kind[kind] = self._count_by_kind.get(kind, 0) + 1
        self.frames += 1

    def end_wall(self) -> float:
        """Wall clock where this segment's media ends: its last frame plus one frame."""
        first = self.first_wall or 0.0
        end = first
        for kind, last in self._last_by_kind.items():
            n = self._count_by_kind[kind]
            frame = (last - first) / (n - 1) if n > 1 else 0.0
            end = max(end, last + frame)
        return end

    def finish(self) -> Path:
        """Close, fsync, rename to the final name; returns it."""
        self._out.close()
        fd = os.open(self.part, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.part, self.path)
        fsync_dir(self.path.parent)
        return self.path

    def abandon(self) -> None:
        """Close without publishing (used when the disk failed under us)."""
        with contextlib.suppress(Exception):
            self._out.close()
