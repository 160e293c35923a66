"""Producer: one incoming encoded track, fanned out to consumers and sinks."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .codecs import CodecInfo
from .keyframes import KeyframeRequester
from .packet import PacketCache, RelayPacket
from .rtp import keyframe_size, keyframe_start_test
from .seqmap import SeqMapper

logger = logging.getLogger(__name__)

NTP_EPOCH_OFFSET = 2208988800


def ntp_now() -> int:
    return int((time.time() + NTP_EPOCH_OFFSET) * (1 << 32))


class PacketSink(Protocol):
    """Anything that takes relay packets: a Consumer, a recorder sink."""

    def send(self, packet: RelayPacket) -> None: ...

    def sender_report(self, ntp: int, rtp_timestamp: int) -> None:
        """The publisher's RTP <-> wall-clock mapping (RTCP SR)."""
        ...

    def close(self) -> None: ...


class IngressStats(Protocol):
    """What the publisher's receive path knows and the producer does not: RTP packets
    that never arrived, and the NACKs sent to the publisher for them."""

    @property
    def packets_lost(self) -> int: ...

    @property
    def nacks_sent(self) -> int: ...


@dataclass
class ForwardingStats:
    """What consumers sent their viewers, and the feedback they had from them."""

    packets_sent: int = 0
    bytes_sent: int = 0
    dropped: int = 0  # not sent: the viewer's transport not ready, or its buffer full
    retransmitted: int = 0  # answers to the viewers' NACKs
    nacks_received: int = 0  # NACK messages from the viewers
    keyframe_requests_received: int = 0  # PLI/FIR from the viewers

    def add(self, other: ForwardingStats) -> None:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


class Forwarder(Protocol):
    """A sink that forwards to a viewer and counts it (a Consumer)."""

    def forwarding_stats(self) -> ForwardingStats: ...


class Producer:
    """An incoming track, never decoded: packets in, the same payloads out to every sink.

    `request_keyframe_upstream` sends a PLI to the publisher; calls are coalesced here.
    """

    def __init__(
        self,
        producer_id: str,
        codec: CodecInfo,
        request_keyframe_upstream: Callable[[], None],
        cache_size: int = 1024,
    ) -> None:
        self.id = producer_id
        self.codec = codec
        self.kind = codec.kind
        self.closed = False
        self._seq = SeqMapper()
        self._cache = PacketCache(cache_size if self.kind == "video" else 256)
        self._keyframes = KeyframeRequester(request_keyframe_upstream)
        self._sinks: list[PacketSink] = []
        self._on_close: list[Callable[[Producer], None]] = []
        # RTP <-> wall clock, from the publisher's sender reports (for lip sync downstream)
        self._sr_ntp = 0
        self._sr_rtp = 0
        self._last_ts = 0
        self._last_arrival_mono = 0.0
        self._video = self.kind == "video"
        self._keyframe_start = keyframe_start_test(codec.mime)
        # stats
        self.since = time.time()
        self.packets = 0
        self.bytes = 0
        self.frames = 0
        self.keyframes = 0
        self.padding_dropped = 0
        self.ingress: IngressStats | None = None  # set by the peer that feeds this producer
        self._forwarders: list[Forwarder] = []
        self._forwarded_before = ForwardingStats()  # by consumers that closed
        self.width: int | None = None
        self.height: int | None = None
        self._rate_window_start = time.monotonic()
        self._rate_bytes = 0
        self._rate_frames = 0
        self.bitrate = 0.0
        self.fps = 0.0

    # ---- input (called by the ingest hook, on the event loop) ----

    def receive(self, seq: int, timestamp: int, marker: int, payload: bytes) -> None:
        # Hot path, once per published packet: locals, no string compares, one clock read.
        if self.closed:
            return
        relay_seq = self._seq.map(seq, not payload)
        if relay_seq is None:
            if not payload:
                self.padding_dropped += 1
            return
        now = time.monotonic()
        video = self._video
        key = not video or self._keyframe_start(payload)
        packet = RelayPacket(relay_seq, timestamp, marker, payload, key, now)
        self._cache.put(packet)
        self.packets += 1
        n = len(payload)
        self.bytes += n
        self._rate_bytes += n
        self._last_ts = timestamp
        self._last_arrival_mono = now
        if marker:
            self.frames += 1
            self._rate_frames += 1
        if key and video:
            self.keyframes += 1
            self._keyframes.keyframe_received()
            size = keyframe_size(self.codec.mime, payload)
            if size:
                self.width, self.height = size
        if now - self._rate_window_start >= 1.0:
            self._close_rate_window(now)
        for sink in self._sinks:
            sink.send(packet)

    def _close_rate_window(self, now: float) -> None:
        elapsed = now - self._rate_window_start
        self.bitrate = self._rate_bytes * 8 / elapsed
        self.fps = self._rate_frames / elapsed
        self._rate_bytes = self._rate_frames = 0
        self._rate_window_start = now

    @property
    def _last_arrival(self) -> float:
        """Wall clock of the newest packet (0 before the first): read rarely, so the hot
        path keeps only the monotonic clock and this converts."""
        if not self._last_arrival_mono:
            return 0.0
        return time.time() - (time.monotonic() - self._last_arrival_mono)

    def on_sender_report(self, ntp: int, rtp_timestamp: int) -> None:
        if ntp == 0:
            # aiortc's reports before its first RTP packet: NTP 0 (1900), RTP 0, no
            # mapping at all. Dropped here, once, for every sink (consumers, recorder).
            return
        self._sr_ntp, self._sr_rtp = ntp, rtp_timestamp
        for sink in self._sinks:
            sink.sender_report(ntp, rtp_timestamp)

    # ---- services for consumers ----

    def rtp_time_at(self, ntp: int) -> int | None:
        """The publisher's RTP timestamp for wall-clock `ntp`, from its latest SR."""
        if self._sr_ntp:
            delta = (ntp - self._sr_ntp) / (1 << 32)
            return (self._sr_rtp + round(delta * self.codec.clock_rate)) & 0xFFFFFFFF
        if self._last_arrival:
            wall = ntp / (1 << 32) - NTP_EPOCH_OFFSET
            delta = wall - self._last_arrival
            return (self._last_ts + round(delta * self.codec.clock_rate)) & 0xFFFFFFFF
        return None

    def cached(self, relay_seq: int) -> RelayPacket | None:
        return self._cache.get(relay_seq)

    def request_keyframe(self) -> None:
        if self.kind == "video" and not self.closed:
            self._keyframes.request()

    @property
    def keyframe_requests_sent(self) -> int:
        return self._keyframes.sent

    # ---- counters read at scrape time ----

    @property
    def packets_lost(self) -> int:
        return self.ingress.packets_lost if self.ingress is not None else 0

    @property
    def nacks_sent(self) -> int:
        return self.ingress.nacks_sent if self.ingress is not None else 0

    def add_forwarder(self, forwarder: Forwarder) -> None:
        self._forwarders.append(forwarder)

    def remove_forwarder(self, forwarder: Forwarder) -> None:
        """A consumer leaves: its counts stay in the producer's totals (they only grow)."""
        if forwarder in self._forwarders:
            self._forwarders.remove(forwarder)
            self._forwarded_before.add(forwarder.forwarding_stats())

    def forwarding(self) -> ForwardingStats:
        """Everything forwarded from this producer to viewers, those gone included."""
        total = dataclasses.replace(self._forwarded_before)
        for forwarder in self._forwarders:
            total.add(forwarder.forwarding_stats())
        return total

    # ---- topology ----

    def add_sink(self, sink: PacketSink) -> None:
        self._sinks.append(sink)

    def remove_sink(self, sink: PacketSink) -> None:
        if sink in self._sinks:
            self._sinks.remove(sink)

    @property
    def sinks(self) -> list[PacketSink]:
        return list(self._sinks)

    def on_close(self, callback: Callable[[Producer], None]) -> None:
        self._on_close.append(callback)

    def close(self) -> None:
        """Idempotent; closes every sink fed by this producer (consumers, recorder)."""
        if self.closed:
            return
        self.closed = True
        self._keyframes.close()
        sinks, self._sinks = self._sinks, []
        for sink in sinks:
            try:
                sink.close()
            except Exception:
                logger.exception("closing sink of producer %s", self.id)
        self._cache.clear()
        for cb in self._on_close:
            cb(self)
