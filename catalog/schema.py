"""The catalog's tables (SQLAlchemy 2 typed ORM): recordings, their segments and
continuity events, derived from the manifests on disk; and the audit log, which is not.

The schema itself is created and changed only by the Alembic migrations in
`catalog/migrations/`; these classes must match them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalog: use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_iso(text: str) -> datetime:
    """A manifest's or a query's ISO 8601 time; naive means UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """The manifests' format: UTC, milliseconds, 'Z'."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class RecordingRow(Base):
    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), index=True)
    station: Mapped[str] = mapped_column(String(256))
    session: Mapped[str | None] = mapped_column(String(128), index=True)
    node_id: Mapped[str] = mapped_column(String(256))
    container: Mapped[str] = mapped_column(String(8))
    codecs: Mapped[dict[str, Any]]
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16))
    end_reason: Mapped[str | None] = mapped_column(Text)  # the manifest's (0009)
    # The recording of a lost node this one continues (the manifest's `continues`).
    continues: Mapped[str | None] = mapped_column(String(128))
    retention_until: Mapped[datetime] = mapped_column(index=True)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    verified_state: Mapped[str | None] = mapped_column(String(16))  # ok | failed | None
    verified_at: Mapped[datetime | None]
    # A station-spooled recording (manifest node_id "station:{id}"): when the centre
    # last received a part of it (back-fill); None for the node's own recordings.
    ingested_at: Mapped[datetime | None]

    segments: Mapped[list[SegmentRow]] = relationship(
        back_populates="recording",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="SegmentRow.index",
    )
    continuity: Mapped[list[ContinuityRow]] = relationship(
        back_populates="recording",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ContinuityRow.position",
    )


class SegmentRow(Base):
    __tablename__ = "segments"

    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True)  # from 1, as in the file
    file: Mapped[str] = mapped_column(String(64))
    start: Mapped[datetime]
    end: Mapped[datetime]
    duration: Mapped[float] = mapped_column(Float)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    chain: Mapped[str] = mapped_column(String(64))
    flags: Mapped[list[str]]

    recording: Mapped[RecordingRow] = relationship(back_populates="segments")


class ContinuityRow(Base):
    __tablename__ = "continuity_events"

    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)  # order in the manifest
    start: Mapped[datetime]
    end: Mapped[datetime | None]
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)

    recording: Mapped[RecordingRow] = relationship(back_populates="continuity")


class StationKeyRow(Base):
    """A station's Ed25519 public key: it signs the manifests of the station's spool."""

    __tablename__ = "station_keys"

    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_pem: Mapped[str] = mapped_column(Text)
    enrolled_at: Mapped[datetime]
    enrolled_by: Mapped[str] = mapped_column(String(256))


class AuditRow(Base):
    """Append-only; each row's hash covers its content and the previous row's hash."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(256), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(256), index=True)
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
