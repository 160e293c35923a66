"""A session's interrogation record (笔录): what the clerk types, saved as versions.

Every save that changes the text is a new version (previous + 1), kept forever with the
sha256 of its UTF-8 text, and an audit row in the same transaction (the version and the
hash, never the text). Saves are optimistic: the client names the version it edited
(`base_version`); a stale base is a 409 carrying the current version so the client can
merge. Saving the text the latest version already has is no new version. The record
changes only while the session is live or ended; a sealed one never again (and before
the start there is nothing to record). Who may save or read is the API's business
(policy.PART_GRANTS). Blocking: async code calls these through asyncio.to_thread.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from catalog import HearingRow, RecordVersionRow, iso, writer
from catalog import audit as auditlog

from .hearing import HearingError

MAX_RECORD = 200_000  # characters
# The states in which the record may change; a sealed session's never does.
WRITABLE = ("live", "ended")
SEALED = "sealed: the record can no longer change"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_text(value: Any) -> str:
    """The record as given (not stripped: its layout is the clerk's), or HearingError."""
    if not isinstance(value, str):
        raise HearingError(400, "text: the record's text expected")
    if len(value) > MAX_RECORD:
        raise HearingError(413, f"text: at most {MAX_RECORD} characters")
    if any((ord(c) < 32 and c not in "\n\t") or c == "\x7f" for c in value):
        raise HearingError(400, "text: control characters other than newline and tab")
    return value


@dataclass(frozen=True)
class RecordVersion:
    """One saved version; `text` is None where only the list of versions was asked."""

    id: int
    hearing_id: str
    version: int
    sha256: str
    saved_by: str
    saved_at: datetime
    text: str | None = None

    @staticmethod
    def of(row: RecordVersionRow, *, with_text: bool = True) -> RecordVersion:
        return RecordVersion(
            row.id,
            row.hearing_id,
            row.version,
            row.sha256,
            row.saved_by,
            row.saved_at,
            row.text if with_text else None,
        )

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "session": self.hearing_id,
            "version": self.version,
            "sha256": self.sha256,
            "saved_by": self.saved_by,
            "saved_at": iso(self.saved_at),
        }
        if self.text is not None:
            data["text"] = self.text
        return data


def empty_record(hearing_id: str) -> dict[str, Any]:
    """What a session with no saved version answers: version 0, no text."""
    return {
        "id": None,
        "session": hearing_id,
        "version": 0,
        "sha256": digest(""),
        "saved_by": None,
        "saved_at": None,
        "text": "",
    }


class RecordConflict(HearingError):
    """A save based on a version that is no longer the latest: `current` is the latest
    (None: there is none yet), for the client to merge with."""

    def __init__(self, base: int, current: RecordVersion | None) -> None:
        latest = current.version if current else 0
        super().__init__(409, f"the record is at version {latest}, not {base}: merge and retry")
        self.current = current


class Records:
    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(writer(engine), expire_on_commit=False)

    # ------------------------------------------------------------ reading

    def latest(self, hearing_id: str) -> RecordVersion | None:
        with self._read() as session:
            row = _latest(session, hearing_id)
            return RecordVersion.of(row) if row is not None else None

    def versions(self, hearing_id: str) -> list[RecordVersion]:
        """Every version, oldest first, without their text."""
        with self._read() as session:
            rows = session.scalars(
                select(RecordVersionRow)
                .where(RecordVersionRow.hearing_id == hearing_id)
                .order_by(RecordVersionRow.version)
            )
            return [RecordVersion.of(row, with_text=False) for row in rows]

    def version(self, hearing_id: str, number: int) -> RecordVersion | None:
        with self._read() as session:
            row = session.scalar(
                select(RecordVersionRow).where(
                    RecordVersionRow.hearing_id == hearing_id, RecordVersionRow.version == number
                )
            )
            return RecordVersion.of(row) if row is not None else None

    # ------------------------------------------------------------ saving

    def save(
        self, hearing_id: str, text: Any, base_version: Any, clerk: str
    ) -> tuple[RecordVersion | None, bool]:
        """(the latest version, whether this save made it). The same text as the latest
        is no new version, whatever the base; a different text on a stale base is a
        RecordConflict; a session not live or ended refuses (409)."""
        body = record_text(text)
        if isinstance(base_version, bool) or not isinstance(base_version, int):
            raise HearingError(400, "base_version: the version the text was edited from")
        sha = digest(body)
        try:
            with self._write.begin() as session:
                hearing = session.scalar(
                    select(HearingRow).where(HearingRow.id == hearing_id).with_for_update()
                )
                if hearing is None:
                    raise HearingError(404, f"no session {hearing_id}")
                if hearing.state == "sealed":
                    raise HearingError(409, SEALED)
                if hearing.state not in WRITABLE:
                    state = hearing.state
                    raise HearingError(409, f"session {hearing_id} is {state}: no record yet")
                last = _latest(session, hearing_id)
                current = RecordVersion.of(last) if last is not None else None
                if (current.sha256 if current else digest("")) == sha:
                    return current, False
                if base_version != (current.version if current else 0):
                    raise RecordConflict(base_version, current)
                row = RecordVersionRow(
                    hearing_id=hearing_id,
                    version=(current.version if current else 0) + 1,
                    text=body,
                    sha256=sha,
                    saved_by=clerk,
                    saved_at=datetime.now(UTC),
                )
                session.add(row)
                session.flush()
                auditlog.append(
                    session,
                    f"user:{clerk}",
                    "record.save",
                    f"session:{hearing_id}/record",
                    {"version": row.version, "sha256": sha},
                )
                return RecordVersion.of(row), True
        except IntegrityError:
            # Another save took this version number first (a database without row locks).
            raise RecordConflict(base_version, self.latest(hearing_id)) from None


def _latest(session: Session, hearing_id: str) -> RecordVersionRow | None:
    return session.scalar(
        select(RecordVersionRow)
        .where(RecordVersionRow.hearing_id == hearing_id)
        .order_by(RecordVersionRow.version.desc())
        .limit(1)
    )
