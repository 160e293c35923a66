"""Simulcast: one viewer, one layer of a track sent in several (low to high).

Each received layer is its own Producer (cache, NACK answers, PLI per layer). A
SimulcastConsumer listens to all of a track's layers and forwards one. It changes layer
only on a keyframe of the layer it moves to (asking that layer for one), and keeps the
viewer's sequence numbers and timestamps continuous across the change, so the viewer's
decoder sees one stream whose resolution changes at a keyframe (mediasoup's
SimulcastConsumer does the same).

Which layer: the viewer's choice (`low`, `high`, or `auto`: the highest its bandwidth
allows). A layer the publisher stops sending gives way to the highest one still on,
until it comes back. With `auto`, the viewer's REMB estimate moves it down when it stays below the
layer's bitrate and is not climbing, and back up when it has room for the next layer, or
on a probe after a backoff that doubles each time a probe fails.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .consumer import RtpOutput
from .packet import RelayPacket
from .producer import ForwardingStats, Producer, ntp_now
from .rtp import HEADER_SIZE, MAX_PLAIN_RTP, seq_diff, write_header

logger = logging.getLogger(__name__)

# A layer with no packet for this long (s) is off (a publisher short of bandwidth turns
# its upper layers off): its viewers take the highest layer below it that is on.
ALIVE = 1.5

LayerChoice = Literal["low", "high", "auto"]
LAYER_CHOICES: tuple[LayerChoice, ...] = ("low", "high", "auto")


def ts_diff(a: int, b: int) -> int:
    """a - b for 32-bit RTP timestamps (wrapping)."""
    return ((a - b + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


@dataclass
class Adaptation:
    """How `auto` follows the viewer's bandwidth estimate."""

    warmup: float = 3.0  # s after start, and after any switch, before an estimate counts
    down_margin: float = 0.85  # below this share of the layer's bitrate...
    down_after: float = 2.0  # ...for this long (s), and not climbing: one layer down
    up_margin: float = 1.2  # room for the next layer's bitrate times this: one layer up
    probe_after: float = 10.0  # s down before trying the next layer up anyway
    probe_max: float = 80.0  # the backoff doubles per failed probe, up to this


@dataclass
class _Segment:
    """A run of the viewer's sequence numbers taken from one layer (NACK answers)."""

    out_start: int
    layer: int
    relay_start: int
    seq_off: int
    ts_off: int


class _LayerSink:
    """What a layer's Producer sees: packets tagged with the layer they come from."""

    def __init__(self, consumer: SimulcastConsumer, index: int) -> None:
        self._consumer = consumer
        self._index = index

    def send(self, packet: RelayPacket) -> None:
        self._consumer.on_layer_packet(self._index, packet)

    def sender_report(self, ntp: int, rtp_timestamp: int) -> None:
        self._consumer.on_layer_report(self._index, ntp, rtp_timestamp)

    def close(self) -> None:
        self._consumer.close()


class SimulcastConsumer:
    """One outgoing video track to one viewer, from one of a track's layers at a time.
    Same surface as Consumer: the peer, router and metrics treat both alike; its
    forwarding counts go to `track` (the publication's Producer of this track), if given.
    `on_report`: the forwarded layer's sender reports, in the viewer's timebase."""

    def __init__(
        self,
        consumer_id: str,
        layers: list[Producer],
        output: RtpOutput,
        payload_type: int,
        ssrc: int,
        extension_block: bytes = b"",
        choice: LayerChoice = "auto",
        adaptation: Adaptation | None = None,
        track: Producer | None = None,
        on_report: Callable[[int, int], None] | None = None,
    ) -> None:
        self.id = consumer_id
        self.layers = layers
        self.producer = track or layers[-1]
        self._track = track
        self._on_report = on_report
        self.kind = self.producer.kind
        self.closed = False
        self.choice = choice
        self._adapt = adaptation or Adaptation()
        self._output = output
        self._pt = payload_type
        self._ssrc = ssrc
        self._ext = extension_block
        self._ext_room = MAX_PLAIN_RTP - HEADER_SIZE - len(extension_block)
        top = len(layers) - 1
        self._preferred = 0 if choice == "low" else top
        self._ceiling = top  # what the bandwidth allows
        self.current: int | None = None  # the layer forwarded now
        self.target = self._preferred
        self._seen = [float("-inf")] * len(layers)  # each layer's latest packet
        self._asked = float("-inf")  # the latest keyframe request for a layer change
        self._segments: deque[_Segment] = deque(maxlen=4)
        self._seq_off = 0
        self._ts_off = random.getrandbits(32)
        self._relay_start = 0
        self._last_out_seq = 0
        self._last_out_ts = 0
        # bandwidth
        self._since = time.monotonic()
        self._switched_at = self._since
        self._low_since: float | None = None
        self._last_estimate = 0
        self._probe_backoff = self._adapt.probe_after
        self._probe_at: float | None = None
        self.estimate = 0  # the viewer's latest REMB, bit/s
        self._on_close: list[Callable[[SimulcastConsumer], None]] = []
        # stats
        self.packets_sent = 0
        self.bytes_sent = 0
        self.dropped = 0
        self.waiting_dropped = 0
        self.retransmitted = 0
        self.nack_misses = 0
        self.keyframe_requests = 0
        self.nacks = 0
        self.switches = 0
        self._sinks = [_LayerSink(self, i) for i in range(len(layers))]
        for producer, sink in zip(layers, self._sinks, strict=True):
            producer.add_sink(sink)
        if track is not None:
            track.add_forwarder(self)

    # ---- forwarding (hot path) ----

    def on_layer_packet(self, index: int, packet: RelayPacket) -> None:
        self._seen[index] = packet.arrival
        if index != self.current:
            if index > self.target or index != self._wanted(packet.arrival):
                if self.current is None:
                    self.waiting_dropped += 1
                return
            ready = self._output.ready()
            if not packet.keyframe_start or not ready:
                if self.current is None:
                    self.waiting_dropped += 1
                if ready and packet.arrival - self._asked >= ALIVE:
                    self._asked = packet.arrival  # the layer to move to: its keyframe, again
                    self.layers[index].request_keyframe()
                return
            self._switch(index, packet)
        elif seq_diff(packet.seq, self._relay_start) < 0:
            return  # older than the switch to this layer
        if self._emit(packet, self._seq_off, self._ts_off):
            out_seq = (packet.seq + self._seq_off) & 0xFFFF
            if seq_diff(out_seq, self._last_out_seq) > 0:
                self._last_out_seq = out_seq
                self._last_out_ts = (packet.timestamp + self._ts_off) & 0xFFFFFFFF

    def _wanted(self, now: float) -> int:
        """The target, or the highest layer under it that is on; at start, the target."""
        if now - self._since < ALIVE:
            return self.target
        for index in range(self.target, -1, -1):
            if now - self._seen[index] <= ALIVE:
                return index
        return self.target

    def _switch(self, index: int, packet: RelayPacket) -> None:
        """Start forwarding layer `index` at its keyframe `packet`, continuing the viewer's
        sequence and timestamp from what it had."""
        if self.current is None:
            self._seq_off = (random.getrandbits(15) - packet.seq) & 0xFFFF
        else:
            self._seq_off = (self._last_out_seq + 1 - packet.seq) & 0xFFFF
            # the same capture instant in both layers' RTP clocks (their sender reports,
            # or their arrival when there are none)
            ntp = ntp_now()
            old = self.layers[self.current].rtp_time_at(ntp)
            new = self.layers[index].rtp_time_at(ntp)
            if old is not None and new is not None:
                self._ts_off = (self._ts_off + old - new) & 0xFFFFFFFF
            # never backwards: at least one frame interval after the last picture sent
            frame = self.producer.codec.clock_rate // 30
            if ts_diff((packet.timestamp + self._ts_off) & 0xFFFFFFFF, self._last_out_ts) <= 0:
                self._ts_off = (self._last_out_ts + frame - packet.timestamp) & 0xFFFFFFFF
            self.switches += 1
            self._switched_at = time.monotonic()
            logger.debug("consumer %s: layer %s -> %s", self.id, self.current, index)
        self.current = index
        self._relay_start = packet.seq
        out_start = (packet.seq + self._seq_off) & 0xFFFF
        self._last_out_seq = (out_start - 1) & 0xFFFF
        self._segments.append(_Segment(out_start, index, packet.seq, self._seq_off, self._ts_off))

    def _emit(self, packet: RelayPacket, seq_off: int, ts_off: int) -> bool:
        data = (
            write_header(
                packet.marker,
                self._pt,
                (packet.seq + seq_off) & 0xFFFF,
                (packet.timestamp + ts_off) & 0xFFFFFFFF,
                self._ssrc,
                self._ext if len(packet.payload) <= self._ext_room else b"",
            )
            + packet.payload
        )
        if self._output.send_rtp(data):
            self.packets_sent += 1
            self.bytes_sent += len(packet.payload)
            return True
        self.dropped += 1
        return False

    def sender_report(self, ntp: int, rtp_timestamp: int) -> None:
        pass

    def on_layer_report(self, index: int, ntp: int, rtp_timestamp: int) -> None:
        if index == self.current and self._on_report is not None:
            self._on_report(ntp, (rtp_timestamp + self._ts_off) & 0xFFFFFFFF)

    # ---- choosing the layer ----

    def set_target(self) -> None:
        target = min(self._preferred, self._ceiling)
        if target != self.target:
            self.target = target
            if target != self.current:
                self.layers[target].request_keyframe()

    def on_bandwidth_estimate(self, bitrate: int) -> None:
        """The viewer's REMB: with `auto`, one layer down or up when it says so."""
        self.estimate = bitrate
        rising = bitrate > self._last_estimate * 1.01
        self._last_estimate = bitrate
        if self.choice != "auto" or self.current is None:
            return
        now = time.monotonic()
        a = self._adapt
        if now - max(self._since, self._switched_at) < a.warmup:
            return
        layer_rate = self.layers[self.current].bitrate
        if self.current > 0 and bitrate < layer_rate * a.down_margin and not rising:
            if self._low_since is None:
                self._low_since = now
            elif now - self._low_since >= a.down_after:
                self._low_since = None
                if (
                    self._probe_at is not None
                    and now - self._switched_at < 2 * a.down_after + a.warmup
                ):
                    self._probe_backoff = min(
                        self._probe_backoff * 2, a.probe_max
                    )  # a failed probe
                self._ceiling = self.current - 1
                self._probe_at = now + self._probe_backoff
                logger.info(
                    "consumer %s: estimate %d b/s under layer %d's %d b/s: down",
                    self.id,
                    bitrate,
                    self.current,
                    int(layer_rate),
                )
                self.set_target()
            return
        self._low_since = None
        if self._ceiling >= self._preferred:
            return
        upper = self.layers[self._ceiling + 1].bitrate
        if bitrate >= upper * a.up_margin or (self._probe_at is not None and now >= self._probe_at):
            self._ceiling += 1
            self._probe_at = now + self._probe_backoff if self._ceiling < self._preferred else None
            logger.info("consumer %s: estimate %d b/s: layer %d", self.id, bitrate, self._ceiling)
            self.set_target()

    # ---- feedback from the viewer ----

    def on_nack(self, seqs: list[int]) -> None:
        self.nacks += 1
        if self.current is None:
            return
        for seq in seqs:
            segment = next(
                (s for s in reversed(self._segments) if seq_diff(seq, s.out_start) >= 0), None
            )
            packet = None
            if segment is not None:
                relay_seq = (seq - segment.seq_off) & 0xFFFF
                if seq_diff(relay_seq, segment.relay_start) >= 0:
                    packet = self.layers[segment.layer].cached(relay_seq)
            if packet is None or segment is None:
                self.nack_misses += 1
                continue
            if self._emit(packet, segment.seq_off, segment.ts_off):
                self.retransmitted += 1

    def on_keyframe_request(self) -> None:
        self.keyframe_requests += 1
        self.layers[self.target].request_keyframe()
        if self.current is not None and self.current != self.target:
            self.layers[self.current].request_keyframe()

    def start(self) -> None:
        self.layers[self.target].request_keyframe()

    def refresh_sender_report(self) -> None:
        if self.current is None:
            return
        ntp = ntp_now()
        rtp = self.layers[self.current].rtp_time_at(ntp)
        if rtp is None:
            return
        self._output.set_sender_info(
            ntp, (rtp + self._ts_off) & 0xFFFFFFFF, self.packets_sent, self.bytes_sent
        )

    def forwarding_stats(self) -> ForwardingStats:
        return ForwardingStats(
            self.packets_sent,
            self.bytes_sent,
            self.dropped,
            self.retransmitted,
            self.nacks,
            self.keyframe_requests,
        )

    # ---- lifecycle ----

    def on_close(self, callback: Callable[[SimulcastConsumer], None]) -> None:
        self._on_close.append(callback)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for producer, sink in zip(self.layers, self._sinks, strict=True):
            producer.remove_sink(sink)
        if self._track is not None:
            self._track.remove_forwarder(self)
        for cb in self._on_close:
            cb(self)


class _FeedOutput:
    """An RtpOutput that hands the forwarded layer's packets to a Producer."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer

    def ready(self) -> bool:
        return True

    def send_rtp(self, data: bytes) -> bool:
        seq, ts = int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:8], "big")
        self._producer.receive(seq, ts, data[1] >> 7, data[HEADER_SIZE:])
        return True

    def set_sender_info(self, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        pass


def top_layer_track(track_id: str, layers: list[Producer]) -> Producer:
    """The track as one stream: a Producer carrying the highest layer that is on (the
    top one, or the next below while the publisher keeps it off: a browser short of
    bandwidth, or a camera too small for three layers), switched at keyframes like a
    viewer's. The recorder, relays, metrics and viewers of a single layer take it."""
    feed: list[SimulcastConsumer] = []

    def request_keyframe() -> None:
        if feed:
            feed[0].on_keyframe_request()

    track = Producer(track_id, layers[-1].codec, request_keyframe)
    consumer = SimulcastConsumer(
        f"{track_id}-top",
        layers,
        _FeedOutput(track),
        0,
        0,
        choice="high",
        on_report=track.on_sender_report,
    )
    feed.append(consumer)
    consumer.on_close(lambda _: track.close())
    track.on_close(lambda _: consumer.close())
    return track
