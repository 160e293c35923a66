"""VP8 RTP payload descriptor (RFC 7741) and frame header."""

from __future__ import annotations


def vp8_descriptor(payload: bytes) -> tuple[bool, int]:
    """(starts a frame, descriptor length). Raises ValueError on a truncated descriptor.

    A frame starts at a packet with S=1 and partition index 0."""
    if not payload:
        raise ValueError("empty VP8 payload")
    b0 = payload[0]
    i = 1
    if b0 & 0x80:  # X: extension byte
        if len(payload) < 2:
            raise ValueError("truncated VP8 descriptor")
        ext = payload[1]
        i = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if len(payload) <= i:
                raise ValueError("truncated VP8 descriptor")
            i += 2 if payload[i] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            i += 1
        if ext & 0x30:  # T/K: TID/KEYIDX
            i += 1
    if len(payload) < i:
        raise ValueError("truncated VP8 descriptor")
    return bool(b0 & 0x10) and (b0 & 0x0F) == 0, i
