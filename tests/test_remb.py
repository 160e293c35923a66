"""The REMB estimate fed per burst is the estimate aiortc's estimator makes per packet."""

from __future__ import annotations

import random

from aiortc.rate import BandwidthUsage, RemoteBitrateEstimator

from media_gateway.aiortc_hooks.remb import BurstEstimator

SSRC = 1234
OVERUSING = BandwidthUsage.OVERUSING


def _stream(seed: int, seconds: float = 20.0) -> list[tuple[int, int, int]]:
    """(arrival ms, abs-send-time, bytes) of a 30 fps publisher read in bursts: a frame's
    packets leave ~30 us apart and are drained from the socket together (one arrival
    time); network delay drifts up (a congested link) and back down."""
    rng = random.Random(seed)
    out = []
    delay = 5.0
    for frame in range(int(seconds * 30)):
        send_s = frame / 30
        if 200 < frame < 350:
            delay += rng.uniform(0, 3)  # queueing builds up: over-use
        else:
            delay = max(5.0, delay - rng.uniform(0, 2))
        packets = rng.choice([3, 5, 8]) if frame % 60 else 80  # keyframe every 2 s
        arrival = send_s * 1000 + delay
        for i in range(packets):
            sent = send_s + i * 30e-6
            ast = int(sent * (1 << 18)) & 0xFFFFFF  # 6.18 fixed point seconds
            if i and i % 16 == 0:
                arrival += rng.uniform(0, 2)  # a long burst is read in several drains
            out.append((int(arrival), ast, rng.randint(900, 1200)))
    return out


def _estimates(stream: list[tuple[int, int, int]], per_burst: bool) -> list[tuple[int, int, bool]]:
    """(arrival ms, bitrate, over-using) of each REMB the estimator asks for."""
    out: list[tuple[int, int, bool]] = []
    now = [0]
    if per_burst:
        burst = BurstEstimator(
            lambda e: out.append((now[0], e[0], burst.estimator.detector.state() == OVERUSING))
        )
        for arrival, ast, size in stream:
            now[0] = arrival
            burst.add(arrival, ast, size, SSRC)
        burst.flush()
        return out
    reference = RemoteBitrateEstimator()
    for arrival, ast, size in stream:
        e = reference.add(abs_send_time=ast, arrival_time_ms=arrival, payload_size=size, ssrc=SSRC)
        if e is not None:
            out.append((arrival, e[0], reference.detector.state() == OVERUSING))
    return out


def test_burst_feeding_gives_the_per_packet_estimates() -> None:
    """The same estimates until the link is over-used; then aiortc, fed per packet,
    reruns its rate control on every packet (a REMB each, several a millisecond), fed
    per burst once per burst: the estimate still falls, in far fewer REMBs."""
    for seed in range(3):
        stream = _stream(seed)
        theirs, ours = _estimates(stream, False), _estimates(stream, True)
        first = next(i for i, (_, _, over) in enumerate(theirs) if over)
        assert first > 5
        assert ours[: first + 1] == theirs[: first + 1]
        before = theirs[first - 1][1]
        assert min(rate for _, rate, over in ours if over) < 0.8 * before
        assert len(ours) < len(theirs) / 2
        # and it recovers once the queue drains: the last estimates are normal again
        assert not ours[-1][2]


def test_a_burst_of_another_ssrc_is_its_own() -> None:
    got: list[tuple[int, list[int]]] = []
    b = BurstEstimator(got.append)
    b.add(1000, 100, 1000, 1)
    b.add(1000, 110, 1000, 2)  # RTX of the same burst: fed, not added to the media's
    b.add(1000, 120, 1000, 1)
    b.flush()
    assert set(b.estimator.ssrcs) == {1, 2}
