"""Manifest -> catalog rows. The files are the source of truth: every field derived here
is overwritten from the manifest; only retention_until, legal_hold and verification
state belong to the catalog (and a legal hold also has a file, see Catalog.set_legal_hold).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from recorder import manifest as mf

from .schema import ContinuityRow, RecordingRow, SegmentRow, parse_iso


def header_values(manifest: mf.Manifest) -> dict[str, Any]:
    return {
        "stream": manifest.stream,
        "station": manifest.station,
        "session": manifest.session,
        "node_id": manifest.node_id,
        "container": manifest.container,
        "codecs": dict(manifest.codecs),
        "started_at": parse_iso(manifest.started_at),
        "ended_at": parse_iso(manifest.ended_at) if manifest.ended_at else None,
        "state": manifest.state,
        "end_reason": manifest.end_reason,
        "continues": manifest.continues,
    }


def segment_values(entry: mf.SegmentEntry) -> dict[str, Any]:
    return {
        "index": entry.index,
        "file": entry.file,
        "start": parse_iso(entry.start),
        "end": parse_iso(entry.end),
        "duration": float(entry.duration),
        "bytes": int(entry.bytes),
        "sha256": entry.sha256,
        "chain": entry.chain,
        "flags": list(entry.flags),
    }


def continuity_values(position: int, entry: mf.ContinuityEntry) -> dict[str, Any]:
    return {
        "position": position,
        "start": parse_iso(entry.start),
        "end": parse_iso(entry.end) if entry.end else None,
        "kind": entry.kind,
        "reason": entry.reason,
    }


def new_recording(manifest: mf.Manifest, retention_days: int, held: bool) -> RecordingRow:
    values = header_values(manifest)
    return RecordingRow(
        id=manifest.recording_id,
        retention_until=values["started_at"] + timedelta(days=retention_days),
        legal_hold=held,
        verified_state=None,
        verified_at=None,
        **values,
    )


def _assign(row: Any, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def upsert(session: Session, manifest: mf.Manifest, retention_days: int, held: bool) -> str:
    """Make the catalog match the manifest: 'added', 'updated' or 'unchanged'."""
    row = session.get(RecordingRow, manifest.recording_id)
    if row is None:
        row = new_recording(manifest, retention_days, held)
        session.add(row)
        status = "added"
        changed = True
    else:
        status = "unchanged"
        changed = _assign(row, header_values(manifest))
        if held and not row.legal_hold:
            row.legal_hold = True
            changed = True
    segments = {s.index: s for s in row.segments}
    for entry in manifest.segments:
        values = segment_values(entry)
        current = segments.pop(entry.index, None)
        if current is None:
            row.segments.append(SegmentRow(**values))
            changed = True
        else:
            changed |= _assign(current, values)
    for stale in segments.values():
        row.segments.remove(stale)
        changed = True
    events = {c.position: c for c in row.continuity}
    for position, gap in enumerate(manifest.continuity, start=1):
        values = continuity_values(position, gap)
        current_gap = events.pop(position, None)
        if current_gap is None:
            row.continuity.append(ContinuityRow(**values))
            changed = True
        else:
            changed |= _assign(current_gap, values)
    for stale_gap in events.values():
        row.continuity.remove(stale_gap)
        changed = True
    if changed and status != "added":
        status = "updated"
        row.verified_state, row.verified_at = None, None  # a new manifest: check it again
    return status


def _live_row(session: Session, header: mf.Manifest, retention_days: int, held: bool) -> None:
    row = session.get(RecordingRow, header.recording_id)
    if row is None:
        session.add(new_recording(header, retention_days, held))
        session.flush()
    else:
        row.state = header.state
        if header.continues:
            row.continues = header.continues
        row.verified_state, row.verified_at = None, None


def add_segment(
    session: Session,
    header: mf.Manifest,
    entry: mf.SegmentEntry,
    retention_days: int,
    held: bool,
) -> None:
    """The live path: one more closed segment (idempotent)."""
    _live_row(session, header, retention_days, held)
    if session.get(SegmentRow, (header.recording_id, entry.index)) is None:
        session.add(SegmentRow(recording_id=header.recording_id, **segment_values(entry)))


def put_continuity(
    session: Session,
    header: mf.Manifest,
    position: int,
    entry: mf.ContinuityEntry,
    retention_days: int,
    held: bool,
) -> None:
    """The live path: a gap, new or updated (a write failure gets its end later)."""
    _live_row(session, header, retention_days, held)
    values = continuity_values(position, entry)
    row = session.get(ContinuityRow, (header.recording_id, position))
    if row is None:
        session.add(ContinuityRow(recording_id=header.recording_id, **values))
    else:
        _assign(row, values)
