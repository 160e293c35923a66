"""What the archive pages show, gathered on the server: recordings filtered by county,
station, date range and session, each with its verification state; and the coverage
timeline's rows for a day. Blocking (catalog reads, file hashing): handlers call these
through asyncio.to_thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from catalog import Archive, coverage, parse_iso
from signaling import Station, Stations

from . import timeline

MAX_ROWS = 200


@dataclass(frozen=True)
class Filters:
    county: str | None = None
    station: str | None = None
    day_from: date | None = None
    day_to: date | None = None
    session: str | None = None

    def span(self, tz: tzinfo) -> tuple[datetime | None, datetime | None]:
        start = day_start(self.day_from, tz) if self.day_from else None
        end = day_start(self.day_to, tz) + timedelta(days=1) if self.day_to else None
        return start, end


def local_tz() -> tzinfo:
    """The node's time zone (the console shows times as the node's clock does)."""
    tz = datetime.now().astimezone().tzinfo
    assert tz is not None
    return tz


def day_start(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tz)


def _stations(stations: Stations | None) -> list[Station]:
    return stations.all() if stations is not None else []


def list_recordings(
    archive: Archive, stations: Stations | None, filters: Filters, tz: tzinfo
) -> dict[str, Any]:
    """Rows for the list page (newest first, at most MAX_ROWS), and the filter choices."""
    registry = _stations(stations)
    by_stream = {s: st for st in registry for s in st.streams}
    allowed: set[str] | None = None
    if filters.county or filters.station:
        allowed = {
            s
            for st in registry
            if (not filters.county or st.county == filters.county)
            and (not filters.station or st.id == filters.station)
            for s in st.streams
        }
    start, end = filters.span(tz)
    rows: list[dict[str, Any]] = []
    if allowed is None or allowed:
        found = archive.catalog.recordings(None, filters.session, start, end, 10 * MAX_ROWS)
        for rec in found:
            if allowed is not None and rec["stream"] not in allowed:
                continue
            if len(rows) >= MAX_ROWS:
                break
            rows.append(row(archive, rec, by_stream.get(rec["stream"])))
    return {
        "recordings": rows,
        "truncated": len(rows) >= MAX_ROWS,
        "counties": sorted({st.county for st in registry}),
        "stations": [
            {"id": st.id, "name": st.name, "county": st.county}
            for st in sorted(registry, key=lambda s: (s.county, s.name))
        ],
    }


def row(archive: Archive, rec: dict[str, Any], station: Station | None) -> dict[str, Any]:
    """A recording's list row: the catalog's summary, its station and verification."""
    verification = archive.verification(rec["id"], live=rec["state"] == "recording")
    return rec | {
        "station_name": station.name if station else rec["station"],
        "station_id": station.id if station else None,
        "county": station.county if station else "",
        "started": parse_iso(rec["started_at"]) if rec["started_at"] else None,
        "ended": parse_iso(rec["ended_at"]) if rec["ended_at"] else None,
        "verification": verification,
    }


def recording_detail(
    archive: Archive, stations: Stations | None, recording_id: str
) -> dict[str, Any] | None:
    """Catalog entry, manifest and verification (catalog.Archive), plus its station."""
    detail = archive.detail(recording_id)
    if detail is None:
        return None
    stream = detail["recording"]["stream"]
    station = next((st for st in _stations(stations) if stream in st.streams), None)
    detail["station"] = station
    rec = detail["recording"]
    rec["started"] = parse_iso(rec["started_at"]) if rec["started_at"] else None
    rec["ended"] = parse_iso(rec["ended_at"]) if rec["ended_at"] else None
    rec["retention"] = parse_iso(rec["retention_until"])
    detail["checked"] = parse_iso(detail["verification"]["checked_at"])
    manifest = detail["manifest"] or {}
    detail["gaps"] = [
        {
            "kind": g.get("kind", ""),
            "reason": g.get("reason", ""),
            "start": parse_iso(g["start"]),
            "end": parse_iso(g["end"]) if g.get("end") else None,
        }
        for g in manifest.get("continuity", [])
    ]
    return detail


def timeline_rows(
    archive: Archive,
    stations: Stations | None,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    labels: dict[str, str],
    station_id: str | None = None,
    day: str = "",
    reason: Callable[[str], str] = str,
) -> list[timeline.Row]:
    """One row per registered station (its streams together), then one per recorded stream
    no station claims. `labels`: 'recorded' and the gap kinds, `reason`: a gap's reason,
    in the page's language."""
    registry = [st for st in _stations(stations) if station_id in (None, st.id)]
    covered = coverage(archive.catalog, start, end)
    rows: list[timeline.Row] = []
    claimed: set[str] = set()
    for st in sorted(registry, key=lambda s: (s.county, s.name)):
        href = f"/archive?station={st.id}&from={day}&to={day}" if day else None
        row = timeline.Row(st.id, st.name, st.county, href)
        for stream in st.streams:
            claimed.add(stream)
            if stream in covered:
                _fill(row, covered[stream], tz, labels, reason)
        rows.append(row)
    if station_id is None:
        for stream in sorted(set(covered) - claimed):
            row = timeline.Row(stream, stream)
            _fill(row, covered[stream], tz, labels, reason)
            rows.append(row)
    return rows


def _fill(
    row: timeline.Row,
    cov: Any,
    tz: tzinfo,
    labels: dict[str, str],
    reason: Callable[[str], str],
) -> None:
    for span in cov.spans:
        # Spans back-filled from a station's spool say so (origin "station spool").
        label = labels.get("recorded", "recorded")
        if span.origin == "station spool":
            label = labels.get("station spool", "recorded (station spool)")
        tip = timeline.span_tip(span.start, span.end, tz, label)
        row.spans.append(timeline.Bar(span.start, span.end, tip, f"/archive/{span.recording_id}"))
    for gap in cov.gaps:
        tip = timeline.gap_tip(
            gap.start, gap.end, tz, labels.get(gap.kind, gap.kind), reason(gap.reason)
        )
        row.gaps.append(
            timeline.GapBar(gap.start, gap.end, tip, f"/archive/{gap.recording_id}", gap.kind)
        )
