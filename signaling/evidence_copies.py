"""The store of sealed interrogations' evidence copies (issue 9 item 5): one row per
session, written by the copy job at the root (vdispatch/evidence_copy.py), read by the
API (copy_api.py) and the archive's session page.

The table is the queue: a copy is `queued` when its session is sealed or when an auditor
asks again, `rendering` while the one worker renders it, then `done` (with its hash and
the signed derived record) or `failed` (with the reason). A node that stops or crashes
mid-render finds the row `rendering` at its next start and queues it again. Queued, done
and failed are audit rows, in the same transaction as the change. Blocking: async code
calls these through asyncio.to_thread.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, cast

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from catalog import EvidenceCopyRow, HearingRow, SealRow, iso, writer
from catalog import audit as auditlog

from .audience import audience
from .hearing import Hearing, HearingError
from .hearing_rows import row_for_update, target
from .policy import Permission, SessionAction, parts_with

CopyState = Literal["queued", "rendering", "done", "failed"]
COPY_STATES: tuple[CopyState, ...] = ("queued", "rendering", "done", "failed")
COPY_FORMAT = "vdispatch-copy/1"


@dataclass(frozen=True)
class EvidenceCopy:
    session: str
    state: CopyState
    progress: float
    path: str | None
    sha256: str | None
    bytes: int | None
    duration: float | None
    record: str | None  # the signed derived record, exactly the signed text
    signature: str | None  # hex
    public_key: str | None  # PEM
    error: str | None
    requested_by: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @staticmethod
    def of(row: EvidenceCopyRow) -> EvidenceCopy:
        return EvidenceCopy(
            row.hearing_id,
            cast(CopyState, row.state),
            row.progress,
            row.path,
            row.sha256,
            row.bytes,
            row.duration,
            row.record,
            row.signature,
            row.public_key,
            row.error,
            row.requested_by,
            row.requested_at,
            row.started_at,
            row.finished_at,
        )

    def brief(self) -> dict[str, Any]:
        """What a progress event says: no record, no key."""
        return {
            "session": self.session,
            "state": self.state,
            "progress": round(self.progress, 4),
            "sha256": self.sha256,
            "bytes": self.bytes,
            "duration": self.duration,
            "error": self.error,
            "requested_by": self.requested_by,
            "requested_at": iso(self.requested_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
        }

    def as_json(self) -> dict[str, Any]:
        """GET …/copy: the state, and once done the signed record (parsed), its signature
        and the public key."""
        parsed = json.loads(self.record) if self.record is not None else None
        return {
            **self.brief(),
            "record": parsed,
            "signature": self.signature,
            "public_key": self.public_key,
        }


class CopyQueue(Protocol):
    """The node's copy job, injected by the composition root (COPY_QUEUE_KEY): told that
    a queued row is waiting (the row is the queue; this only wakes the worker)."""

    def wake(self) -> None: ...


def copy_audience(hearing: Hearing) -> dict[str, Any]:
    """Who is told of a copy's progress: the session's parts that may read it, and every
    account that reads copies (within the session's county)."""
    parts = parts_with(SessionAction.READ_COPY)
    names = [p.user for p in hearing.participants if p.part in parts]
    if "director" in parts:
        names.append(hearing.created_by)
    return audience(names, hearing.county, Permission.COPY_READ)


class EvidenceCopies:
    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(writer(engine), expire_on_commit=False)

    def get(self, hearing_id: str) -> EvidenceCopy | None:
        with self._read() as session:
            row = session.get(EvidenceCopyRow, hearing_id)
            return EvidenceCopy.of(row) if row is not None else None

    def request(self, hearing_id: str, actor: str, *, again: bool = False) -> EvidenceCopy:
        """Queue the copy of a sealed interrogation. The seal's request (`again` False)
        keeps a copy that exists; an auditor's (`again`) queues a failed or done one anew.
        404 no session; 409 not a sealed interrogation, or rendering now."""
        now = datetime.now(UTC)
        with self._write.begin() as session:
            hearing = row_for_update(session, hearing_id)
            _check_sealed(session, hearing)
            row = session.get(EvidenceCopyRow, hearing_id)
            if row is not None and (not again or row.state == "queued"):
                return EvidenceCopy.of(row)
            if row is not None and row.state == "rendering":
                raise HearingError(409, f"the evidence copy of {hearing_id} is rendering now")
            if row is None:
                row = EvidenceCopyRow(hearing_id=hearing_id)
                session.add(row)
            row.state, row.progress, row.error = "queued", 0.0, None
            row.path = row.sha256 = row.record = row.signature = row.public_key = None
            row.bytes, row.duration = None, None
            row.requested_by, row.requested_at = actor, now
            row.started_at = row.finished_at = None
            session.flush()
            auditlog.append(
                session, actor, "session.copy.queued", _target(hearing_id), {"again": again}
            )
            return EvidenceCopy.of(row)

    def next_queued(self, skip: Collection[str] = ()) -> EvidenceCopy | None:
        """The oldest queued copy (the worker's next), but none of `skip` (in a cluster:
        copies whose recordings another node holds)."""
        query = select(EvidenceCopyRow).where(EvidenceCopyRow.state == "queued")
        if skip:
            query = query.where(EvidenceCopyRow.hearing_id.not_in(list(skip)))
        with self._read() as session:
            row = session.scalar(
                query.order_by(EvidenceCopyRow.requested_at, EvidenceCopyRow.hearing_id).limit(1)
            )
            return EvidenceCopy.of(row) if row is not None else None

    def begin(self, hearing_id: str, node_id: str | None = None) -> EvidenceCopy | None:
        """queued → rendering, by `node_id`; None when it is no longer queued (in a
        cluster: another node took it first; the row lock makes the claim atomic)."""
        with self._write.begin() as session:
            row = _locked(session, hearing_id)
            if row is None or row.state != "queued":
                return None
            row.state, row.progress, row.started_at = "rendering", 0.0, datetime.now(UTC)
            row.node = node_id
            return EvidenceCopy.of(row)

    def set_progress(self, hearing_id: str, progress: float) -> EvidenceCopy | None:
        with self._write.begin() as session:
            row = _locked(session, hearing_id)
            if row is None or row.state != "rendering":
                return None
            row.progress = min(1.0, max(0.0, progress))
            return EvidenceCopy.of(row)

    def finish(
        self,
        hearing_id: str,
        *,
        path: str,
        sha256: str,
        size: int,
        duration: float,
        record: str,
        signature: str,
        public_key: str,
    ) -> EvidenceCopy:
        """rendering → done, with the copy's hash and its signed derived record."""
        with self._write.begin() as session:
            row = _rendering(session, hearing_id)
            row.state, row.progress, row.finished_at = "done", 1.0, datetime.now(UTC)
            row.path, row.sha256, row.bytes, row.duration = path, sha256, size, duration
            row.record, row.signature, row.public_key = record, signature, public_key
            detail = {"sha256": sha256, "bytes": size, "duration": duration, "signature": signature}
            auditlog.append(session, "system", "session.copy.done", _target(hearing_id), detail)
            return EvidenceCopy.of(row)

    def fail(self, hearing_id: str, reason: str) -> EvidenceCopy:
        """rendering → failed, with the reason."""
        with self._write.begin() as session:
            row = _rendering(session, hearing_id)
            row.state, row.error, row.finished_at = "failed", reason, datetime.now(UTC)
            detail = {"reason": reason}
            auditlog.append(session, "system", "session.copy.failed", _target(hearing_id), detail)
            return EvidenceCopy.of(row)

    def requeue_unfinished(self, busy: Collection[str] = ()) -> list[str]:
        """At node start: copies left rendering (a crash, a stop) are queued again, except
        those a live node of the cluster (`busy`) is rendering now. The ids of every
        queued copy, oldest first."""
        with self._write.begin() as session:
            for row in session.scalars(
                select(EvidenceCopyRow).where(EvidenceCopyRow.state == "rendering")
            ):
                if row.node is not None and row.node in busy:
                    continue
                row.state, row.progress, row.started_at = "queued", 0.0, None
            return list(
                session.scalars(
                    select(EvidenceCopyRow.hearing_id)
                    .where(EvidenceCopyRow.state == "queued")
                    .order_by(EvidenceCopyRow.requested_at)
                )
            )

    def back_to_queue(self, hearing_id: str) -> None:
        """A render stopped by the node stopping: queued again, nothing recorded as failed."""
        with self._write.begin() as session:
            row = _locked(session, hearing_id)
            if row is not None and row.state == "rendering":
                row.state, row.progress, row.started_at = "queued", 0.0, None

    def sealed_without_copy(self) -> list[str]:
        """Sealed interrogations with no copy row (sealed while copies were off, or a
        seal's event lost): the job queues them at start."""
        with self._read() as session:
            return list(
                session.scalars(
                    select(SealRow.hearing_id)
                    .where(~SealRow.hearing_id.in_(select(EvidenceCopyRow.hearing_id)))
                    .order_by(SealRow.sealed_at)
                )
            )


def _target(hearing_id: str) -> str:
    return f"{target(hearing_id)}/copy"


def _check_sealed(session: Session, hearing: HearingRow) -> None:
    if hearing.kind != "interrogation":
        raise HearingError(409, "only a sealed interrogation has an evidence copy")
    if hearing.state != "sealed" or session.get(SealRow, hearing.id) is None:
        raise HearingError(
            409, f"session {hearing.id} is {hearing.state}: an evidence copy needs it sealed"
        )


def _locked(session: Session, hearing_id: str) -> EvidenceCopyRow | None:
    return session.scalar(
        select(EvidenceCopyRow).where(EvidenceCopyRow.hearing_id == hearing_id).with_for_update()
    )


def _rendering(session: Session, hearing_id: str) -> EvidenceCopyRow:
    row = _locked(session, hearing_id)
    if row is None or row.state != "rendering":
        state = "missing" if row is None else row.state
        raise HearingError(409, f"the evidence copy of {hearing_id} is {state}, not rendering")
    return row
