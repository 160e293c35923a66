"""The gateway's NACK bookkeeping gives the same missing set as aiortc's NackGenerator."""

from __future__ import annotations

import random

from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import RtpPacket

from media_gateway.nacks import NackTracker


def _same_as_aiortc(seqs: list[int]) -> None:
    ours, theirs = NackTracker(), NackGenerator()
    for seq in seqs:
        assert ours.add(seq) == theirs.add(RtpPacket(sequence_number=seq)), seq
        assert ours.missing == theirs.missing, seq
        assert ours.max_seq == theirs.max_seq


def test_in_order_opens_no_hole() -> None:
    t = NackTracker()
    assert not any(t.add(s & 0xFFFF) for s in range(65530, 65600))
    assert t.missing == set()


def test_gap_then_repair() -> None:
    t = NackTracker()
    t.add(10)
    assert t.add(14)
    assert t.missing == {11, 12, 13}
    assert not t.add(12)
    assert t.missing == {11, 13}


def test_big_jump_keeps_only_the_history() -> None:
    _same_as_aiortc([100, 101, 5000, 5001])
    _same_as_aiortc([65500, 65535, 200, 150, 199])


def test_random_loss_reorder_and_wrap_match_aiortc() -> None:
    rng = random.Random(12)
    for start in (0, 40000, 65400):
        seqs: list[int] = []
        s = start
        for _ in range(5000):
            s += rng.choice([1, 1, 1, 1, 1, 2, 3, 40, 200])
            seqs.append(s & 0xFFFF)
            if rng.random() < 0.1 and len(seqs) > 5:  # a late one: repaired or duplicated
                seqs.append(seqs[-rng.randint(2, 5)] - rng.randint(0, 2) & 0xFFFF)
        _same_as_aiortc(seqs)
