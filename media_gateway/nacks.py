"""Which packets of the publisher's stream are missing, for the NACKs the gateway sends.

The same rule as aiortc's `NackGenerator` (a gap past the highest sequence number opens
holes, a late arrival fills one, holes more than RTP_HISTORY_SIZE behind the highest are
given up), at a cost that fits once per published packet: a packet in order with no
hole open touches one integer.
"""

from __future__ import annotations

# aiortc's RTP_HISTORY_SIZE: the holes a NACK may name, behind the highest number.
HISTORY = 128


class NackTracker:
    __slots__ = ("max_seq", "missing")

    def __init__(self) -> None:
        self.max_seq: int | None = None
        self.missing: set[int] = set()

    def add(self, seq: int) -> bool:
        """Packet `seq` arrived; True when it opened holes (a NACK is due)."""
        top = self.max_seq
        if top is None:
            self.max_seq = seq
            return False
        d = (seq - top) & 0xFFFF
        if d == 1 and not self.missing:  # in order, nothing missing: the common case
            self.max_seq = seq
            return False
        missed = False
        if 0 < d < 0x8000:  # newer than the highest: the numbers between are missing
            first = max(1, d - HISTORY)  # older ones would be given up at once below
            self.missing.update((top + i) & 0xFFFF for i in range(first, d))
            missed = d > 1
            self.max_seq = top = seq
        else:
            self.missing.discard(seq)
        if self.missing:
            oldest = (top - HISTORY) & 0xFFFF
            # given up: behind `oldest` (aiortc's uint16_gt(oldest, s))
            stale = [s for s in self.missing if 0 < ((oldest - s) & 0xFFFF) < 0x8000]
            self.missing.difference_update(stale)
        return missed
