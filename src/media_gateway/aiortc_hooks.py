"""Every reach into aiortc's and aioice's private internals, in one place.

aiortc decodes everything it receives and encodes everything it sends; the gateway
needs neither. We keep aiortc for ICE, DTLS, SRTP and SDP and take the RTP path over:

- ingress: a receiver's `_handle_rtp_packet` is replaced, so packets go to a Producer
  instead of the jitter buffer and decoder (RTCP receiver reports, NACK generation
  and REMB still work, fed from the same stats objects aiortc uses);
- egress: a sender gets a track that never yields, so aiortc never encodes; we write
  RTP ourselves and put it on the socket after SRTP protection, and aiortc's own RTCP
  loop sends sender reports from the values we give it;
- viewer feedback (NACK, PLI, FIR) on a sender is routed to the Consumer.

aiortc and aioice are pinned exactly in pyproject.toml. `check_compatibility()` is run
by the test-suite and at node start: an upgrade that moves any of these fails loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aioice.ice
import pylibsrtp
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import (
    RTCCertificate,
    RTCDtlsParameters,
    RTCDtlsTransport,
    SRTPProtectionProfile,
)
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)
from OpenSSL import SSL

logger = logging.getLogger(__name__)

_RX = "_RTCRtpReceiver__"
_TX = "_RTCRtpSender__"

OnPacket = Callable[[RTCRtpCodecParameters, RtpPacket], None]
OnSenderReport = Callable[[int, int, int], None]  # ssrc, ntp, rtp timestamp


# ---------------------------------------------------------------- ICE


def set_host_addresses(addresses: Sequence[str] | None) -> None:
    """Make aioice gather exactly these host addresses (None: its default, no loopback).

    aioice skips 127.0.0.1 and has no per-connection option, so this is process-wide.
    """
    if not hasattr(aioice.ice, "_vdispatch_original_get_host_addresses"):
        aioice.ice._vdispatch_original_get_host_addresses = aioice.ice.get_host_addresses  # type: ignore[attr-defined]
    original = aioice.ice._vdispatch_original_get_host_addresses  # type: ignore[attr-defined]
    if not addresses:
        aioice.ice.get_host_addresses = original
        return
    fixed = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses


def _ice_connections(pc: RTCPeerConnection) -> list[aioice.Connection]:
    seen: dict[int, aioice.Connection] = {}
    for t in pc.getTransceivers():
        conn = t.receiver.transport.transport._connection
        seen[id(conn)] = conn
    return list(seen.values())


def tune_socket_buffers(pc: RTCPeerConnection, rcvbuf: int, sndbuf: int) -> None:
    """Enlarge the UDP socket buffers so keyframe bursts are not dropped by the kernel
    while the event loop is busy fanning out. SO_*BUFFORCE needs CAP_NET_ADMIN; without
    it the kernel caps the size at net.core.[rw]mem_max."""
    for conn in _ice_connections(pc):
        for proto in conn._protocols:
            transport = getattr(proto, "transport", None)
            sock = transport.get_extra_info("socket") if transport is not None else None
            if sock is None:
                continue
            for force, plain, size in (
                (33, socket.SO_RCVBUF, rcvbuf),  # SO_RCVBUFFORCE
                (32, socket.SO_SNDBUF, sndbuf),  # SO_SNDBUFFORCE
            ):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, force, size)
                except OSError:
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, plain, size)
                    except OSError:
                        logger.debug("could not size socket buffer")


# ---------------------------------------------------------------- DTLS

_PC = "_RTCPeerConnection__"

# aiortc's list has ECDHE-ECDSA suites only. When the gateway is the DTLS client (the
# publisher offered `a=setup:passive`), a server with an RSA certificate (GStreamer's
# webrtcbin, or FFmpeg given an RSA `cert_file`) then has no suite in common with us
# ("no shared cipher"). Offering the ECDHE-RSA twins fixes that; as DTLS server our own
# certificate is ECDSA, so the RSA suites are never chosen there.
GATEWAY_DTLS_CIPHERS = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
    b"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
    b"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305:"
    b"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA"
)


class GatewayCertificate(RTCCertificate):
    """aiortc's certificate (same key, same fingerprints) with a wider DTLS cipher list."""

    def _create_ssl_context(self, srtp_profiles: list[SRTPProtectionProfile]) -> SSL.Context:
        ctx = super()._create_ssl_context(srtp_profiles)
        ctx.set_cipher_list(GATEWAY_DTLS_CIPHERS)
        return ctx


def use_gateway_certificate(pc: RTCPeerConnection) -> None:
    """Before setRemoteDescription: the DTLS transports it creates use GatewayCertificate.

    Only this peer connection is affected, not aiortc peers elsewhere in the process."""
    certificates: list[RTCCertificate] = getattr(pc, _PC + "certificates")
    certificates[:] = [
        c if isinstance(c, GatewayCertificate) else GatewayCertificate(key=c._key, cert=c._cert)
        for c in certificates
    ]


def prefer_dtls_server(pc: RTCPeerConnection) -> None:
    """After setRemoteDescription: answer `a=setup:passive` when the offer lets us choose
    (`a=setup:actpass`), so the publisher's DTLS client proposes and we pick.

    An offer that is itself passive (FFmpeg's WHIP muxer by default) must get
    `a=setup:active`. aiortc leaves the role "auto" for both actpass and passive offers,
    so the offer's own setup is read back; taking "auto" alone as actpass answered a
    passive offer with passive too, and both sides waited for the other's ClientHello."""
    remote: dict[Any, RTCDtlsParameters] = getattr(pc, _PC + "remoteDtls")
    for t in pc.getTransceivers():
        dtls = t.receiver.transport
        params = remote.get(t)
        if dtls._role == "auto" and params is not None and params.role == "auto":
            dtls._set_role("server")


# ---------------------------------------------------------------- negotiated state


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    return list(transceiver._codecs)


def set_negotiated_codecs(
    transceiver: RTCRtpTransceiver, codecs: list[RTCRtpCodecParameters]
) -> None:
    """Narrow what setRemoteDescription negotiated; createAnswer answers with this list.
    (setCodecPreferences only applies to offers we create, not to answers.)"""
    transceiver._codecs = list(codecs)


def negotiated_extension_id(transceiver: RTCRtpTransceiver, uri: str) -> int | None:
    for ext in transceiver._headerExtensions:
        if ext.uri == uri:
            return int(ext.id)
    return None


# ---------------------------------------------------------------- ingress


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
        self._on_packet = on_packet
        self._on_sender_report = on_sender_report
        self._video = getattr(receiver, _RX + "kind") == "video"
        self._nack = NackGenerator() if self._video else None
        self._remb = RemoteBitrateEstimator() if self._video else None
        self._streams: dict[int, StreamStatistics] = getattr(receiver, _RX + "remote_streams")
        self._rtx_ssrc: dict[int, int] = getattr(receiver, _RX + "rtx_ssrc")
        self.media_ssrc: int | None = None
        self._original_rtcp = receiver._handle_rtcp_packet
        self._tasks: set[asyncio.Future[None]] = set()
        receiver._handle_rtp_packet = self._handle_rtp  # type: ignore[method-assign]
        receiver._handle_rtcp_packet = self._handle_rtcp  # type: ignore[method-assign]

    async def _handle_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.process(packet, arrival_time_ms)

    def process(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        """Synchronous: RTCP it causes (REMB, NACK) is sent from a task."""
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        stats = self._streams.get(packet.ssrc)
        if stats is None:
            stats = self._streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        if self._remb is not None and packet.extensions.abs_send_time is not None:
            remb = self._remb.add(
                abs_send_time=packet.extensions.abs_send_time,
                arrival_time_ms=arrival_time_ms,
                payload_size=len(packet.payload) + packet.padding_size,
                ssrc=packet.ssrc,
            )
            rtcp_ssrc = getattr(self._receiver, _RX + "rtcp_ssrc")
            if remb is not None and rtcp_ssrc is not None:
                self._spawn(
                    self._receiver._send_rtcp(
                        RtcpPsfbPacket(
                            fmt=RTCP_PSFB_APP,
                            ssrc=rtcp_ssrc,
                            media_ssrc=0,
                            fci=pack_remb_fci(*remb),
                        )
                    )
                )
        if codec.mimeType.lower() == "video/rtx":
            original = self._rtx_ssrc.get(packet.ssrc, self.media_ssrc)
            apt = codec.parameters.get("apt")
            if original is None or len(packet.payload) < 2 or not isinstance(apt, int):
                return
            if apt not in self._codecs:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original)
            codec = self._codecs[apt]
        if self.media_ssrc is None:
            self.media_ssrc = packet.ssrc
        elif packet.ssrc != self.media_ssrc:
            return
        if self._nack is not None and self._nack.add(packet):
            self._spawn(self._receiver._send_rtcp_nack(packet.ssrc, sorted(self._nack.missing)))
        self._on_packet(codec, packet)

    @property
    def payload_types(self) -> list[int]:
        return [pt for pt in self._codecs if pt is not None]

    async def _handle_rtcp(self, packet: Any) -> None:
        await self._original_rtcp(packet)
        if isinstance(packet, RtcpSrPacket):
            info = packet.sender_info
            self._on_sender_report(packet.ssrc, info.ntp_timestamp, info.rtp_timestamp)

    def request_keyframe(self) -> None:
        if self.media_ssrc is not None:
            self._spawn(self._receiver._send_rtcp_pli(self.media_ssrc))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


# ---------------------------------------------------------------- ingress fast path


def fast_ingress(pc: RTCPeerConnection, taps: Sequence[IngestTap], drain: int = 64) -> None:
    """SRTP media handled in the socket's datagram callback instead of aiortc's path
    (aioice STUN-parse attempt, asyncio.Queue, a task wake-up and five awaits per packet),
    and the rest of a burst read from the socket without going back to the event loop.
    STUN, DTLS and SRTCP still take aiortc's path."""
    routes = {pt: tap for tap in taps for pt in tap.payload_types}
    if not routes:
        return
    for t in pc.getTransceivers():
        dtls = t.receiver.transport
        for proto in dtls.transport._connection._protocols:
            if getattr(proto, "_vdispatch_fast", False) or proto.transport is None:
                continue
            proto._vdispatch_fast = True  # type: ignore[attr-defined]
            _FastIngress(proto, dtls, routes, drain)


class _FastIngress:
    def __init__(
        self, proto: Any, dtls: RTCDtlsTransport, routes: dict[int, IngestTap], drain: int
    ):
        self._original = proto.datagram_received
        self._dtls = dtls
        self._routes = routes
        self._drain = drain
        self._sock = getattr(proto.transport, "_sock", None)
        self._extmap = dtls._rtp_header_extensions_map
        proto.datagram_received = self.datagram_received

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self._one(data, addr)
        sock = self._sock
        if sock is None:
            return
        for _ in range(self._drain):
            try:
                data, addr = sock.recvfrom(65536)
            except OSError:  # BlockingIOError: the burst is drained
                return
            self._one(data, addr)

    def _one(self, data: bytes, addr: Any) -> None:
        srtp = self._dtls._rx_srtp
        if srtp is None or len(data) < 12 or not 127 < data[0] < 192 or 191 < data[1] < 224:
            self._original(data, addr)  # STUN, DTLS, SRTCP
            return
        arrival_ms = int(time.time() * 1000)
        try:
            packet = RtpPacket.parse(srtp.unprotect(data), self._extmap)
        except (pylibsrtp.Error, ValueError):
            return
        tap = self._routes.get(packet.payload_type)
        if tap is not None:
            tap.process(packet, arrival_ms)


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
    congested viewer costs nothing to the others.
    """

    def __init__(self, sender: RTCRtpSender, max_buffer: int = 512 * 1024) -> None:
        self._sender = sender
        self._max_buffer = max_buffer
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
        self._protect = dtls._tx_srtp.protect
        if isinstance(pair.protocol, aioice.ice.StunProtocol):
            self._transport = pair.protocol.transport
            self._addr = pair.remote_addr
        else:  # TURN relay: let aiortc/aioice wrap it
            self._fallback = dtls
        return True

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
        transport.sendto(self._protect(data), self._addr)
        return True

    def set_sender_info(self, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        s = self._sender
        setattr(s, _TX + "ntp_timestamp", ntp)
        setattr(s, _TX + "rtp_timestamp", rtp_timestamp)
        setattr(s, _TX + "packet_count", packets)
        setattr(s, _TX + "octet_count", octets)


_background: set[asyncio.Future[None]] = set()


async def _send_quietly(dtls: RTCDtlsTransport, data: bytes) -> None:
    with contextlib.suppress(ConnectionError):
        await dtls._send_rtp(data)


def tap_sender_feedback(
    sender: RTCRtpSender,
    on_nack: Callable[[list[int]], None],
    on_keyframe_request: Callable[[], None],
) -> None:
    """Route a viewer's NACK and PLI/FIR to us; RR/SR/REMB still reach aiortc's stats."""
    original = sender._handle_rtcp_packet

    async def handle(packet: Any) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            on_nack(list(packet.lost))
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            on_keyframe_request()
        else:
            await original(packet)

    sender._handle_rtcp_packet = handle  # type: ignore[method-assign]


# ---------------------------------------------------------------- compatibility


def check_compatibility() -> None:
    """Raise RuntimeError naming every internal this module relies on that has moved.
    Reads library source: the node runs it once per process (see `ensure_compatible`)."""
    problems: list[str] = []

    def need(obj: object, name: str) -> None:
        if not hasattr(obj, name):
            problems.append(
                f"{type(obj).__name__ if not isinstance(obj, type) else obj.__name__}.{name}"
            )

    for name in ("get_host_addresses", "StunProtocol", "Connection"):
        need(aioice.ice, name)
    conn = aioice.Connection(ice_controlling=False)
    for name in ("_nominated", "_protocols"):
        need(conn, name)
    sig = inspect.signature(aioice.ice.get_host_addresses)
    if list(sig.parameters) != ["use_ipv4", "use_ipv6"]:
        problems.append("aioice.ice.get_host_addresses(use_ipv4, use_ipv6) signature")
    for name in (
        "_handle_rtp_packet",
        "_handle_rtcp_packet",
        "_send_rtcp_pli",
        "_send_rtcp_nack",
        "_send_rtcp",
    ):
        need(RTCRtpReceiver, name)
    for name in ("_handle_rtcp_packet", "_run_rtcp", "_run_rtp"):
        need(RTCRtpSender, name)
    for name in ("_set_role", "_send_rtp"):
        need(RTCDtlsTransport, name)
    src_rx = inspect.getsource(RTCRtpReceiver.__init__)
    for attr in ("__remote_streams", "__rtx_ssrc", "__rtcp_ssrc", "__kind"):
        if f"self.{attr}" not in src_rx:
            problems.append(f"RTCRtpReceiver.{attr}")
    src_tx = inspect.getsource(RTCRtpSender.__init__)
    for attr in ("__ntp_timestamp", "__rtp_timestamp", "__packet_count", "__octet_count"):
        if f"self.{attr}" not in src_tx:
            problems.append(f"RTCRtpSender.{attr}")
    src_rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    for attr in ("__ntp_timestamp", "__rtp_timestamp", "__packet_count", "__octet_count"):
        if f"self.{attr}" not in src_rtcp:
            problems.append(f"RTCRtpSender._run_rtcp no longer reads {attr}")
    src_dtls = inspect.getsource(RTCDtlsTransport)
    for attr in (
        "self._tx_srtp",
        "self._rx_srtp",
        "self._rtp_header_extensions_map",
        "self._role",
        "self.transport._send",
    ):
        if attr not in src_dtls:
            problems.append(f"RTCDtlsTransport {attr}")
    # fast ingress: aioice's protocol callback and asyncio's datagram transport socket
    stun_protocol = getattr(aioice.ice, "StunProtocol", None)
    if stun_protocol is not None and not hasattr(stun_protocol, "datagram_received"):
        problems.append("aioice StunProtocol.datagram_received")
    import asyncio.selector_events as selector_events

    selector_transport = getattr(selector_events, "_SelectorTransport", None)
    if selector_transport is None or "self._sock" not in inspect.getsource(selector_transport):
        problems.append("asyncio _SelectorTransport._sock")
    # DTLS: our certificate subclass, swapped into the peer connection's list.
    need(RTCCertificate, "_create_ssl_context")
    sig = inspect.signature(RTCCertificate._create_ssl_context)
    if list(sig.parameters) != ["self", "srtp_profiles"]:
        problems.append("RTCCertificate._create_ssl_context(self, srtp_profiles) signature")
    src_cert = inspect.getsource(RTCCertificate.__init__)
    for attr in ("self._key", "self._cert"):
        if attr not in src_cert:
            problems.append(f"RTCCertificate {attr}")
    src_pc = inspect.getsource(RTCPeerConnection.__init__)
    for attr in ("self.__certificates", "self.__remoteDtls"):
        if attr not in src_pc:
            problems.append(f"RTCPeerConnection.{attr[5:]}")
    if "self.__local_certificate._create_ssl_context(" not in src_dtls:
        problems.append("RTCDtlsTransport no longer asks its certificate for the SSL context")
    need(RTCDtlsParameters(), "role")
    src_tr = inspect.getsource(RTCRtpTransceiver.__init__)
    for attr in ("self._codecs", "self._headerExtensions"):
        if attr not in src_tr:
            problems.append(f"RTCRtpTransceiver {attr}")
    if problems:
        raise RuntimeError(
            "aiortc/aioice internals the gateway relies on have moved: " + ", ".join(problems)
        )


_checked = False


def ensure_compatible() -> None:
    """check_compatibility() once per process: the libraries cannot change under us."""
    global _checked
    if not _checked:
        check_compatibility()
        _checked = True
