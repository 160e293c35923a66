"""The audit log's hash chain.

Each row stores hash = sha256(prev_hash || canonical content), prev_hash being the
previous row's hash (64 zero hex digits for the first row), both as raw 32-byte digests
in the computation and hex in the table. The canonical content is the row's id, time,
actor, action, target and detail as compact JSON with sorted keys. Editing, deleting,
inserting or reordering rows breaks the chain at the first row affected; `check` names it.
Ids are consecutive from 1 (assigned under the append lock), so a gap is named too.
Truncating the newest rows cannot be seen from the table alone: keep the head hash that
`vdispatch verify --audit` prints somewhere else to detect that.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from . import db
from .schema import AuditRow

GENESIS = "0" * 64
_BATCH = 1000


def timestamp(at: datetime) -> str:
    """The canonical time: UTC, microseconds, 'Z' (what the database keeps, exactly)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(
    row_id: int, at: datetime, actor: str, action: str, target: str, detail: dict[str, Any]
) -> bytes:
    content = {
        "id": row_id,
        "at": timestamp(at),
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail,
    }
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(prev_hash: str, content: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + content).hexdigest()


def append(
    session: Session, actor: str, action: str, target: str, detail: dict[str, Any] | None = None
) -> AuditRow:
    """Add the next row. The session must be a write transaction (db.writer engine)."""
    db.lock(session.connection(), db.AUDIT_LOCK)
    last = session.execute(
        select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)
    ).first()
    row_id, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = datetime.now(UTC)
    detail = json.loads(json.dumps(detail or {}))  # exactly what the database gives back
    row = AuditRow(
        id=row_id,
        at=at,
        actor=actor,
        action=action,
        target=target,
        detail=detail,
        prev_hash=prev,
        hash=link(prev, canonical(row_id, at, actor, action, target, detail)),
    )
    session.add(row)
    session.flush()
    return row


def as_dict(row: AuditRow) -> dict[str, Any]:
    """A row as the API and evidence packages give it: enough to recompute its hash."""
    return {
        "id": row.id,
        "at": timestamp(row.at),
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "detail": row.detail,
        "prev_hash": row.prev_hash,
        "hash": row.hash,
    }


@dataclass
class AuditCheck:
    rows: int = 0
    head: str = GENESIS
    bad_row: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if not self.ok:
            return f"audit log: FAILED at row {self.bad_row}: {self.problem}"
        return f"audit log: OK: {self.rows} rows, hash chain intact, head {self.head}"


def check(session: Session) -> AuditCheck:
    """Walk the whole chain in id order; stop at the first bad row."""
    result = AuditCheck()
    sqlite = session.get_bind().dialect.name == "sqlite"
    # Read time and detail as stored text where a raw edit could make them unparsable.
    at_col = cast(AuditRow.at, Text) if sqlite else AuditRow.at
    columns = (
        AuditRow.id,
        at_col,
        AuditRow.actor,
        AuditRow.action,
        AuditRow.target,
        cast(AuditRow.detail, Text),
        AuditRow.prev_hash,
        AuditRow.hash,
    )
    expected_id, prev = 1, GENESIS
    total = session.scalar(select(func.count()).select_from(AuditRow)) or 0
    after = 0
    while True:
        batch = session.execute(
            select(*columns).where(AuditRow.id > after).order_by(AuditRow.id).limit(_BATCH)
        ).all()
        if not batch:
            break
        for row_id, at, actor, action, target, detail_text, prev_hash, row_hash in batch:
            after = row_id
            problem = _check_row(
                row_id, expected_id, prev, at, actor, action, target, detail_text, prev_hash
            )
            if problem is None and row_hash != _recompute(
                row_id, at, actor, action, target, detail_text, prev_hash
            ):
                problem = "its content does not match its hash: the row was edited"
            if problem is not None:
                result.bad_row, result.problem = row_id, problem
                return result
            result.rows += 1
            expected_id, prev = row_id + 1, row_hash
    result.head = prev
    if result.rows != total:  # ids not integers in order; cannot happen without a raw edit
        result.bad_row, result.problem = expected_id, "rows out of order"
    return result


def _check_row(
    row_id: int,
    expected_id: int,
    prev: str,
    at: Any,
    actor: str,
    action: str,
    target: str,
    detail_text: str,
    prev_hash: str,
) -> str | None:
    if row_id != expected_id:
        if row_id > expected_id:
            missing = (
                f"row {expected_id}"
                if row_id == expected_id + 1
                else f"rows {expected_id}-{row_id - 1}"
            )
            return f"{missing} missing before it: deleted"
        return f"id {row_id} out of sequence"
    if prev_hash != prev:
        which = "the chain's start" if prev == GENESIS else f"row {row_id - 1}'s hash"
        return f"prev_hash does not match {which}: a row before it was edited, removed or inserted"
    try:
        _parse_at(at)
        json.loads(detail_text)
    except (TypeError, ValueError):
        return "its time or detail is unreadable: the row was edited"
    return None


def _parse_at(at: Any) -> datetime:
    value = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _recompute(
    row_id: int,
    at: Any,
    actor: str,
    action: str,
    target: str,
    detail_text: str,
    prev_hash: str,
) -> str:
    detail = json.loads(detail_text)
    content = canonical(row_id, _parse_at(at), actor, action, target, detail)
    return link(prev_hash, content)
