"""The unit the gateway forwards: one encoded RTP payload, already in relay numbering."""

from __future__ import annotations


class RelayPacket:
    """An incoming packet after translation, shared read-only by all consumers.

    `seq` is in the producer's gap-free relay numbering; `timestamp` is the publisher's
    RTP timestamp; consumers add their own offsets when they write the header.
    """

    __slots__ = ("arrival", "keyframe_start", "marker", "payload", "seq", "timestamp")

    def __init__(
        self,
        seq: int,
        timestamp: int,
        marker: int,
        payload: bytes,
        keyframe_start: bool,
        arrival: float,
    ) -> None:
        self.seq = seq
        self.timestamp = timestamp
        self.marker = marker
        self.payload = payload
        self.keyframe_start = keyframe_start
        self.arrival = arrival


class PacketCache:
    """Ring buffer of recent relay packets, indexed by relay seq, to answer NACKs."""

    __slots__ = ("_mask", "_slots")

    def __init__(self, size: int = 1024) -> None:
        if size & (size - 1):
            raise ValueError("cache size must be a power of two")
        self._mask = size - 1
        self._slots: list[RelayPacket | None] = [None] * size

    def put(self, packet: RelayPacket) -> None:
        self._slots[packet.seq & self._mask] = packet

    def get(self, seq: int) -> RelayPacket | None:
        p = self._slots[seq & self._mask]
        return p if p is not None and p.seq == seq else None

    def clear(self) -> None:
        self._slots = [None] * len(self._slots)
