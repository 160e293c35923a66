"""Reading and locking hearing rows, shared by the parts of the session store."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog import (
    CommentRow,
    DirectionRow,
    HearingParticipantRow,
    HearingRow,
    HearingStreamRow,
    InterruptionRow,
    iso,
)

from .hearing import Comment, Direction, Hearing, HearingError, Kind, Part, Participant, State


def target(hearing_id: str) -> str:
    return f"session:{hearing_id}"


def row_for_update(session: Session, hearing_id: str) -> HearingRow:
    # The write transaction holds SQLite's write lock; PostgreSQL locks the row.
    row = session.scalar(select(HearingRow).where(HearingRow.id == hearing_id).with_for_update())
    if row is None:
        raise HearingError(404, f"no session {hearing_id}")
    return row


def load(session: Session, rows: list[HearingRow], full: bool) -> list[Hearing]:
    ids = [r.id for r in rows]
    parts: dict[str, list[Participant]] = {}
    streams: dict[str, list[str]] = {}
    directions: dict[str, list[Direction]] = {}
    comments: dict[str, list[Comment]] = {}
    interruptions: dict[str, list[dict[str, Any]]] = {}
    if ids:
        for p in session.scalars(
            select(HearingParticipantRow)
            .where(HearingParticipantRow.hearing_id.in_(ids))
            .order_by(HearingParticipantRow.user_name)
        ):
            parts.setdefault(p.hearing_id, []).append(Participant(p.user_name, cast(Part, p.part)))
        for s in session.scalars(
            select(HearingStreamRow)
            .where(HearingStreamRow.hearing_id.in_(ids))
            .order_by(HearingStreamRow.position)
        ):
            streams.setdefault(s.hearing_id, []).append(s.stream_id)
        if full:
            for d in session.scalars(
                select(DirectionRow)
                .where(DirectionRow.hearing_id.in_(ids))
                .order_by(DirectionRow.id)
            ):
                directions.setdefault(d.hearing_id, []).append(Direction.of(d))
            for c in session.scalars(
                select(CommentRow).where(CommentRow.hearing_id.in_(ids)).order_by(CommentRow.id)
            ):
                comments.setdefault(c.hearing_id, []).append(Comment.of(c))
            for i in session.scalars(
                select(InterruptionRow)
                .where(InterruptionRow.hearing_id.in_(ids))
                .order_by(InterruptionRow.started_at, InterruptionRow.id)
            ):
                interruptions.setdefault(i.hearing_id, []).append(interruption_json(i))
    return [
        Hearing(
            r.id,
            cast(Kind, r.kind),
            r.title,
            r.case_no,
            r.station_id,
            r.county,
            cast(State, r.state),
            r.created_by,
            r.created_at,
            r.scheduled_for,
            r.started_at,
            r.ended_at,
            r.evaluation,
            tuple(parts.get(r.id, ())),
            tuple(streams.get(r.id, ())),
            tuple(directions.get(r.id, ())),
            tuple(comments.get(r.id, ())),
            tuple(interruptions.get(r.id, ())),
        )
        for r in rows
    ]


def interruption_json(row: InterruptionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "stream": row.stream_id,
        "kind": row.kind,
        "reason": row.reason,
        "started_at": iso(row.started_at),
        "ended_at": iso(row.ended_at),
    }
