"""Consumer: one outgoing track to one viewer, rewritten from a Producer's packets."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Protocol

from .packet import RelayPacket
from .producer import ForwardingStats, Producer, ntp_now
from .rtp import HEADER_SIZE, MAX_PLAIN_RTP, pack_header, seq_diff

logger = logging.getLogger(__name__)


class RtpOutput(Protocol):
    """Where a consumer's packets go: an SRTP-protected socket, in practice."""

    def ready(self) -> bool: ...

    def send_rtp(self, data: bytes) -> bool:
        """Send one plain RTP packet now; False when dropped (not connected, congested)."""
        ...

    def set_sender_info(self, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        """What the next RTCP sender report for this track should say."""
        ...


class Consumer:
    """Forwards a producer's packets with this viewer's SSRC, payload type, sequence
    and timestamp base, starting on a keyframe; answers the viewer's NACKs from the
    producer's cache and passes its keyframe requests upstream."""

    def __init__(
        self,
        consumer_id: str,
        producer: Producer,
        output: RtpOutput,
        payload_type: int,
        ssrc: int,
        extension_block: bytes = b"",
    ) -> None:
        self.id = consumer_id
        self.producer = producer
        self.kind = producer.kind
        self.closed = False
        self._output = output
        self._pt = payload_type
        self._ssrc = ssrc
        self._ext = extension_block
        # A payload too long to carry our extension within MAX_PLAIN_RTP goes without it,
        # so a publisher's packet within that budget stays within it. The viewer knows
        # our SSRC from the SDP answer's a=ssrc: it needs no MID on that packet.
        self._ext_room = MAX_PLAIN_RTP - HEADER_SIZE - len(extension_block)
        self._started = False
        self._start_seq = 0
        self._seq_off = 0
        self._ts_off = random.getrandbits(32)
        self._on_close: list[Callable[[Consumer], None]] = []
        # stats
        self.packets_sent = 0
        self.bytes_sent = 0
        self.dropped = 0
        self.waiting_dropped = 0
        self.retransmitted = 0
        self.nack_misses = 0
        self.keyframe_requests = 0
        self.nacks = 0
        producer.add_sink(self)
        producer.add_forwarder(self)

    # ---- forwarding (hot path) ----

    def send(self, packet: RelayPacket) -> None:
        if not self._started:
            if not packet.keyframe_start or not self._output.ready():
                self.waiting_dropped += 1
                return
            self._started = True
            self._start_seq = packet.seq
            self._seq_off = (random.getrandbits(15) - packet.seq) & 0xFFFF
        elif (packet.seq - self._start_seq) & 0xFFFF >= 0x8000:  # seq_diff < 0, inlined
            return  # older than our first packet: the viewer cannot use it
        self._emit(packet)

    def _emit(self, packet: RelayPacket) -> bool:
        # Once per packet per viewer: write_header inlined (the extension block, when it
        # fits, sets the X bit: 0x90).
        payload = packet.payload
        n = len(payload)
        if n <= self._ext_room and self._ext:
            first, ext = 0x90, self._ext
        else:
            first, ext = 0x80, b""
        data = (
            pack_header(
                first,
                (packet.marker << 7) | self._pt,
                (packet.seq + self._seq_off) & 0xFFFF,
                (packet.timestamp + self._ts_off) & 0xFFFFFFFF,
                self._ssrc,
            )
            + ext
            + payload
        )
        if self._output.send_rtp(data):
            self.packets_sent += 1
            self.bytes_sent += n
            return True
        self.dropped += 1
        return False

    def sender_report(self, ntp: int, rtp_timestamp: int) -> None:
        pass  # consumers read the producer's mapping when they refresh their own SR

    # ---- feedback from the viewer ----

    def on_nack(self, seqs: list[int]) -> None:
        self.nacks += 1
        if not self._started:
            return
        for seq in seqs:
            relay_seq = (seq - self._seq_off) & 0xFFFF
            packet = self.producer.cached(relay_seq)
            if packet is None or seq_diff(relay_seq, self._start_seq) < 0:
                self.nack_misses += 1
                continue
            if self._emit(packet):
                self.retransmitted += 1

    def on_keyframe_request(self) -> None:
        self.keyframe_requests += 1
        self.producer.request_keyframe()

    def start(self) -> None:
        """The viewer's transport is up: ask for a keyframe so it sees video at once."""
        self.producer.request_keyframe()

    def refresh_sender_report(self) -> None:
        """Give the RTCP sender report a fresh NTP <-> RTP pair in this track's timebase."""
        if not self._started:
            return
        ntp = ntp_now()
        rtp = self.producer.rtp_time_at(ntp)
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

    def on_close(self, callback: Callable[[Consumer], None]) -> None:
        self._on_close.append(callback)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.producer.remove_sink(self)
        self.producer.remove_forwarder(self)
        for cb in self._on_close:
            cb(self)
