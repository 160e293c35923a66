"""TrackFeed: the recorder's input for one track. It takes relay packets from whoever
forwards them (the gateway's Producer today, an agent's spool tomorrow), reassembles
frames and puts each on the recording's wall-clock timeline."""

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


class TrackFeed:
    def __init__(
        self,
        kind: str,
        mime: str,
        clock_rate: int,
        on_frame: OnFrame,
        on_loss: OnLoss,
        on_end: Callable[[TrackFeed], None],
    ) -> None:
        self.kind = kind
        self.mime = mime.lower()
        self.clock_rate = clock_rate
        self.closed = False
        self._assembler = FrameAssembler(mime)
        self._on_frame = on_frame
        self._on_loss = on_loss
        self._on_end = on_end
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
        self._sr = (ntp / (1 << 32) - NTP_EPOCH_OFFSET, rtp_timestamp)

    def adopt_clock(self, other: TrackFeed) -> None:
        """Take another feed's latest sender report (a feed cut over from it): the first
        frames are on the publisher's clock at once, not on their arrival time."""
        if self._sr is None:
            self._sr = other._sr

    def wall_clock(self, frame: EncodedFrame) -> float:
        """When the frame was captured: from the publisher's sender report if we have
        one (keeps audio and video aligned), else from its arrival."""
        if self._sr is not None:
            sr_wall, sr_rtp = self._sr
            d = (frame.timestamp - sr_rtp) & 0xFFFFFFFF
            if d >= 0x80000000:
                d -= 0x100000000
            return sr_wall + d / self.clock_rate
        if self._anchor is None:
            self._anchor = (frame.arrival, frame.timestamp)
        return self._anchor[0] + (frame.timestamp - self._anchor[1]) / self.clock_rate

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._on_end(self)
