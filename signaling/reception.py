"""The petition reception queue (Issue 9, items 6-8): the store.

A petitioner at a county station's kiosk takes a ticket in the city's one queue (first
come, first served across counties). A receptionist accepts it, atomically: the ticket
moves from `waiting` to `accepted` in one UPDATE … WHERE state = 'waiting', so two
receptionists cannot take the same one (the second gets 409). The reception is then a
hearing session of kind `reception` at the ticket's station, bound to the ticket; the
receptionist closes it with an outcome form. A petitioner who leaves before being
accepted is `abandoned`, with the seconds waited.

Personal data (the petitioner's name and contact) is stored here and given out only to
receptionists and auditors (the API's business); it is never logged, and the audit log
names the ticket id only. Everything is in the catalog, so a node restart loses no one's
place. Blocking: async code calls these through asyncio.to_thread.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from catalog import TicketRow, iso, writer
from catalog import audit as auditlog

from .hearing import HearingError, text_field
from .kiosk_links import KioskLinks

TicketState = Literal["waiting", "accepted", "closed", "abandoned"]

MAX_NAME = 64
MAX_CONTACT = 64
MAX_SUBJECT = 200
MAX_MATTER = 200
MAX_REPLY = 2000
MAX_FOLLOW_UP = 2000
MAX_DEPARTMENT = 128
# A station's kiosk holds at most this many waiting tickets (a stuck kiosk cannot flood).
MAX_WAITING_PER_STATION = 50
# The estimate before any reception has been closed, and how many recent ones it uses.
DEFAULT_MINUTES = 10.0
RECENT = 20


class ReceptionError(HearingError):
    """A request about the reception queue refused (status and reason)."""


@dataclass(frozen=True)
class Ticket:
    id: str
    station: str
    county: str
    petitioner: str
    contact: str
    subject: str
    state: TicketState
    created_at: datetime
    accepted_by: str | None
    accepted_at: datetime | None
    session: str | None
    waited_seconds: int | None
    abandoned_at: datetime | None
    matter: str | None
    reply: str | None
    follow_up: str | None
    department: str | None
    closed_by: str | None
    closed_at: datetime | None
    left_call_at: datetime | None = None

    @staticmethod
    def of(row: TicketRow) -> Ticket:
        return Ticket(
            row.id,
            row.station_id,
            row.county,
            row.petitioner,
            row.contact,
            row.subject,
            row.state,  # type: ignore[arg-type]
            row.created_at,
            row.accepted_by,
            row.accepted_at,
            row.hearing_id,
            row.waited_seconds,
            row.abandoned_at,
            row.matter,
            row.reply,
            row.follow_up,
            row.department,
            row.closed_by,
            row.closed_at,
            row.left_call_at,
        )

    def waited(self, now: datetime) -> int:
        """Seconds waited: until accepted or left, or until `now` while waiting."""
        if self.waited_seconds is not None:
            return self.waited_seconds
        return max(0, int((now - _aware(self.created_at)).total_seconds()))

    def as_json(self, now: datetime) -> dict[str, Any]:
        """Everything, personal data included: for receptionists and auditors only."""
        return {
            "id": self.id,
            "station": self.station,
            "county": self.county,
            "petitioner": self.petitioner,
            "contact": self.contact,
            "subject": self.subject,
            "state": self.state,
            "created_at": iso(self.created_at),
            "waited_seconds": self.waited(now),
            "accepted_by": self.accepted_by,
            "accepted_at": iso(self.accepted_at),
            "session": self.session,
            "abandoned_at": iso(self.abandoned_at),
            "left_call_at": iso(self.left_call_at),
            "outcome": None
            if self.closed_at is None
            else {
                "matter": self.matter,
                "reply": self.reply,
                "follow_up": self.follow_up,
                "department": self.department,
                "closed_by": self.closed_by,
                "closed_at": iso(self.closed_at),
            },
        }

    def public(self) -> dict[str, Any]:
        """What may go anywhere (events' ids, the kiosk): no personal data, no subject."""
        return {
            "id": self.id,
            "station": self.station,
            "county": self.county,
            "state": self.state,
            "session": self.session,
            "left_call_at": iso(self.left_call_at),
        }


@dataclass(frozen=True)
class Place:
    """A waiting ticket's place in the city's queue (1: next) and the estimated wait."""

    ticket: Ticket
    place: int | None
    minutes: int | None

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            **self.ticket.public(),
            "place": self.place,
            "estimated_minutes": self.minutes,
            "waited_seconds": self.ticket.waited(now),
        }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def new_ticket_id(now: datetime) -> str:
    return f"t{now.strftime('%Y%m%d')}-{secrets.token_hex(4)}"


class Reception:
    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(writer(engine), expire_on_commit=False)
        self.links = KioskLinks(engine)

    # ------------------------------------------------------------ the kiosk

    def enqueue(self, station: str, county: str, body: dict[str, Any], actor: str) -> Ticket:
        """A petitioner joins the queue at `station` (its county from the registry)."""
        name = text_field("name", body.get("name"), MAX_NAME)
        contact = text_field("contact", body.get("contact"), MAX_CONTACT)
        subject = text_field("subject", body.get("subject"), MAX_SUBJECT)
        now = datetime.now(UTC)
        ticket_id = new_ticket_id(now)
        with self._write.begin() as session:
            waiting = session.scalar(
                select(func.count())
                .select_from(TicketRow)
                .where(TicketRow.station_id == station, TicketRow.state == "waiting")
            )
            if (waiting or 0) >= MAX_WAITING_PER_STATION:
                raise ReceptionError(429, f"station {station} has {waiting} petitioners waiting")
            row = TicketRow(
                id=ticket_id,
                station_id=station,
                county=county,
                petitioner=name,
                contact=contact,
                subject=subject,
                state="waiting",
                created_at=now,
            )
            session.add(row)
            auditlog.append(
                session, actor, "reception.enqueue", _target(ticket_id), {"station": station}
            )
        return Ticket.of(row)

    def leave(self, ticket_id: str, station: str, actor: str) -> Ticket:
        """The petitioner left: before being accepted, the ticket is abandoned with the
        time waited; during the call, the time they left is kept (once) and the
        receptionist still closes the reception with its outcome."""
        now = datetime.now(UTC)
        with self._write.begin() as session:
            row = _own(session, ticket_id, station)
            if row.state == "accepted":
                if row.left_call_at is None:
                    row.left_call_at = now
                    auditlog.append(
                        session,
                        actor,
                        "reception.hangup",
                        _target(ticket_id),
                        {"session": row.hearing_id},
                    )
                session.flush()
                return Ticket.of(row)
            if row.state != "waiting":
                raise ReceptionError(409, f"ticket {ticket_id} is {row.state}")
            waited = max(0, int((now - _aware(row.created_at)).total_seconds()))
            changed = session.execute(
                update(TicketRow)
                .where(TicketRow.id == ticket_id, TicketRow.state == "waiting")
                .values(state="abandoned", abandoned_at=now, waited_seconds=waited)
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                raise ReceptionError(409, f"ticket {ticket_id} was taken meanwhile")
            auditlog.append(
                session, actor, "reception.abandon", _target(ticket_id), {"waited": waited}
            )
            session.flush()
            session.refresh(row)
            return Ticket.of(row)

    def place(self, ticket_id: str, station: str | None = None) -> Place:
        """The ticket's place in the city's queue and an estimate (only `station`'s)."""
        with self._read() as session:
            row = _own(session, ticket_id, station)
            if row.state != "waiting":
                return Place(Ticket.of(row), None, None)
            ahead = session.scalar(
                select(func.count())
                .select_from(TicketRow)
                .where(
                    TicketRow.state == "waiting",
                    (TicketRow.created_at < row.created_at)
                    | ((TicketRow.created_at == row.created_at) & (TicketRow.id < row.id)),
                )
            )
            place = (ahead or 0) + 1
            return Place(Ticket.of(row), place, math.ceil(place * _average_minutes(session)))

    def linked(self, station: str, token_id: str, actor: str, ttl: int) -> None:
        """A kiosk link was made for `station`: its one valid link from now (audited:
        who, which token, how long, which link it replaced)."""
        self.links.make(station, token_id, actor, ttl)

    # ------------------------------------------------------------ receptionists

    def waiting(self) -> list[Ticket]:
        """The city's queue, first come first."""
        with self._read() as session:
            rows = session.scalars(
                select(TicketRow)
                .where(TicketRow.state == "waiting")
                .order_by(TicketRow.created_at, TicketRow.id)
            )
            return [Ticket.of(r) for r in rows]

    def open_by(self, receptionist: str) -> list[Ticket]:
        """The receptions this receptionist accepted and has not closed yet."""
        with self._read() as session:
            rows = session.scalars(
                select(TicketRow)
                .where(TicketRow.state == "accepted", TicketRow.accepted_by == receptionist)
                .order_by(TicketRow.accepted_at)
            )
            return [Ticket.of(r) for r in rows]

    def get(self, ticket_id: str) -> Ticket | None:
        with self._read() as session:
            row = session.get(TicketRow, ticket_id)
            return Ticket.of(row) if row is not None else None

    def records(self, limit: int = 500) -> list[Ticket]:
        """Every ticket, newest first (auditors)."""
        with self._read() as session:
            rows = session.scalars(
                select(TicketRow).order_by(TicketRow.created_at.desc()).limit(limit)
            )
            return [Ticket.of(r) for r in rows]

    def take(self, ticket_id: str, receptionist: str) -> Ticket:
        """Accept: waiting → accepted in one conditional UPDATE; 409 when it is not
        waiting any more (another receptionist took it, or the petitioner left), or when
        its room is in a call with another petitioner (one camera, one kiosk: the
        catalog's unique index `one_call_per_room` decides a race)."""
        try:
            return self._take(ticket_id, receptionist)
        except IntegrityError:
            raise self._room_busy(ticket_id) from None

    def _room_busy(self, ticket_id: str) -> ReceptionError:
        with self._read() as session:
            row = session.get(TicketRow, ticket_id)
            station = row.station_id if row is not None else "?"
            other = session.scalar(
                select(TicketRow.id).where(
                    TicketRow.station_id == station, TicketRow.state == "accepted"
                )
            )
        why = f"reception room {station} is in a call (ticket {other}): close that one first"
        return ReceptionError(409, why)

    def _take(self, ticket_id: str, receptionist: str) -> Ticket:
        now = datetime.now(UTC)
        with self._write.begin() as session:
            row = session.get(TicketRow, ticket_id)
            if row is None:
                raise ReceptionError(404, f"no ticket {ticket_id}")
            waited = max(0, int((now - _aware(row.created_at)).total_seconds()))
            changed = session.execute(
                update(TicketRow)
                .where(TicketRow.id == ticket_id, TicketRow.state == "waiting")
                .values(
                    state="accepted",
                    accepted_by=receptionist,
                    accepted_at=now,
                    waited_seconds=waited,
                )
            )
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                session.refresh(row)
                who = f" by {row.accepted_by}" if row.state == "accepted" else ""
                raise ReceptionError(409, f"ticket {ticket_id} is {row.state}{who}")
            auditlog.append(
                session,
                f"user:{receptionist}",
                "reception.accept",
                _target(ticket_id),
                {"waited": waited},
            )
            session.flush()
            session.refresh(row)
            return Ticket.of(row)

    def bind(self, ticket_id: str, hearing_id: str) -> Ticket:
        """The reception's session, once created."""
        with self._write.begin() as session:
            row = session.get(TicketRow, ticket_id)
            if row is None:
                raise ReceptionError(404, f"no ticket {ticket_id}")
            row.hearing_id = hearing_id
            auditlog.append(
                session, "system", "reception.bind", _target(ticket_id), {"session": hearing_id}
            )
            session.flush()
            return Ticket.of(row)

    def release(self, ticket_id: str, receptionist: str) -> None:
        """Back to waiting (the session could not be made): the petitioner keeps the place."""
        with self._write.begin() as session:
            session.execute(
                update(TicketRow)
                .where(
                    TicketRow.id == ticket_id,
                    TicketRow.state == "accepted",
                    TicketRow.accepted_by == receptionist,
                    TicketRow.hearing_id.is_(None),
                )
                .values(state="waiting", accepted_by=None, accepted_at=None, waited_seconds=None)
            )

    def close(self, ticket_id: str, body: dict[str, Any], receptionist: str) -> Ticket:
        """The outcome form: matter, reply given, follow-up, department."""
        matter = text_field("matter", body.get("matter"), MAX_MATTER)
        reply = text_field("reply", body.get("reply"), MAX_REPLY, multiline=True)
        follow_up = _optional(body, "follow_up", MAX_FOLLOW_UP)
        department = _optional(body, "department", MAX_DEPARTMENT, multiline=False)
        now = datetime.now(UTC)
        with self._write.begin() as session:
            row = session.get(TicketRow, ticket_id)
            if row is None or row.accepted_by != receptionist:
                raise ReceptionError(404, f"no reception {ticket_id} of yours")
            if row.state != "accepted":
                raise ReceptionError(409, f"ticket {ticket_id} is {row.state}")
            row.state = "closed"
            row.matter, row.reply, row.follow_up = matter, reply, follow_up
            row.department, row.closed_by, row.closed_at = department, receptionist, now
            # The outcome's text is the petitioner's matter: not in the audit log.
            auditlog.append(
                session,
                f"user:{receptionist}",
                "reception.close",
                _target(ticket_id),
                {"session": row.hearing_id},
            )
            session.flush()
            return Ticket.of(row)


def _optional(body: dict[str, Any], name: str, limit: int, multiline: bool = True) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return text_field(name, value, limit, multiline=multiline)


def _own(session: Session, ticket_id: str, station: str | None) -> TicketRow:
    """The ticket; one of another station's answers 404, like one that does not exist."""
    row = session.get(TicketRow, ticket_id)
    if row is None or (station is not None and row.station_id != station):
        raise ReceptionError(404, f"no ticket {ticket_id}")
    return row


def _average_minutes(session: Session) -> float:
    """The mean length of the last closed receptions (DEFAULT_MINUTES before any)."""
    rows = session.execute(
        select(TicketRow.accepted_at, TicketRow.closed_at)
        .where(TicketRow.state == "closed", TicketRow.accepted_at.is_not(None))
        .order_by(TicketRow.closed_at.desc())
        .limit(RECENT)
    ).all()
    spans = [
        (_aware(closed) - _aware(accepted)).total_seconds() / 60
        for accepted, closed in rows
        if accepted is not None and closed is not None
    ]
    return max(1.0, sum(spans) / len(spans)) if spans else DEFAULT_MINUTES


def _target(ticket_id: str) -> str:
    return f"ticket:{ticket_id}"
