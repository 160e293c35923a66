"""TrackFeed: the recorder's input for one track. It takes relay packets from whoever
forwards them (the gateway's Producer today, an agent's spool tomorrow), reassembles
frames and puts each on the recording's wall-clock timeline.

A recording's wall clock is trusted time (the archive's coverage, an evidence copy's
burned-in clock), so a frame is never put where the node's own clock says it cannot be:
one whose wall clock is more than `max_skew` seconds from its arrival (a sender report
from a wrong clock, a timestamp jump) is put at its arrival instead, and the feed follows
its RTP clock from there, and says so (`on_clock`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from .frames import EncodedFrame, FrameAssembler, Loss

NTP_EPOCH_OFFSET = 2208988800


class RelayPacketLike(Protocol):
    seq: int
    timestamp: int
    marker: int
    payload: bytes


OnFrame = Callable[[str, EncodedFrame, float], None]  # kind, frame, wall clock
OnLoss = Callable[[str, Loss], None]
OnClock = Callable[[str, float, float], None]  # kind, implausible wall clock, arrival


class TrackFeed:
    def __init__(
        self,
        kind: str,
        mime: str,
        clock_rate: int,
        on_frame: OnFrame,
        on_loss: OnLoss,
        on_end: Callable[[TrackFeed], None],
        max_skew: float = 0.0,
        on_clock: OnClock | None = None,
    ) -> None:
        self.kind = kind
        self.mime = mime.lower()
        self.clock_rate = clock_rate
        self.closed = False
        self._assembler = FrameAssembler(mime)
        self._on_frame = on_frame
        self._on_loss = on_loss
        self._on_end = on_end
        self.max_skew = max_skew  # 0: wall clocks are not checked against arrival
        self._on_clock: OnClock = on_clock or (lambda kind, wall, arrival: None)
        self.reanchored = 0  # frames put at their arrival, sender reports refused
        self._last: tuple[float, int] | None = None  # newest frame (arrival, ts64)
        self._sr: tuple[float, int] | None = None  # (wall seconds, rtp timestamp)
        self._anchor: tuple[float, int] | None = None  # first frame (arrival, ts64)

    # PacketSink
    def send(self, packet: RelayPacketLike) -> None:
        if self.closed:
            return
        now = time.time()
        for item in self._assembler.push(
            packet.seq, packet.timestamp, packet.marker, packet.payload, now
        ):
            if isinstance(item, Loss):
                self._on_loss(self.kind, item)
            else:
                self._on_frame(self.kind, item, self.wall_clock(item))

    def sender_report(self, ntp: int, rtp_timestamp: int) -> None:
        if ntp == 0:
            # aiortc's sender reports before its first packet is sent: NTP 0 (1900) and
            # RTP 0, no mapping at all (its video waits for a keyframe, often past one).
            return
        sr = (ntp / (1 << 32) - NTP_EPOCH_OFFSET, rtp_timestamp)
        if self.max_skew and self._last is not None:
            arrival, ts = self._last
            wall = self._mapped(sr, ts)
            if abs(wall - arrival) > self.max_skew:
                self.reanchored += 1  # a clock that is not this stream's: keep ours
                self._on_clock(self.kind, wall, arrival)
                return
        self._sr = sr

    def adopt_clock(self, other: TrackFeed) -> None:
        """Take another feed's latest sender report (a feed cut over from it): the first
        frames are on the publisher's clock at once, not on their arrival time."""
        if self._sr is None:
            self._sr = other._sr

    def wall_clock(self, frame: EncodedFrame) -> float:
        """When the frame was captured: from the publisher's sender report if we have
        one (keeps audio and video aligned), else from its arrival; its arrival when
        that is implausible (more than max_skew away)."""
        self._last = (frame.arrival, frame.timestamp)
        if self._sr is not None:
            wall = self._mapped(self._sr, frame.timestamp)
        else:
            if self._anchor is None:
                self._anchor = (frame.arrival, frame.timestamp)
            wall = self._anchor[0] + (frame.timestamp - self._anchor[1]) / self.clock_rate
        if self.max_skew and abs(wall - frame.arrival) > self.max_skew:
            # Re-anchored: from here on its RTP clock from this arrival, until a sender
            # report that agrees with the node's clock.
            self._sr = None
            self._anchor = (frame.arrival, frame.timestamp)
            self.reanchored += 1
            self._on_clock(self.kind, wall, frame.arrival)
            return frame.arrival
        return wall

    def _mapped(self, sr: tuple[float, int], timestamp: int) -> float:
        sr_wall, sr_rtp = sr
        d = (timestamp - sr_rtp) & 0xFFFFFFFF
        if d >= 0x80000000:
            d -= 0x100000000
        return sr_wall + d / self.clock_rate

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._on_end(self)
