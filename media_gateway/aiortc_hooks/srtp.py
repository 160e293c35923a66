"""SRTP sessions with room for a full-MTU RTP packet.

pylibsrtp protects and unprotects in one 1500-byte buffer per session and keeps 144
bytes of it free for the longest trailer libsrtp could append (tag + MKI), so it refuses
to protect RTP over 1356 bytes ("packet is too long"). A publisher at rtph264pay's or
FFmpeg's 1400-byte MTU, plus the MID extension the gateway writes, is over that. The
buffer is swapped for a larger one; libsrtp itself has no such limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pylibsrtp
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import RTCDtlsTransport

from ..rtp import MTU

# The largest plain RTP packet we protect, or SRTP packet we unprotect: the whole MTU
# (an RTX copy of a publisher's packet at the MTU is 2 bytes longer, and still fits).
MAX_RTP_PACKET = MTU
# With pylibsrtp's own reserve for the trailer protect may append (tag + MKI).
BUFFER_SIZE = MAX_RTP_PACKET + pylibsrtp.SRTP_MAX_TRAILER_LEN

_ffi: Any = pylibsrtp.ffi  # pylibsrtp's cffi binding
_lib: Any = pylibsrtp.lib


def widen_session(session: pylibsrtp.Session) -> None:
    """Give one session a BUFFER_SIZE buffer (idempotent). pylibsrtp bounds every packet
    by `len(self._cdata)` and copies through `self._buffer`, its view of the same memory."""
    if len(session._cdata) >= BUFFER_SIZE:
        return
    cdata = _ffi.new("char[]", BUFFER_SIZE)
    session._cdata = cdata
    session._buffer = _ffi.buffer(cdata)


def _widen_transport(dtls: RTCDtlsTransport) -> None:
    for session in (dtls._rx_srtp, dtls._tx_srtp):
        if session is not None:
            widen_session(session)


def allow_full_mtu(pc: RTCPeerConnection) -> None:
    """Every SRTP session of this peer connection takes RTP up to MAX_RTP_PACKET, in both
    directions: those that exist now, and those a DTLS handshake still to finish makes
    (its `_setup_srtp` is wrapped). Idempotent; other peers in the process keep
    pylibsrtp's default."""
    for t in pc.getTransceivers():
        dtls = t.receiver.transport
        if getattr(dtls, "_vdispatch_full_mtu", False):
            continue
        dtls._vdispatch_full_mtu = True  # type: ignore[attr-defined]
        _widen_transport(dtls)
        original = dtls._setup_srtp

        def setup_srtp(dtls: RTCDtlsTransport = dtls, original: Any = original) -> None:
            original()
            _widen_transport(dtls)

        dtls._setup_srtp = setup_srtp  # type: ignore[method-assign]


def _direct(session: pylibsrtp.Session, func: Any, trailer: int) -> Callable[[bytes], bytes]:
    """`session.protect`/`unprotect` without pylibsrtp's per-call layers (a new `int *`
    and two method hops per packet): the same libsrtp call through the same buffer, with
    the same errors (ValueError: too long; pylibsrtp.Error: libsrtp refused). Called once
    per packet per viewer (protect) and per published packet (unprotect), on the loop
    thread only, as aiortc's own RTCP use of the session is."""
    len_p = _ffi.new("int *")
    srtp = session._srtp[0]
    ok = _lib.srtp_err_status_ok

    def process(data: bytes) -> bytes:
        cdata = session._cdata  # read each time: widen_session may swap it
        n = len(data)
        if n > len(cdata) - trailer:
            raise ValueError("packet is too long")
        buffer = session._buffer
        buffer[0:n] = data
        len_p[0] = n
        rc = func(srtp, cdata, len_p)
        if rc != ok:
            raise pylibsrtp.Error(pylibsrtp.ERRORS[rc])
        return buffer[0 : len_p[0]]

    return process


def protector(session: pylibsrtp.Session) -> Callable[[bytes], bytes]:
    """A fast `session.protect` (SRTP)."""
    return _direct(session, _lib.srtp_protect, pylibsrtp.SRTP_MAX_TRAILER_LEN)


def unprotector(session: pylibsrtp.Session) -> Callable[[bytes], bytes]:
    """A fast `session.unprotect` (SRTP)."""
    return _direct(session, _lib.srtp_unprotect, 0)
