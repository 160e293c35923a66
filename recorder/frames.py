"""Reassembling whole encoded frames from forwarded RTP packets (VP8, H.264, Opus).

Packets arrive in the gateway's gap-free relay numbering, occasionally reordered or
repaired late by NACK. A small reorder buffer waits briefly for a hole to fill; a hole
that stays is a loss: the damaged frame is dropped and video resumes at the next keyframe.
Nothing here blocks or sleeps; the caller owns time.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc.codecs.h264 import H264PayloadDescriptor

from bitstream import vp8_descriptor


@dataclass
class EncodedFrame:
    timestamp: int  # RTP timestamp, unwrapped to 64 bits
    data: bytes
    keyframe: bool
    arrival: float  # wall clock (time.time()) of its first packet


@dataclass
class Loss:
    """Packets that never came; frames were dropped from `since` (wall clock)."""

    since: float
    packets: int


class _Unwrapper:
    def __init__(self) -> None:
        self._last: int | None = None
        self._cycles = 0

    def __call__(self, ts: int) -> int:
        if self._last is not None:
            if ts < self._last and self._last - ts > 0x80000000:
                self._cycles += 1
            elif ts > self._last and ts - self._last > 0x80000000:
                return ts + ((self._cycles - 1) << 32)  # late packet from before a wrap
        self._last = ts
        return ts + (self._cycles << 32)


def _h264_has_idr(annexb: bytes) -> bool:
    i = annexb.find(b"\x00\x00\x01")
    while i >= 0 and i + 3 < len(annexb):
        if annexb[i + 3] & 0x1F == 5:
            return True
        i = annexb.find(b"\x00\x00\x01", i + 3)
    return False


def _vp8_depayload(payload: bytes) -> tuple[bool, bytes]:
    start, offset = vp8_descriptor(payload)
    return start, payload[offset:]


def _h264_depayload(payload: bytes) -> tuple[bool, bytes]:
    hdesc, data = H264PayloadDescriptor.parse(payload)
    return bool(hdesc.first_fragment), data


def _whole(payload: bytes) -> tuple[bool, bytes]:
    return True, payload


# (starts a frame, the frame's bytes in this packet), per codec: chosen once per track.
_DEPAYLOADERS = {"video/vp8": _vp8_depayload, "video/h264": _h264_depayload}


class FrameAssembler:
    """push(packet fields) -> completed frames and losses, in order."""

    def __init__(self, mime: str, max_wait: float = 0.3, max_buffered: int = 512) -> None:
        self.mime = mime.lower()
        self.video = self.mime.startswith("video/")
        self._depayload = _DEPAYLOADERS.get(self.mime, _whole)
        self._max_wait = max_wait
        self._max_buffered = max_buffered
        self._buffer: dict[int, tuple[int, int, bytes, float]] = {}
        self._next: int | None = None
        self._unwrap = _Unwrapper()
        self._parts: list[bytes] = []
        self._frame_ts: int | None = None
        self._frame_arrival = 0.0
        self._frame_ok = False
        self._need_keyframe = self.video
        self.frames = 0
        self.lost_packets = 0

    def push(
        self, seq: int, timestamp: int, marker: int, payload: bytes, arrival: float
    ) -> list[EncodedFrame | Loss]:
        out: list[EncodedFrame | Loss] = []
        if seq == self._next and not self._buffer:  # the common case: in order
            self._next = (seq + 1) & 0xFFFF
            self._consume(timestamp, marker, payload, arrival, out)
            return out
        if self._next is None:
            self._next = seq
        elif ((seq - self._next) & 0xFFFF) >= 0x8000:
            return out  # older than what we already consumed: a late duplicate
        self._buffer[seq] = (timestamp, marker, payload, arrival)
        self._drain(out)
        if self._buffer:
            oldest = min(v[3] for v in self._buffer.values())
            if len(self._buffer) > self._max_buffered or arrival - oldest > self._max_wait:
                self._skip_hole(out, arrival)
                self._drain(out)
        return out

    def _drain(self, out: list[EncodedFrame | Loss]) -> None:
        assert self._next is not None
        while (item := self._buffer.pop(self._next, None)) is not None:
            self._next = (self._next + 1) & 0xFFFF
            self._consume(*item, out)

    def _skip_hole(self, out: list[EncodedFrame | Loss], now: float) -> None:
        assert self._next is not None
        nxt = self._next
        first = min(self._buffer, key=lambda s: (s - nxt) & 0xFFFF)
        missing = (first - nxt) & 0xFFFF
        self.lost_packets += missing
        self._next = first
        self._frame_ok = False  # the frame in progress is damaged
        if self.video:
            self._need_keyframe = True
        out.append(Loss(since=self._frame_arrival or now, packets=missing))

    def _consume(
        self,
        timestamp: int,
        marker: int,
        payload: bytes,
        arrival: float,
        out: list[EncodedFrame | Loss],
    ) -> None:
        ts = self._unwrap(timestamp)
        if self._frame_ts is not None and ts != self._frame_ts:
            self._finish(out)  # a new timestamp without a marker on the previous frame
        if self._frame_ts is None:
            self._frame_ts = ts
            self._frame_arrival = arrival
            self._parts = []
            self._frame_ok = True
        try:
            start, data = self._depayload(payload)
        except ValueError:
            self._frame_ok = False
            data, start = b"", False
        if not self._parts and self.video and not start:
            self._frame_ok = False  # we never saw this frame's first packet
        self._parts.append(data)
        if marker or not self.video:
            self._finish(out)

    def _finish(self, out: list[EncodedFrame | Loss]) -> None:
        data = b"".join(self._parts)
        ts, ok = self._frame_ts, self._frame_ok and bool(data)
        self._frame_ts, self._parts = None, []
        if not ok or ts is None:
            return
        if self.mime == "video/vp8":
            key = not data[0] & 0x01
        elif self.mime == "video/h264":
            key = _h264_has_idr(data)
        else:
            key = True
        if self._need_keyframe:
            if not key:
                return
            self._need_keyframe = False
        self.frames += 1
        out.append(EncodedFrame(ts, data, key, self._frame_arrival))
