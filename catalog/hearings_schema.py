"""Hearing sessions in the catalog database (SQLAlchemy 2 typed ORM): a session of one of
three kinds (courtroom direction, interrogation, petition reception) at a county station,
its participants and their part, the streams it covers, the private directions to the
prosecutor in court with their read receipts, and the observers' comments.

The API calls them sessions (CONTRACT §5); the tables say `hearing` so that they are never
confused with console login sessions. Schema: Alembic revision 0003 in
`catalog/migrations/`; these classes must match it (tests/test_catalog.py checks).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base


class HearingRow(Base):
    __tablename__ = "hearings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(200))
    case_no: Mapped[str] = mapped_column(String(64), index=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    # The station's county when the session was made: scoping must not change if the
    # station is later moved or removed.
    county: Mapped[str] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    scheduled_for: Mapped[datetime | None] = mapped_column(index=True)
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    evaluation: Mapped[str | None] = mapped_column(Text)
    evaluated_at: Mapped[datetime | None]


class HearingParticipantRow(Base):
    """A console user's part in a session: director (its creator), prosecutor, observer,
    clerk."""

    __tablename__ = "hearing_participants"

    hearing_id: Mapped[str] = mapped_column(
        ForeignKey("hearings.id", ondelete="CASCADE"), primary_key=True
    )
    user_name: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    part: Mapped[str] = mapped_column(String(16))


class HearingStreamRow(Base):
    """A stream the session covers: the station's cameras and the city side's own."""

    __tablename__ = "hearing_streams"

    hearing_id: Mapped[str] = mapped_column(
        ForeignKey("hearings.id", ondelete="CASCADE"), primary_key=True
    )
    stream_id: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    # station (a county camera) | city (published from the console)
    source: Mapped[str] = mapped_column(String(16))
    position: Mapped[int] = mapped_column(Integer)


class DirectionRow(Base):
    """A private direction from the director to the prosecutor in court."""

    __tablename__ = "hearing_directions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hearing_id: Mapped[str] = mapped_column(
        ForeignKey("hearings.id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_by: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime]
    read_by: Mapped[str | None] = mapped_column(String(64))
    read_at: Mapped[datetime | None]


class CommentRow(Base):
    """An observer's evaluation comment, anchored to the session's media time."""

    __tablename__ = "hearing_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hearing_id: Mapped[str] = mapped_column(
        ForeignKey("hearings.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    media_time: Mapped[float] = mapped_column(Float)  # seconds from the session's start
    posted_at: Mapped[datetime]
