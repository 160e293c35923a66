"""The evidence copy of a sealed interrogation (issue 9 item 5; SQLAlchemy 2 typed ORM).

One row per session: the MP4 rendered from the sealed recordings (room as the main
picture, the prosecutor as picture-in-picture, time and case number burned in), its state
(queued | rendering | done | failed), progress, and once done its hash and the signed
derived record that refers to the seal. The copy is derived: the sealed originals stay
the evidence.

Schema: Alembic revisions 0007 and 0010 (`node`); this class must match them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .schema import Base


class EvidenceCopyRow(Base):
    __tablename__ = "evidence_copies"

    hearing_id: Mapped[str] = mapped_column(
        ForeignKey("hearings.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16), index=True)  # queued|rendering|done|failed
    progress: Mapped[float] = mapped_column(Float)  # 0..1
    path: Mapped[str | None] = mapped_column(Text)  # the MP4, once done
    sha256: Mapped[str | None] = mapped_column(String(64))
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration: Mapped[float | None] = mapped_column(Float)  # seconds
    record: Mapped[str | None] = mapped_column(Text)  # canonical JSON, exactly what was signed
    signature: Mapped[str | None] = mapped_column(String(128))  # Ed25519, hex
    public_key: Mapped[str | None] = mapped_column(Text)  # PEM of the signing node's key
    error: Mapped[str | None] = mapped_column(Text)  # why the last render failed
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    node: Mapped[str | None] = mapped_column(String(128))  # the node rendering it (or last)
