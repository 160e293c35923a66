"""Interrogation evidence and petition reception (SQLAlchemy 2 typed ORM).

- A session's interruptions: a stream or its recording stopped mid-session (append-only:
  nothing about an interruption is edited afterwards; its end is set once).
- The interrogation record (笔录): every saved version kept, with its sha256.
- The seal (封存) of an ended interrogation: the signed seal record.
- The petition reception queue: tickets at a county station, accepted by a receptionist.
- Each reception room's one valid kiosk link (revision 0006).

Schema: Alembic revisions 0005 and 0006; these classes must match them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base


class InterruptionRow(Base):
    __tablename__ = "hearing_interruptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hearing_id: Mapped[str] = mapped_column(
        ForeignKey("hearings.id", ondelete="CASCADE"), index=True
    )
    stream_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # stream-lost | recording-failed | …
    reason: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class RecordVersionRow(Base):
    """One saved version of an interrogation record (笔录)."""

    __tablename__ = "hearing_record_versions"
    __table_args__ = (UniqueConstraint("hearing_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hearing_id: Mapped[str] = mapped_column(
        ForeignKey("hearings.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime]


class SealRow(Base):
    """The seal of an ended interrogation: a canonical JSON record and its signature."""

    __tablename__ = "hearing_seals"

    hearing_id: Mapped[str] = mapped_column(
        ForeignKey("hearings.id", ondelete="CASCADE"), primary_key=True
    )
    sealed_at: Mapped[datetime]
    sealed_by: Mapped[str] = mapped_column(String(64))
    record: Mapped[str] = mapped_column(Text)  # canonical JSON, exactly what was signed
    signature: Mapped[str] = mapped_column(String(128))  # Ed25519, hex
    public_key: Mapped[str] = mapped_column(Text)  # PEM of the signing node's key


class TicketRow(Base):
    """A petitioner at a county station's reception room, in the city's one queue.

    `petitioner` and `contact` are personal data: shown to receptionists and auditors
    only, never logged, never in the audit log (which names the ticket id)."""

    __tablename__ = "reception_tickets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    county: Mapped[str] = mapped_column(String(128), index=True)
    petitioner: Mapped[str] = mapped_column(String(64))
    contact: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    # waiting | accepted | closed | abandoned
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime]
    accepted_by: Mapped[str | None] = mapped_column(String(64))
    accepted_at: Mapped[datetime | None]
    hearing_id: Mapped[str | None] = mapped_column(String(32))
    # Seconds from queueing to being accepted or to leaving.
    waited_seconds: Mapped[int | None] = mapped_column(Integer)
    abandoned_at: Mapped[datetime | None]
    # The outcome form, when the receptionist closes the reception.
    matter: Mapped[str | None] = mapped_column(String(200))
    reply: Mapped[str | None] = mapped_column(Text)
    follow_up: Mapped[str | None] = mapped_column(Text)
    department: Mapped[str | None] = mapped_column(String(128))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None]
    # The petitioner pressed "leave" during the call (the receptionist still closes it).
    left_call_at: Mapped[datetime | None]

    # A reception room has one camera and one kiosk: one call at a time. The database
    # holds it, so two receptionists accepting two petitioners of one room at once
    # cannot both win (revision 0006).
    __table_args__ = (
        Index(
            "one_call_per_room",
            "station_id",
            unique=True,
            sqlite_where=text("state = 'accepted'"),
            postgresql_where=text("state = 'accepted'"),
        ),
    )


class KioskLinkRow(Base):
    """A reception room's one valid kiosk link: the token id (jti) of the kiosk token the
    link carries. A new link replaces the row, revoking deletes it; a kiosk token (and
    every call token minted from it) whose id is not here is refused at once."""

    __tablename__ = "kiosk_links"

    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    link_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(128))  # the audit log's actor
    expires_at: Mapped[datetime]
