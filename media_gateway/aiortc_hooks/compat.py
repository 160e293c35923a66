"""check_compatibility(): names every aiortc/aioice/pylibsrtp internal the hooks rely on
that moved."""

from __future__ import annotations

import inspect
import logging

import aioice.ice
import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import (
    RTCCertificate,
    RTCDtlsParameters,
    RTCDtlsTransport,
)
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.rtcrtptransceiver import RTCRtpTransceiver

logger = logging.getLogger(__name__)


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
    # _handle_rtcp_packet: tap_sender_feedback and tap_rtcp_arrival (an agent's watchdog)
    for name in ("_handle_rtcp_packet", "_run_rtcp", "_run_rtp", "_send_keyframe"):
        need(RTCRtpSender, name)
    for name in ("_set_role", "_send_rtp", "_setup_srtp"):
        need(RTCDtlsTransport, name)
    # srtp.allow_full_mtu: pylibsrtp's one buffer per session, bounded by its length
    need(pylibsrtp, "ffi")
    src_session = inspect.getsource(pylibsrtp.Session)
    for attr in ("self._cdata = ", "self._buffer = ", "len(self._cdata)", "self._buffer["):
        if attr not in src_session:
            problems.append(f"pylibsrtp.Session {attr.strip(' =[')}")
    # srtp.protector/unprotector: libsrtp called on the session's own srtp_t and buffer
    for attr in ("self._srtp = ", "self._srtp[0], self._cdata, len_p"):
        if attr not in src_session:
            problems.append(f"pylibsrtp.Session {attr.strip(' =')}")
    for name in ("lib", "ERRORS", "Error", "SRTP_MAX_TRAILER_LEN"):
        need(pylibsrtp, name)
    src_rx = inspect.getsource(RTCRtpReceiver.__init__)
    for attr in ("__remote_streams", "__rtx_ssrc", "__rtcp_ssrc", "__kind"):
        if f"self.{attr}" not in src_rx:
            problems.append(f"RTCRtpReceiver.{attr}")
    src_tx = inspect.getsource(RTCRtpSender.__init__)
    for attr in ("__ntp_timestamp", "__rtp_timestamp", "__packet_count", "__octet_count"):
        if f"self.{attr}" not in src_tx:
            problems.append(f"RTCRtpSender.{attr}")
    if "self._ssrc" not in src_tx:
        problems.append("RTCRtpSender._ssrc")
    src_rtcp = inspect.getsource(RTCRtpSender._run_rtcp)
    for attr in ("__ntp_timestamp", "__rtp_timestamp", "__packet_count", "__octet_count"):
        if f"self.{attr}" not in src_rtcp:
            problems.append(f"RTCRtpSender._run_rtcp no longer reads {attr}")
    src_dtls = inspect.getsource(RTCDtlsTransport)
    for attr in (
        "self._tx_srtp",
        "self._rx_srtp",
        "self._rtp_header_extensions_map",
        "self._rtp_router = RtpRouter()",
        "self._role",
        "self.transport._send",
    ):
        if attr not in src_dtls:
            problems.append(f"RTCDtlsTransport {attr}")
    # the ICE connection behind a transceiver's transport (sockets, nominated pair)
    src_ice = inspect.getsource(RTCIceTransport.__init__)
    if "self._connection" not in src_ice:
        problems.append("RTCIceTransport._connection")
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
    for attr in ("self._codecs", "self._headerExtensions", "self._offerDirection"):
        if attr not in src_tr:
            problems.append(f"RTCRtpTransceiver {attr}")
    # simulcast ingress: a layer's SSRC named to the router, so its sender reports arrive
    from aiortc.rtcdtlstransport import RtpRouter

    if not hasattr(RtpRouter(), "ssrc_table"):
        problems.append("RtpRouter.ssrc_table")
    from aiortc.rtp import HeaderExtensions

    for name in ("rtp_stream_id", "repaired_rtp_stream_id"):
        need(HeaderExtensions(), name)
    if problems:
        raise RuntimeError(
            "aiortc/aioice/pylibsrtp internals the gateway relies on have moved: "
            + ", ".join(problems)
        )


_checked = False


def ensure_compatible() -> None:
    """check_compatibility() once per process: the libraries cannot change under us."""
    global _checked
    if not _checked:
        check_compatibility()
        _checked = True
