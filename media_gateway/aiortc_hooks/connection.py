"""ICE host addresses, the DTLS certificate and role, and the
negotiated codec state of a transceiver."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import aioice.ice
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import (
    RTCCertificate,
    RTCDtlsParameters,
    SRTPProtectionProfile,
)
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from OpenSSL import SSL

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- ICE


# aioice's own function, taken once at import: the one original every caller restores.
_aioice_host_addresses = aioice.ice.get_host_addresses


def set_host_addresses(addresses: Sequence[str] | None) -> None:
    """Make aioice gather exactly these host addresses (None: its default, no loopback).

    aioice skips 127.0.0.1 and has no per-connection option, so this is process-wide: it
    applies to every aiortc peer in the process, the gateway's and an in-process agent's.
    This is the only place that patches aioice; everything else calls it.
    """
    if not addresses:
        aioice.ice.get_host_addresses = _aioice_host_addresses
        return
    fixed = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in fixed if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses


def default_host_addresses(use_ipv4: bool = True, use_ipv6: bool = False) -> list[str]:
    """The addresses aioice gathers by itself (unpatched): the machine's, no loopback."""
    return list(_aioice_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6))


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


def offered_direction(transceiver: RTCRtpTransceiver) -> str | None:
    """The direction the remote offer gave this m-line (aiortc keeps no public copy):
    "sendonly"/"sendrecv" when the remote sends, "recvonly"/"sendrecv" when it receives."""
    direction: str | None = transceiver._offerDirection
    return direction


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
