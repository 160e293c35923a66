"""Reception rooms' kiosk links: the store.

A kiosk link (`/kiosk/{station}?token=…`) carries a kiosk token; its token id (jti) is
kept here as the station's one valid link, like a wall screen's link (dispatch.py): a
new link replaces the old one, revoking deletes it, and a kiosk token, or a call token
minted from it, whose link is not the station's current one is refused at once
(kiosk_guard.py). Who made it, when, and until when is listed for admins and commanders;
the token itself is never stored. Every change is audited in the same transaction.
Blocking: async code calls these through asyncio.to_thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from catalog import KioskLinkRow, iso, writer
from catalog import audit as auditlog

from .errors import Refusal


@dataclass(frozen=True)
class KioskLink:
    station: str
    link_id: str  # never given out: it names the token
    created_at: datetime
    created_by: str
    expires_at: datetime

    @staticmethod
    def of(row: KioskLinkRow) -> KioskLink:
        return KioskLink(
            row.station_id, row.link_id, row.created_at, row.created_by, row.expires_at
        )

    def as_json(self, now: datetime) -> dict[str, Any]:
        expires = self.expires_at
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return {
            "station": self.station,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "expires_at": iso(self.expires_at),
            "expired": expires <= now,
        }


def _target(station: str) -> str:
    return f"station:{station}"


class KioskLinks:
    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(writer(engine), expire_on_commit=False)

    def make(
        self, station: str, link_id: str, actor: str, ttl: int
    ) -> tuple[KioskLink, str | None]:
        """`link_id` becomes the station's one valid link; the one before (its id is
        returned) stops working."""
        now = datetime.now(UTC)
        try:
            with self._write.begin() as session:
                row = session.get(KioskLinkRow, station, with_for_update=True)
                replaced = row.link_id if row is not None else None
                if row is None:
                    row = KioskLinkRow(station_id=station)
                    session.add(row)
                row.link_id, row.created_at, row.created_by = link_id, now, actor
                row.expires_at = now + timedelta(seconds=ttl)
                detail = {"token": link_id, "ttl": ttl, "replaced": replaced}
                auditlog.append(session, actor, "reception.kiosk.link", _target(station), detail)
                return KioskLink.of(row), replaced
        except IntegrityError as exc:  # two first links for the station at the same time
            raise Refusal(409, f"a kiosk link for {station} was made meanwhile: try again") from exc

    def revoke(self, station: str, actor: str) -> KioskLink | None:
        """No valid link for the station any more (None: it had none)."""
        with self._write.begin() as session:
            row = session.get(KioskLinkRow, station, with_for_update=True)
            if row is None:
                return None
            link = KioskLink.of(row)
            session.delete(row)
            detail = {"token": link.link_id}
            auditlog.append(session, actor, "reception.kiosk.revoke", _target(station), detail)
            return link

    def get(self, station: str) -> KioskLink | None:
        with self._read() as session:
            row = session.get(KioskLinkRow, station)
            return KioskLink.of(row) if row is not None else None

    def all(self) -> list[KioskLink]:
        with self._read() as session:
            rows = session.scalars(select(KioskLinkRow).order_by(KioskLinkRow.station_id))
            return [KioskLink.of(r) for r in rows]

    def station_of(self, link_id: str) -> str | None:
        """The station whose current link `link_id` is, or None (revoked or replaced)."""
        with self._read() as session:
            return session.scalar(
                select(KioskLinkRow.station_id).where(KioskLinkRow.link_id == link_id)
            )
