"""The catalog's read queries, and rows as the API gives them (JSON-ready dicts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select

from .schema import AuditRow, RecordingRow, SegmentRow, iso


def summaries() -> Select[Any]:
    """Recordings with their segment count, bytes and duration."""
    stats = (
        select(
            SegmentRow.recording_id,
            func.count().label("segments"),
            func.coalesce(func.sum(SegmentRow.bytes), 0).label("bytes"),
            func.coalesce(func.sum(SegmentRow.duration), 0.0).label("duration"),
        )
        .group_by(SegmentRow.recording_id)
        .subquery()
    )
    return select(RecordingRow, stats.c.segments, stats.c.bytes, stats.c.duration).outerjoin(
        stats, stats.c.recording_id == RecordingRow.id
    )


def summary(row: RecordingRow, segments: int | None, size: int | None, secs: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "stream": row.stream,
        "station": row.station,
        "session": row.session,
        "node_id": row.node_id,
        "container": row.container,
        "codecs": row.codecs,
        "started_at": iso(row.started_at),
        "ended_at": iso(row.ended_at),
        "state": row.state,
        "segments": int(segments or 0),
        "bytes": int(size or 0),
        "duration": round(float(secs or 0.0), 3),
        "retention_until": iso(row.retention_until),
        "legal_hold": row.legal_hold,
        "verified_state": row.verified_state,
        "verified_at": iso(row.verified_at),
        # A station-spooled recording: when the centre last received a part of it.
        "ingested_at": iso(row.ingested_at),
    }


def recordings(
    stream: str | None,
    session_id: str | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> Select[Any]:
    """Newest first; with start/end, the recordings overlapping that span."""
    query = summaries()
    if stream is not None:
        query = query.where(RecordingRow.stream == stream)
    if session_id is not None:
        query = query.where(RecordingRow.session == session_id)
    if end is not None:
        query = query.where(RecordingRow.started_at <= end)
    if start is not None:
        query = query.where(or_(RecordingRow.ended_at.is_(None), RecordingRow.ended_at >= start))
    return query.order_by(RecordingRow.started_at.desc(), RecordingRow.id).limit(limit)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _audit_filters(
    query: Select[Any],
    actor: str | None,
    action: str | None,
    target: str | None,
    start: datetime | None,
    end: datetime | None,
) -> Select[Any]:
    if actor:
        query = query.where(AuditRow.actor.like(f"%{_like(actor)}%", escape="\\"))
    if action:
        query = query.where(AuditRow.action == action)
    if target:
        query = query.where(
            or_(AuditRow.target == target, AuditRow.target.like(f"{_like(target)}/%", "\\"))
        )
    if start is not None:
        query = query.where(AuditRow.at >= start)
    if end is not None:
        query = query.where(AuditRow.at <= end)
    return query


def audit_rows(
    actor: str | None,
    action: str | None,
    target: str | None,
    start: datetime | None,
    end: datetime | None,
    after: int,
    limit: int,
) -> Select[Any]:
    """Oldest first. actor: a substring (a token id or a name); target: that target and
    everything under it ('REC' also matches 'REC/segments/3')."""
    query = _audit_filters(select(AuditRow), actor, action, target, start, end)
    return query.where(AuditRow.id > after).order_by(AuditRow.id).limit(limit)


def newest_audit_rows(
    actor: str | None,
    action: str | None,
    start: datetime | None,
    end: datetime | None,
    before: int | None,
    limit: int,
) -> Select[Any]:
    """Newest first, ids below `before` (the audit page's paging); `end` exclusive."""
    query = _audit_filters(select(AuditRow), actor, action, None, start, None)
    if end is not None:
        query = query.where(AuditRow.at < end)
    if before is not None:
        query = query.where(AuditRow.id < before)
    return query.order_by(AuditRow.id.desc()).limit(limit)


def audit_actions() -> Select[Any]:
    return select(AuditRow.action).distinct().order_by(AuditRow.action)
