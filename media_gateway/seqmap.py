"""Sequence-number translation from a publisher's RTP stream to the relayed stream.

Padding-only packets (bandwidth probes) are not forwarded; the relayed stream must
still have no holes, otherwise every viewer would NACK packets that never existed.
"""

from __future__ import annotations

from .rtp import seq_diff

# How far back a late (reordered or retransmitted) packet can still be placed.
_REORDER_WINDOW = 1024


class SeqMapper:
    """Maps incoming sequence numbers to a gap-free outgoing sequence."""

    __slots__ = ("_dropped", "_highest", "_late_offsets", "_started")

    def __init__(self) -> None:
        self._started = False
        self._highest = 0
        self._dropped = 0
        # seq -> dropped count in force when that seq went missing
        self._late_offsets: dict[int, int] = {}

    def map(self, seq: int, drop: bool) -> int | None:
        """Outgoing seq for `seq`, or None when the packet is not forwarded.

        `drop` marks packets we do not forward (padding-only).
        """
        if ((seq - self._highest) & 0xFFFF) == 1 and self._started and not self._late_offsets:
            # The common case, in order with no hole open: nothing else to decide.
            self._highest = seq
            if drop:
                self._dropped += 1
                return None
            return (seq - self._dropped) & 0xFFFF
        if not self._started:
            self._started = True
            self._highest = seq
            if drop:
                self._dropped += 1
                return None
            return seq
        d = seq_diff(seq, self._highest)
        if d > 0:
            if d > _REORDER_WINDOW:
                # Every hole is now too far back to be filled.
                self._late_offsets.clear()
            elif d > 1:
                # Remember the offset of each hole so a late arrival lands in it.
                for missing in range(1, d):
                    self._late_offsets[(self._highest + missing) & 0xFFFF] = self._dropped
                if len(self._late_offsets) > _REORDER_WINDOW:
                    self._prune(seq)
            # A hole left at this number one sequence cycle ago is stale now.
            self._late_offsets.pop(seq, None)
            self._highest = seq
            if drop:
                self._dropped += 1
                return None
            return (seq - self._dropped) & 0xFFFF
        # Late packet: only fill a known hole, never emit a duplicate.
        offset = self._late_offsets.pop(seq, None)
        if offset is None or drop:
            return None
        return (seq - offset) & 0xFFFF

    def _prune(self, newest: int) -> None:
        for s in [s for s in self._late_offsets if seq_diff(newest, s) > _REORDER_WINDOW]:
            del self._late_offsets[s]
