"""Ingress: a publisher-side receiver's RTP goes to a Producer, never to the decoder;
and SRTP media is handled in the socket callback (the fast path)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.rtcdtlstransport import (
    RTCDtlsTransport,
)
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RtcpPsfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)

from ..nacks import NackTracker
from .remb import BurstEstimator
from .srtp import unprotector

logger = logging.getLogger(__name__)

OnPacket = Callable[[RTCRtpCodecParameters, RtpPacket], None]
OnSenderReport = Callable[[int, int, int], None]  # ssrc, ntp, rtp timestamp

# Fast ingress: datagrams read ahead of the fan-out at most (a few 300 KB keyframes; a
# node that cannot keep up for longer lets the kernel drop rather than queue seconds of
# media), seconds of work per turn of the event loop (the rest of a burst waits for the
# next turn), and how often, in seconds, the socket is read ahead during a fan-out.
INGRESS_PENDING = 1024
INGRESS_BUDGET = 0.005
INGRESS_READ_EVERY = 0.0005

_RX = "_RTCRtpReceiver__"


class RtpTap(Protocol):
    """What the fast path hands a receiver's packets to (IngestTap, SimulcastIngestTap)."""

    @property
    def payload_types(self) -> list[int]: ...

    def process(self, packet: RtpPacket, arrival_time_ms: int) -> None: ...


# ---------------------------------------------------------------- ingress


def _repaired(
    rtx: RTCRtpCodecParameters, codecs: dict[int | None, RTCRtpCodecParameters]
) -> int | None:
    apt = rtx.parameters.get("apt")
    return apt if isinstance(apt, int) and apt in codecs else None


class SenderReports:
    """A receiver's RTCP sender reports, each to its own track only: the SSRC whose RTP
    the tap forwards. aiortc routes a report to a receiver by any SSRC it knows for it
    (its RTX stream's too), and a report that arrives before the first RTP packet names
    the media SSRC we have not yet learnt: the latest report of each other SSRC is kept
    (a few) and delivered once that SSRC turns out to be the track's."""

    KEEP = 8

    def __init__(self, deliver: OnSenderReport) -> None:
        self.deliver = deliver
        self.media_ssrc: int | None = None
        self.held: dict[int, tuple[int, int]] = {}  # ssrc -> (ntp, rtp) before it was known

    def media(self, ssrc: int) -> None:
        """The track's RTP comes from `ssrc` (its first packet)."""
        self.media_ssrc = ssrc
        held, self.held = self.held.get(ssrc), {}
        if held is not None:
            self.deliver(ssrc, *held)

    def report(self, packet: RtcpSrPacket) -> None:
        info = packet.sender_info
        if self.media_ssrc is None:
            self.held.pop(packet.ssrc, None)
            if len(self.held) < self.KEEP:
                self.held[packet.ssrc] = (info.ntp_timestamp, info.rtp_timestamp)
        elif packet.ssrc == self.media_ssrc:
            self.deliver(packet.ssrc, info.ntp_timestamp, info.rtp_timestamp)


class IngestTap:
    """Takes over a receiver's RTP handling: stats for RTCP RR, RTX unwrap, NACKs,
    REMB, then hands the packet to `on_packet` instead of decoding it."""

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        codecs: Sequence[RTCRtpCodecParameters],
        on_packet: OnPacket,
        on_sender_report: OnSenderReport,
    ) -> None:
        self._receiver = receiver
        self._codecs = {c.payloadType: c for c in codecs}
        # RTX payload type -> the payload type it repairs (None: not one we receive)
        self._rtx: dict[int | None, int | None] = {
            c.payloadType: _repaired(c, self._codecs)
            for c in codecs
            if c.mimeType.lower() == "video/rtx"
        }
        self._on_packet = on_packet
        self._reports = SenderReports(on_sender_report)
        self._video = getattr(receiver, _RX + "kind") == "video"
        self._nack = NackTracker() if self._video else None
        self._remb = BurstEstimator(self._send_remb) if self._video else None
        self._streams: dict[int, StreamStatistics] = getattr(receiver, _RX + "remote_streams")
        self._rtx_ssrc: dict[int, int] = getattr(receiver, _RX + "rtx_ssrc")
        self.media_ssrc: int | None = None
        self.nacks_sent = 0
        self._original_rtcp = receiver._handle_rtcp_packet
        self._tasks: set[asyncio.Future[None]] = set()
        receiver._handle_rtp_packet = self._handle_rtp  # type: ignore[method-assign]
        receiver._handle_rtcp_packet = self._handle_rtcp  # type: ignore[method-assign]

    async def _handle_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.process(packet, arrival_time_ms)

    def process(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        """Synchronous: RTCP it causes (REMB, NACK) is sent from a task. Once per published
        packet: what can be decided per payload type was decided in __init__."""
        pt = packet.payload_type
        codec = self._codecs.get(pt)
        if codec is None:
            return
        ssrc = packet.ssrc
        stats = self._streams.get(ssrc)
        if stats is None:
            stats = self._streams[ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        remb = self._remb
        if remb is not None:
            abs_send_time = packet.extensions.abs_send_time
            if abs_send_time is not None:
                remb.add(
                    arrival_time_ms, abs_send_time, len(packet.payload) + packet.padding_size, ssrc
                )
        if pt in self._rtx:
            original = self._rtx_ssrc.get(ssrc, self.media_ssrc)
            apt = self._rtx[pt]
            if original is None or len(packet.payload) < 2 or apt is None:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original)
            codec = self._codecs[apt]
            ssrc = original
        if ssrc != self.media_ssrc:
            if self.media_ssrc is not None:
                return
            self.media_ssrc = ssrc
            self._reports.media(ssrc)
        nack = self._nack
        if nack is not None and nack.add(packet.sequence_number):
            self.nacks_sent += 1
            self._spawn(self._receiver._send_rtcp_nack(ssrc, sorted(nack.missing)))
        self._on_packet(codec, packet)

    def _send_remb(self, estimate: tuple[int, list[int]]) -> None:
        rtcp_ssrc = getattr(self._receiver, _RX + "rtcp_ssrc")
        if rtcp_ssrc is not None:
            self._spawn(
                self._receiver._send_rtcp(
                    RtcpPsfbPacket(
                        fmt=RTCP_PSFB_APP,
                        ssrc=rtcp_ssrc,
                        media_ssrc=0,
                        fci=pack_remb_fci(*estimate),
                    )
                )
            )

    @property
    def packets_lost(self) -> int:
        """The media stream's packets never received (RFC 3550 cumulative loss: a packet
        retransmitted after a NACK is not lost)."""
        stats = self._streams.get(self.media_ssrc) if self.media_ssrc is not None else None
        return max(0, stats.packets_lost) if stats is not None else 0

    @property
    def payload_types(self) -> list[int]:
        return [pt for pt in self._codecs if pt is not None]

    async def _handle_rtcp(self, packet: Any) -> None:
        await self._original_rtcp(packet)
        if isinstance(packet, RtcpSrPacket):
            self._reports.report(packet)

    def request_keyframe(self) -> None:
        if self.media_ssrc is not None:
            self._spawn(self._receiver._send_rtcp_pli(self.media_ssrc))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


# ---------------------------------------------------------------- ingress fast path


def fast_ingress(
    pc: RTCPeerConnection,
    taps: Sequence[RtpTap],
    pending: int | None = None,
    budget: float | None = None,
) -> None:
    """SRTP media handled in the socket's datagram callback instead of aiortc's path
    (aioice STUN-parse attempt, asyncio.Queue, a task wake-up and five awaits per packet),
    and the rest of a burst read from the socket without going back to the event loop.
    STUN, DTLS and SRTCP still take aiortc's path.

    Receiving comes first: a keyframe burst arrives faster than it is fanned out to many
    viewers, so the socket is read empty into a queue (up to `pending` datagrams) between
    packets' fan-outs, every INGRESS_READ_EVERY seconds, instead of after the whole burst;
    the kernel's buffer then only holds what arrives in that time. After `budget` seconds
    of work the rest of the queue waits for the next turn of the event loop, so other
    publishers, RTCP and signaling are not held up by one burst."""
    routes = {pt: tap for tap in taps for pt in tap.payload_types}
    if not routes:
        return
    for t in pc.getTransceivers():
        dtls = t.receiver.transport
        for proto in dtls.transport._connection._protocols:
            if getattr(proto, "_vdispatch_fast", False) or proto.transport is None:
                continue
            proto._vdispatch_fast = True  # type: ignore[attr-defined]
            _FastIngress(
                proto,
                dtls,
                routes,
                INGRESS_PENDING if pending is None else pending,
                INGRESS_BUDGET if budget is None else budget,
            )


class _FastIngress:
    def __init__(
        self,
        proto: Any,
        dtls: RTCDtlsTransport,
        routes: dict[int, RtpTap],
        pending: int,
        budget: float,
    ):
        self._original = proto.datagram_received
        self._dtls = dtls
        self._routes = routes
        self._max_pending = pending
        self._budget = budget
        self._queue: deque[tuple[bytes, Any]] = deque()
        self._resume: asyncio.Handle | None = None
        self._sock = getattr(proto.transport, "_sock", None)
        self._extmap = dtls._rtp_header_extensions_map
        self._session: pylibsrtp.Session | None = None  # the unprotect below is for it
        self._unprotect: Callable[[bytes], bytes] = bytes
        proto.datagram_received = self.datagram_received

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._queue.append((data, addr))
        if self._resume is None:  # else a turn is scheduled: it keeps the order
            self._work()

    def _read_socket(self) -> None:
        """Move what the kernel holds for us into the queue (non-blocking)."""
        sock, queue = self._sock, self._queue
        if sock is None:
            return
        while len(queue) < self._max_pending:
            try:
                queue.append(sock.recvfrom(65536))
            except OSError:  # BlockingIOError: nothing more now
                return

    def _work(self) -> None:
        self._resume = None
        queue = self._queue
        now = time.monotonic()
        deadline = now + self._budget
        read_at = now
        arrival_ms = int(time.time() * 1000)
        one = self._one
        while True:
            if now >= read_at:  # not before every packet: most find the socket empty
                self._read_socket()
                read_at = now + INGRESS_READ_EVERY
                # one wall-clock read per socket read: near enough each packet's arrival
                arrival_ms = int(time.time() * 1000)
            if not queue:
                return  # what the kernel still holds makes the socket readable again
            data, addr = queue.popleft()
            one(data, addr, arrival_ms)
            now = time.monotonic()
            if now > deadline:
                if queue:
                    self._resume = asyncio.get_running_loop().call_soon(self._work)
                return

    def _one(self, data: bytes, addr: Any, arrival_ms: int) -> None:
        srtp = self._dtls._rx_srtp
        if srtp is None or len(data) < 12 or not 127 < data[0] < 192 or 191 < data[1] < 224:
            self._original(data, addr)  # STUN, DTLS, SRTCP
            return
        if srtp is not self._session:  # the first packet after the DTLS handshake
            self._session, self._unprotect = srtp, unprotector(srtp)
        try:
            packet = RtpPacket.parse(self._unprotect(data), self._extmap)
        except (pylibsrtp.Error, ValueError):
            return
        tap = self._routes.get(packet.payload_type)
        if tap is not None:
            tap.process(packet, arrival_ms)
