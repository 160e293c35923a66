"""The interrogation evidence part of the session store: interruptions (append-only;
an interruption's end is set once), the record's latest version, and the seal.

A mixin of `Hearings` (signaling/hearings.py), with the same engine and the same rules:
each change and its audit row in one transaction. Blocking: async code calls these
through asyncio.to_thread.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from catalog import InterruptionRow, RecordVersionRow, SealRow, iso
from catalog import audit as auditlog

from .hearing import Hearing, HearingError, check_transition
from .hearing_rows import interruption_json, load, row_for_update, target

Interruptions = list[dict[str, Any]]


class InterrogationEvidence:
    _read: sessionmaker[Session]
    _write: sessionmaker[Session]

    def interrupt(
        self, hearing_id: str, stream_id: str, kind: str, reason: str, at: datetime
    ) -> dict[str, Any] | None:
        """A live interrogation's stream or its recording stopped: an interruption (append
        only), unless one of the stream is still open. None when the session is not a
        live interrogation or the stream is already interrupted."""
        with self._write.begin() as session:
            row = row_for_update(session, hearing_id)
            if row.kind != "interrogation" or row.state != "live":
                return None
            open_one = session.scalar(
                select(InterruptionRow.id).where(
                    InterruptionRow.hearing_id == hearing_id,
                    InterruptionRow.stream_id == stream_id,
                    InterruptionRow.ended_at.is_(None),
                )
            )
            if open_one is not None:
                return None
            entry = InterruptionRow(
                hearing_id=hearing_id, stream_id=stream_id, kind=kind, reason=reason, started_at=at
            )
            session.add(entry)
            session.flush()
            out = interruption_json(entry)
            auditlog.append(
                session,
                "system",
                "session.interruption",
                f"{target(hearing_id)}/interruptions/{entry.id}",
                {k: v for k, v in out.items() if k != "id"},
            )
            return out

    def resume(self, hearing_id: str, stream_id: str, at: datetime) -> dict[str, Any] | None:
        """The stream is back: its open interruption ends (set once). None if none open."""
        with self._write.begin() as session:
            entry = session.scalar(
                select(InterruptionRow)
                .where(
                    InterruptionRow.hearing_id == hearing_id,
                    InterruptionRow.stream_id == stream_id,
                    InterruptionRow.ended_at.is_(None),
                )
                .with_for_update()
            )
            if entry is None:
                return None
            entry.ended_at = at
            out = interruption_json(entry)
            auditlog.append(
                session,
                "system",
                "session.interruption-ended",
                f"{target(hearing_id)}/interruptions/{entry.id}",
                {"stream": stream_id, "ended_at": out["ended_at"]},
            )
            return out

    def interruptions(self, hearing_id: str) -> Interruptions:
        with self._read() as session:
            rows = session.scalars(
                select(InterruptionRow)
                .where(InterruptionRow.hearing_id == hearing_id)
                .order_by(InterruptionRow.started_at, InterruptionRow.id)
            )
            return [interruption_json(r) for r in rows]

    def latest_record(self, hearing_id: str) -> dict[str, Any] | None:
        """The interrogation record's newest version {version, sha256}, if any."""
        with self._read() as session:
            row = session.scalar(
                select(RecordVersionRow)
                .where(RecordVersionRow.hearing_id == hearing_id)
                .order_by(RecordVersionRow.version.desc())
                .limit(1)
            )
            return None if row is None else {"version": row.version, "sha256": row.sha256}

    def seal(
        self, hearing_id: str, record: str, signature: str, public_key: str, actor: str
    ) -> Hearing:
        """Store the signed seal record of an ended interrogation and make it sealed, in
        one transaction (409 if it is not ended, or sealed already)."""
        now = datetime.now(UTC)
        with self._write.begin() as session:
            row = row_for_update(session, hearing_id)
            current = load(session, [row], False)[0]
            check_transition(current, "sealed")
            if session.get(SealRow, hearing_id) is not None:
                raise HearingError(409, f"session {hearing_id} is sealed already")
            session.add(
                SealRow(
                    hearing_id=hearing_id,
                    sealed_at=now,
                    sealed_by=actor,
                    record=record,
                    signature=signature,
                    public_key=public_key,
                )
            )
            row.state = "sealed"
            auditlog.append(
                session,
                actor,
                "session.seal",
                target(hearing_id),
                {"state": "sealed", "signature": signature},
            )
            return load(session, [row], False)[0]

    def seal_of(self, hearing_id: str) -> dict[str, Any] | None:
        """The seal: {record (the signed text), signature (hex), public_key (PEM), …}."""
        with self._read() as session:
            row = session.get(SealRow, hearing_id)
            if row is None:
                return None
            return {
                "sealed_at": iso(row.sealed_at),
                "sealed_by": row.sealed_by,
                "record": row.record,
                "signature": row.signature,
                "public_key": row.public_key,
            }
