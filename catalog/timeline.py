"""What the catalog says a stream covered in a span of wall-clock time: its segments
merged into recorded spans, and the continuity events (gaps with a kind and a reason).

Blocking (database reads): async code calls `coverage` through asyncio.to_thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from recorder import manifest as mf

from .recordings import Catalog
from .schema import ContinuityRow, RecordingRow, SegmentRow

# Segments of one recording closer than this are one recorded span (a segment ends where
# the next begins, give or take a frame; real gaps are in the continuity log anyway).
JOIN_TOLERANCE = timedelta(seconds=2)


# Where a span's media was recorded: by this node (live), or by the station itself, in
# its spool, and back-filled after the link returned (recording node_id "station:…").
NODE = "node"
STATION_SPOOL = "station spool"


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime
    recording_id: str
    origin: str = NODE


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime | None  # None: still open (or the recording ended inside it)
    kind: str
    reason: str
    recording_id: str


@dataclass
class StreamCoverage:
    stream: str
    spans: list[Span] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


def merge_spans(segments: Iterable[tuple[str, datetime, datetime]]) -> list[Span]:
    """(recording id, start, end) of segments -> recorded spans, in time order."""
    out: list[Span] = []
    for rid, start, end in sorted(segments, key=lambda s: (s[1], s[2])):
        last = out[-1] if out else None
        if last is not None and last.recording_id == rid and start - last.end <= JOIN_TOLERANCE:
            out[-1] = Span(last.start, max(last.end, end), rid)
        else:
            out.append(Span(start, end, rid))
    return out


def coverage(
    catalog: Catalog, start: datetime, end: datetime, streams: Iterable[str] | None = None
) -> dict[str, StreamCoverage]:
    """Per stream with anything in [start, end): its recorded spans and gaps."""
    wanted = None if streams is None else set(streams)
    segs = (
        select(
            RecordingRow.stream,
            SegmentRow.recording_id,
            SegmentRow.start,
            SegmentRow.end,
            RecordingRow.node_id,
        )
        .join(RecordingRow)
        .where(SegmentRow.start < end, SegmentRow.end > start)
    )
    gaps = (
        select(RecordingRow.stream, ContinuityRow)
        .join(RecordingRow)
        .where(
            ContinuityRow.start < end,
            or_(ContinuityRow.end.is_(None), ContinuityRow.end > start),
        )
        .order_by(ContinuityRow.start)
    )
    if wanted is not None:
        segs = segs.where(RecordingRow.stream.in_(wanted))
        gaps = gaps.where(RecordingRow.stream.in_(wanted))
    out: dict[str, StreamCoverage] = {}
    raw: dict[str, list[tuple[str, datetime, datetime]]] = {}
    spooled: set[str] = set()
    with Session(catalog.engine) as session:
        for stream, rid, seg_start, seg_end, node_id in session.execute(segs):
            raw.setdefault(stream, []).append((rid, seg_start, seg_end))
            if node_id.startswith(mf.STATION_PREFIX):
                spooled.add(rid)
        for stream, row in session.execute(gaps):
            entry = out.setdefault(stream, StreamCoverage(stream))
            entry.gaps.append(Gap(row.start, row.end, row.kind, row.reason, row.recording_id))
    for stream, items in raw.items():
        out.setdefault(stream, StreamCoverage(stream)).spans = [
            replace(s, origin=STATION_SPOOL) if s.recording_id in spooled else s
            for s in merge_spans(items)
        ]
    return out
