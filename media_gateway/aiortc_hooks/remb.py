"""The receive-side bandwidth estimate the gateway sends its publishers (REMB), fed once
per burst of packets instead of once per packet."""

from __future__ import annotations

from collections.abc import Callable

from aiortc.rate import RemoteBitrateEstimator

OnEstimate = Callable[[tuple[int, list[int]]], None]  # (bitrate, ssrcs): a REMB to send


class BurstEstimator:
    """aiortc's RemoteBitrateEstimator, fed the way the ingest path reads packets: in
    bursts drained from the socket together, one arrival time each. After a burst's first
    packet, each further one (same arrival, same SSRC, later send time) would only join
    the estimator's current group and its rate bucket of that millisecond, so they are
    added up and given to it as one when the next burst begins: the same group sizes,
    send times, arrival times and rate, in a third of the calls, hence the same
    estimates while the link is not over-used. While it is, aiortc (unlike libwebrtc,
    which throttles the decrease) reruns its rate control for every packet fed, a REMB
    each; fed per burst that is once per burst: the estimate still falls at once, in
    fewer REMBs (tests/test_remb.py)."""

    def __init__(self, on_estimate: OnEstimate) -> None:
        self.estimator = RemoteBitrateEstimator()
        self._on_estimate = on_estimate
        self._burst: list[int] | None = None  # [arrival ms, abs-send-time, bytes, ssrc]

    def add(self, arrival_ms: int, abs_send_time: int, size: int, ssrc: int) -> None:
        burst = self._burst
        if burst is not None and burst[0] == arrival_ms and burst[3] == ssrc:
            burst[1] = abs_send_time
            burst[2] += size
            return
        self.flush()
        self._burst = [arrival_ms, abs_send_time, 0, ssrc]
        self._add(arrival_ms, abs_send_time, size, ssrc)

    def flush(self) -> None:
        """Give the estimator what is held of the last burst."""
        burst, self._burst = self._burst, None
        if burst is not None and burst[2]:
            self._add(*burst)

    def _add(self, arrival_ms: int, abs_send_time: int, size: int, ssrc: int) -> None:
        estimate = self.estimator.add(
            abs_send_time=abs_send_time, arrival_time_ms=arrival_ms, payload_size=size, ssrc=ssrc
        )
        if estimate is not None:
            self._on_estimate(estimate)
