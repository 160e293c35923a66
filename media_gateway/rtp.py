"""Pure RTP helpers: sequence arithmetic, keyframe detection, header writing.

No I/O and no aiortc objects here, so every function is tested with plain bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from bitstream import sps_size, vp8_size

_HEADER = struct.Struct("!BBHII")
HEADER_SIZE = _HEADER.size
# The fixed header alone: (V/P/X/CC byte, M/PT byte, seq, timestamp, SSRC) -> 12 bytes.
pack_header = _HEADER.pack

# The SRTP datagram budget WebRTC stacks call the MTU (pylibsrtp's receive buffer too).
MTU = 1500
# Less SRTP's longest auth tag (AES-GCM's 16 bytes): the largest plain RTP packet sure
# to arrive whole at any viewer once protected.
MAX_PLAIN_RTP = MTU - 16


def seq_newer(a: int, b: int) -> bool:
    """True when 16-bit sequence number `a` comes after `b` (RFC 1982 serial arithmetic)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


def seq_diff(a: int, b: int) -> int:
    """Signed distance a - b in 16-bit sequence space, in [-32768, 32767]."""
    d = (a - b) & 0xFFFF
    return d - 0x10000 if d >= 0x8000 else d


def _vp8_descriptor_length(payload: bytes) -> int | None:
    """Length of the RFC 7741 payload descriptor, or None if the packet does not start
    a frame (S bit set, partition 0) or is truncated."""
    if len(payload) < 1:
        return None
    b0 = payload[0]
    if not (b0 & 0x10) or (b0 & 0x0F) != 0:
        return None
    i = 1
    if b0 & 0x80:  # X: extension byte follows
        if len(payload) < 2:
            return None
        ext = payload[1]
        i = 2
        if ext & 0x80:  # I: picture id, 1 or 2 bytes
            if len(payload) <= i:
                return None
            i += 2 if payload[i] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            i += 1
        if ext & 0x30:  # T or K: TID/KEYIDX byte
            i += 1
    return i if len(payload) > i else None


def vp8_is_keyframe_start(payload: bytes) -> bool:
    """First packet of a VP8 keyframe (RFC 7741 payload descriptor + VP8 frame tag)."""
    i = _vp8_descriptor_length(payload)
    # VP8 frame tag: bit 0 of the first byte is 0 for a keyframe.
    return i is not None and (payload[i] & 0x01) == 0


_H264_SPS, _H264_IDR, _H264_STAP_A, _H264_FU_A = 7, 5, 24, 28


def _first_slice(slice_data: bytes, at: int) -> bool:
    """first_mb_in_slice == 0: its ue(v) code is a single 1 bit, the slice header's first."""
    return at < len(slice_data) and bool(slice_data[at] & 0x80)


def h264_is_keyframe_start(payload: bytes) -> bool:
    """Packet that starts an IDR access unit (SPS, or the start of the IDR picture's first
    slice) per RFC 6184. Later slices of the picture do not start it."""
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal == _H264_SPS:
        return True
    if nal == _H264_IDR:
        return _first_slice(payload, 1)
    if nal == _H264_STAP_A:
        i = 1
        while i + 2 < len(payload):
            size = (payload[i] << 8) | payload[i + 1]
            if size == 0:
                break
            t = payload[i + 2] & 0x1F
            if t == _H264_SPS or (t == _H264_IDR and size > 1 and _first_slice(payload, i + 3)):
                return True
            i += 2 + size
        return False
    if nal == _H264_FU_A and len(payload) >= 2:
        fu = payload[1]
        return bool(fu & 0x80) and (fu & 0x1F) == _H264_IDR and _first_slice(payload, 2)
    return False


def is_keyframe_start(mime: str, payload: bytes) -> bool:
    """Whether a consumer may start forwarding at this packet."""
    m = mime.lower()
    if m == "video/vp8":
        return vp8_is_keyframe_start(payload)
    if m == "video/h264":
        return h264_is_keyframe_start(payload)
    # Audio codecs have no inter-frame dependency.
    return True


def _always(payload: bytes) -> bool:
    return True


def keyframe_start_test(mime: str) -> Callable[[bytes], bool]:
    """`is_keyframe_start` for one codec, chosen once (the per-packet test)."""
    m = mime.lower()
    if m == "video/vp8":
        return vp8_is_keyframe_start
    if m == "video/h264":
        return h264_is_keyframe_start
    return _always


def write_header(
    marker: int, payload_type: int, seq: int, timestamp: int, ssrc: int, extension: bytes
) -> bytes:
    """RTP fixed header, followed by a prebuilt header-extension block (may be empty)."""
    first = 0x90 if extension else 0x80
    return _HEADER.pack(first, (marker << 7) | payload_type, seq, timestamp, ssrc) + extension


def one_byte_extension_block(elements: list[tuple[int, bytes]]) -> bytes:
    """RFC 8285 one-byte header extension block for (id, value) pairs, padded to 32 bits."""
    if not elements:
        return b""
    body = b"".join(bytes([(eid << 4) | (len(v) - 1)]) + v for eid, v in elements)
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("!HH", 0xBEDE, len(body) // 4) + body


def vp8_keyframe_size(payload: bytes) -> tuple[int, int] | None:
    """Width and height from the first packet of a VP8 keyframe."""
    i = _vp8_descriptor_length(payload)
    return vp8_size(payload[i:]) if i is not None else None


def h264_keyframe_size(payload: bytes) -> tuple[int, int] | None:
    """Width and height from a packet carrying the SPS (single NAL unit or STAP-A)."""
    if not payload:
        return None
    nals: list[bytes] = []
    nal = payload[0] & 0x1F
    if nal == _H264_SPS:
        nals.append(payload)
    elif nal == _H264_STAP_A:
        i = 1
        while i + 2 < len(payload):
            size = (payload[i] << 8) | payload[i + 1]
            if size == 0:
                break
            nals.append(payload[i + 2 : i + 2 + size])
            i += 2 + size
    for unit in nals:
        if unit and unit[0] & 0x1F == _H264_SPS:
            try:
                return sps_size(unit)
            except (ValueError, IndexError):
                return None
    return None


def keyframe_size(mime: str, payload: bytes) -> tuple[int, int] | None:
    m = mime.lower()
    if m == "video/vp8":
        return vp8_keyframe_size(payload)
    if m == "video/h264":
        return h264_keyframe_size(payload)
    return None
