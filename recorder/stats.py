"""The recorder's running totals across all its recordings, for the node's metrics.

Counted on the event loop (the writer thread's news arrives there); they only grow, so a
recording that closes keeps its share. The latency of each segment close is handed to
a hook instead, for whoever keeps a histogram of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


def _ignore(seconds: float) -> None:
    pass


@dataclass
class RecorderStats:
    segments: int = 0  # segments closed, chained and in the signed manifest
    segment_bytes: int = 0  # their size on disk
    # Frames received but not written, by continuity reason code ("frames-dropped-late",
    # "frames-dropped-backlog"): the frames of the `dropped` continuity entries.
    dropped_frames: dict[str, int] = field(default_factory=dict)
    # Seconds from the loop closing a segment to its file renamed, hashed and chained
    # into the signed manifest.
    on_segment_latency: Callable[[float], None] = _ignore

    def segment_written(self, size: int, latency: float | None) -> None:
        self.segments += 1
        self.segment_bytes += size
        if latency is not None:
            self.on_segment_latency(latency)

    def frame_dropped(self, code: str) -> None:
        self.dropped_frames[code] = self.dropped_frames.get(code, 0) + 1
