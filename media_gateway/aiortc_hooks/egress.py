"""Egress: a silent track keeps aiortc's encoder idle; we write RTP to the socket after
SRTP protection; viewer feedback goes to the Consumer."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

import aioice.ice
import pylibsrtp
from aiortc import MediaStreamTrack, RTCRtpSender
from aiortc.rtcdtlstransport import (
    RTCDtlsTransport,
)
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    unpack_remb_fci,
)

from .srtp import protector

logger = logging.getLogger(__name__)
_TX = "_RTCRtpSender__"


# ---------------------------------------------------------------- egress


class SilentTrack(MediaStreamTrack):
    """A track that never yields a frame: the sender's encode loop waits forever."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Any:
        await self._never
        raise asyncio.CancelledError  # pragma: no cover - never resolved

    def stop(self) -> None:
        if not self._never.done():
            self._never.cancel()
        super().stop()


class SenderOutput:
    """Puts plain RTP on a sender's transport: SRTP protect, then one sendto.

    Bypasses aiortc's `_send_rtp` (an await per packet through aioice) on the hot path.
    Drops instead of queueing when the socket's write buffer is over `max_buffer`, so a
    congested viewer costs nothing to the others. A packet SRTP cannot protect (longer
    than `srtp.MAX_RTP_PACKET`) is dropped too: raising here would stop the fan-out of
    that packet to the other viewers, or aiortc's RTCP loop when it is a NACK's answer.
    """

    def __init__(
        self, sender: RTCRtpSender, max_buffer: int = 512 * 1024, batch: bool = False
    ) -> None:
        self._sender = sender
        self._max_buffer = max_buffer
        # batch: the packets of one burst go out in UDP GSO sends (see _Batches)
        self._batch: list[bytes] | None = [] if batch and _gso.usable else None
        self._sock: Any = None
        self._protect: Callable[[bytes], bytes] | None = None
        self._transport: Any = None  # asyncio's _SelectorDatagramTransport
        self._addr: tuple[str, int] | None = None
        self._fallback: RTCDtlsTransport | None = None

    def ready(self) -> bool:
        if self._transport is not None:
            return not self._transport.is_closing()
        if self._fallback is not None:
            return self._fallback.state == "connected"
        dtls: RTCDtlsTransport = self._sender.transport
        if dtls.state != "connected":
            return False
        pair = dtls.transport._connection._nominated.get(1)
        if pair is None:
            return False
        protect = protector(dtls._tx_srtp)
        if isinstance(pair.protocol, aioice.ice.StunProtocol):
            self.use(pair.protocol.transport, pair.remote_addr, protect)
        else:  # TURN relay: let aiortc/aioice wrap it
            self._protect = protect
            self._fallback = dtls
        return True

    def use(self, transport: Any, addr: tuple[str, int], protect: Callable[[bytes], bytes]) -> None:
        """Send to `addr` through this asyncio datagram transport (the nominated ICE
        pair's), each packet through `protect` first."""
        self._transport, self._addr, self._protect = transport, addr, protect
        self._sock = getattr(transport, "_sock", None)
        if self._sock is None:
            self._batch = None

    def send_rtp(self, data: bytes) -> bool:
        transport = self._transport
        if transport is None:
            if not self.ready():
                return False
            transport = self._transport
            if transport is None:
                assert self._fallback is not None
                task = asyncio.ensure_future(_send_quietly(self._fallback, data))
                _background.add(task)
                task.add_done_callback(_background.discard)
                return True
        if transport.is_closing() or transport.get_write_buffer_size() > self._max_buffer:
            return False
        assert self._protect is not None
        try:
            protected = self._protect(data)
        except (ValueError, pylibsrtp.Error):  # longer than the session's buffer
            return False
        batch = self._batch
        if batch is None:
            transport.sendto(protected, self._addr)
        else:
            if not batch:
                _gso.pending(self)
            batch.append(protected)
        return True

    def flush(self) -> None:
        """Send the packets batched in this burst: runs of equal-size packets (a frame's,
        but its last) as one UDP GSO send each, which the kernel splits into the same
        datagrams; anything else one by one."""
        batch = self._batch
        if not batch:
            return
        self._batch = []
        transport, addr = self._transport, self._addr
        if transport is None or transport.is_closing():
            return
        if len(batch) == 1 or transport.get_write_buffer_size() or not _gso.usable:
            for packet in batch:  # asyncio holds some already: keep the order through it
                transport.sendto(packet, addr)
            return
        i, n = 0, len(batch)
        while i < n:
            size = len(batch[i])
            j = i + 1
            while (
                size <= GSO_MAX_DATAGRAM
                and j < n
                and j - i < GSO_MAX_SEGMENTS
                and len(batch[j]) <= size
            ):
                j += 1
                if len(batch[j - 1]) < size:
                    break  # a shorter one can only be a run's last
            if j - i == 1:
                transport.sendto(batch[i], addr)
            elif not _gso.send(self._sock, batch[i:j], size, addr):
                for packet in batch[i:j]:
                    transport.sendto(packet, addr)
            i = j

    def set_sender_info(self, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        s = self._sender
        setattr(s, _TX + "ntp_timestamp", ntp)
        setattr(s, _TX + "rtp_timestamp", rtp_timestamp)
        setattr(s, _TX + "packet_count", packets)
        setattr(s, _TX + "octet_count", octets)


_u16 = struct.Struct("=H").pack
# The largest datagram sent in GSO runs: what fits a 1500-byte path MTU under IPv6 and
# UDP headers, so the kernel never has to fragment a segment (it refuses to).
GSO_MAX_DATAGRAM = 1500 - 40 - 8
# At most this many segments in one GSO send (the kernel's UDP_MAX_SEGMENTS is 64;
# with 1.5 KB packets 43 already make the 64 KiB a datagram may be).
GSO_MAX_SEGMENTS = 40
_UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)  # linux/udp.h


class _Batches:
    """The outputs holding packets of the current burst: flushed from the loop's next
    round (call_soon), right after the ingest callback that fanned the burst out."""

    def __init__(self) -> None:
        self.usable = sys.platform == "linux"
        self._outputs: list[SenderOutput] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def pending(self, output: SenderOutput) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new loop (tests run several): nothing is owed
            self._loop, self._outputs = loop, []
        if not self._outputs:
            loop.call_soon(self.flush)
        self._outputs.append(output)

    def flush(self) -> None:
        outputs, self._outputs = self._outputs, []
        for output in outputs:
            try:
                output.flush()
            except Exception:  # one viewer's socket must not stop the others'
                logger.exception("flushing a viewer's packets")

    def send(self, sock: socket.socket, packets: list[bytes], size: int, addr: Any) -> bool:
        """One GSO send of `packets` (all `size` bytes but maybe the last); False when
        the caller should send them one by one (socket full, or no GSO here)."""
        try:
            sock.sendmsg([b"".join(packets)], [(socket.SOL_UDP, _UDP_SEGMENT, _u16(size))], 0, addr)
            return True
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.ENOPROTOOPT, errno.EOPNOTSUPP):
                # no GSO on this kernel or device: one by one from now on
                logger.warning("UDP GSO unavailable (%s): sending packets one by one", exc)
                self.usable = False
            return False


_gso = _Batches()


def sender_ssrc(sender: RTCRtpSender) -> int:
    """The SSRC aiortc chose for this sender (and puts in its RTCP sender reports)."""
    ssrc: int = sender._ssrc
    return ssrc


_background: set[asyncio.Future[None]] = set()


async def _send_quietly(dtls: RTCDtlsTransport, data: bytes) -> None:
    with contextlib.suppress(ConnectionError):
        await dtls._send_rtp(data)


def tap_sender_feedback(
    sender: RTCRtpSender,
    on_nack: Callable[[list[int]], None],
    on_keyframe_request: Callable[[], None],
    on_bandwidth: Callable[[int], None] | None = None,
) -> None:
    """Route a viewer's NACK and PLI/FIR to us, and its REMB estimate (bit/s) to
    `on_bandwidth` if given; RR/SR/REMB still reach aiortc's stats."""
    original = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            on_nack(list(packet.lost))
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            on_keyframe_request()
        else:
            remb = isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP
            if on_bandwidth is not None and remb:
                with contextlib.suppress(ValueError):
                    on_bandwidth(unpack_remb_fci(packet.fci)[0])
            await original(packet)

    sender._handle_rtcp_packet = handle  # type: ignore[method-assign]


def tap_keyframe_requests(sender: RTCRtpSender, on_request: Callable[[], None]) -> None:
    """Tell a publisher of pictures it encodes itself (a camera agent's USB camera or test
    pattern, handed to aiortc as encoded packets, which aiortc only packetizes) that a
    viewer's PLI/FIR asked for a keyframe; aiortc's own handling still runs."""
    original = sender._send_keyframe

    def request() -> None:
        on_request()
        original()

    sender._send_keyframe = request  # type: ignore[method-assign]


def tap_rtcp_arrival(sender: RTCRtpSender, on_rtcp: Callable[[], None]) -> None:
    """Tell a publisher each time RTCP for this sender arrives: the gateway's receiver
    reports, about one a second while it receives. Silence means the gateway is gone,
    long before ICE consent fails (tens of seconds). aiortc's own handling still runs;
    this wraps whatever handler is installed (a feedback tap too)."""
    original = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        on_rtcp()
        await original(packet)

    sender._handle_rtcp_packet = handle  # type: ignore[method-assign]
