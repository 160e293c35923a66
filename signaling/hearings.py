"""The store of hearing sessions (signaling/hearing.py says what a session is).

Everything here is stored before anyone is told (the API publishes on the bus after the
transaction commits), and every change goes into the hash-chained audit log in the same
transaction. Who may call what is the API's business (signaling/policy.py); the rules
here are about the session itself: legal transitions, bounds on text, participants that
exist. Blocking: async code calls these through asyncio.to_thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, sessionmaker

from catalog import (
    CommentRow,
    DirectionRow,
    HearingParticipantRow,
    HearingRow,
    HearingStreamRow,
    InterruptionRow,
    RecordVersionRow,
    SealRow,
    UserRow,
    iso,
    writer,
)
from catalog import audit as auditlog

from .hearing import (
    INVITED_PARTS,
    KINDS,
    MAX_CASE_NO,
    MAX_COMMENT,
    MAX_DIRECTION,
    MAX_EVALUATION,
    MAX_MEDIA_TIME,
    MAX_PARTICIPANTS,
    MAX_TITLE,
    Comment,
    Direction,
    Hearing,
    HearingError,
    Kind,
    Part,
    Participant,
    State,
    check_transition,
    new_hearing_id,
    text_field,
)

Interruptions = list[dict[str, Any]]


class Hearings:
    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(writer(engine), expire_on_commit=False)

    # ------------------------------------------------------------ creating

    def create(
        self,
        *,
        kind: str,
        station: str,
        county: str,
        streams: Iterable[str],
        title: Any,
        case_no: Any,
        creator: str,
        participants: Iterable[tuple[str, str]] = (),
        scheduled_for: datetime | None = None,
    ) -> Hearing:
        """A scheduled session at `station` (its county and streams given by the caller,
        from the station registry)."""
        if kind not in KINDS:
            raise HearingError(400, f"kind: one of {', '.join(KINDS)}")
        title_text = text_field("title", title, MAX_TITLE)
        case_text = text_field("case_no", case_no, MAX_CASE_NO)
        invited: dict[str, Part] = {}
        for user, part in participants:
            if part not in INVITED_PARTS:
                raise HearingError(400, f"part: one of {', '.join(INVITED_PARTS)}")
            if user == creator:
                raise HearingError(400, "the creator directs the session: do not invite them")
            if user in invited:
                raise HearingError(400, f"user {user!r} is listed twice")
            invited[user] = part
        if len(invited) > MAX_PARTICIPANTS:
            raise HearingError(413, f"at most {MAX_PARTICIPANTS} participants")
        now = datetime.now(UTC)
        hearing_id = new_hearing_id(now)
        with self._write.begin() as session:
            if invited:
                known = set(
                    session.scalars(
                        select(UserRow.name).where(
                            UserRow.name.in_(list(invited)), UserRow.disabled.is_(False)
                        )
                    )
                )
                missing = sorted(set(invited) - known)
                if missing:
                    raise HearingError(400, f"no such user: {', '.join(missing)}")
            session.add(
                HearingRow(
                    id=hearing_id,
                    kind=kind,
                    title=title_text,
                    case_no=case_text,
                    station_id=station,
                    county=county,
                    state="scheduled",
                    created_by=creator,
                    created_at=now,
                    scheduled_for=scheduled_for,
                )
            )
            session.flush()
            for user, part in invited.items():
                session.add(HearingParticipantRow(hearing_id=hearing_id, user_name=user, part=part))
            for position, stream_id in enumerate(streams):
                session.add(
                    HearingStreamRow(
                        hearing_id=hearing_id,
                        stream_id=stream_id,
                        source="station",
                        position=position,
                    )
                )
            detail = {
                "kind": kind,
                "station": station,
                "case_no": case_text,
                "title": title_text,
                "participants": [{"user": u, "part": p} for u, p in invited.items()],
            }
            auditlog.append(
                session, f"user:{creator}", "session.create", _target(hearing_id), detail
            )
        found = self.get(hearing_id)
        assert found is not None
        return found

    # ------------------------------------------------------------ reading

    def get(self, hearing_id: str, *, full: bool = False) -> Hearing | None:
        """The session with participants and streams; `full` adds directions and comments."""
        with self._read() as session:
            row = session.get(HearingRow, hearing_id)
            return _load(session, [row], full)[0] if row is not None else None

    def list(
        self,
        *,
        kind: str | None = None,
        state: str | None = None,
        county: str | None = None,
        user: str | None = None,
        limit: int = 500,
    ) -> list[Hearing]:
        """Newest first. `user`: only sessions that user created or takes part in."""
        query = select(HearingRow)
        if kind:
            query = query.where(HearingRow.kind == kind)
        if state:
            query = query.where(HearingRow.state == state)
        if county:
            query = query.where(HearingRow.county == county)
        if user:
            invited = select(HearingParticipantRow.hearing_id).where(
                HearingParticipantRow.user_name == user
            )
            query = query.where((HearingRow.created_by == user) | HearingRow.id.in_(invited))
        query = query.order_by(HearingRow.created_at.desc()).limit(limit)
        with self._read() as session:
            return _load(session, list(session.scalars(query)), False)

    def live_for_stream(self, stream_id: str) -> Hearing | None:
        """The live session covering this stream, if any (recordings bind to it)."""
        with self._read() as session:
            row = session.scalar(
                select(HearingRow)
                .join(HearingStreamRow, HearingStreamRow.hearing_id == HearingRow.id)
                .where(HearingStreamRow.stream_id == stream_id, HearingRow.state == "live")
            )
            return _load(session, [row], False)[0] if row is not None else None

    # ------------------------------------------------------------ state changes

    def transition(self, hearing_id: str, to: State, actor: str) -> Hearing:
        """scheduled → live (start), live → ended (end), ended → sealed (seal)."""
        now = datetime.now(UTC)
        with self._write.begin() as session:
            row = _row_for_update(session, hearing_id)
            current = _load(session, [row], False)[0]
            action = check_transition(current, to)
            row.state = to
            if to == "live":
                row.started_at = now
            elif to == "ended":
                row.ended_at = now
            auditlog.append(session, actor, f"session.{action}", _target(hearing_id), {"state": to})
        found = self.get(hearing_id)
        assert found is not None
        return found

    def add_city_stream(self, hearing_id: str, stream_id: str) -> None:
        """A stream the city side publishes for this session (recorded with it)."""
        with self._write.begin() as session:
            if session.get(HearingStreamRow, (hearing_id, stream_id)) is not None:
                return
            count = len(
                session.scalars(
                    select(HearingStreamRow.stream_id).where(
                        HearingStreamRow.hearing_id == hearing_id
                    )
                ).all()
            )
            session.add(
                HearingStreamRow(
                    hearing_id=hearing_id, stream_id=stream_id, source="city", position=count
                )
            )

    # ------------------------------------------------------------ interrogation evidence

    def interrupt(
        self, hearing_id: str, stream_id: str, kind: str, reason: str, at: datetime
    ) -> dict[str, Any] | None:
        """A live interrogation's stream or its recording stopped: an interruption (append
        only), unless one of the stream is still open. None when the session is not a
        live interrogation or the stream is already interrupted."""
        with self._write.begin() as session:
            row = _row_for_update(session, hearing_id)
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
            out = _interruption(entry)
            auditlog.append(
                session,
                "system",
                "session.interruption",
                f"{_target(hearing_id)}/interruptions/{entry.id}",
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
            out = _interruption(entry)
            auditlog.append(
                session,
                "system",
                "session.interruption-ended",
                f"{_target(hearing_id)}/interruptions/{entry.id}",
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
            return [_interruption(r) for r in rows]

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
            row = _row_for_update(session, hearing_id)
            current = _load(session, [row], False)[0]
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
                _target(hearing_id),
                {"state": "sealed", "signature": signature},
            )
        found = self.get(hearing_id)
        assert found is not None
        return found

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

    # ------------------------------------------------------------ directions and comments

    def direct(self, hearing_id: str, text: Any, urgent: Any, sender: str) -> Direction:
        """A direction to the prosecutor in court; only while the session is live."""
        body = text_field("text", text, MAX_DIRECTION, multiline=True)
        if not isinstance(urgent, bool):
            raise HearingError(400, "urgent: true or false")
        with self._write.begin() as session:
            row = _row_for_update(session, hearing_id)
            if row.state != "live":
                raise HearingError(
                    409, f"session {hearing_id} is {row.state}: directions need it live"
                )
            direction = DirectionRow(
                hearing_id=hearing_id,
                text=body,
                urgent=urgent,
                sent_by=sender,
                sent_at=datetime.now(UTC),
            )
            session.add(direction)
            session.flush()
            auditlog.append(
                session,
                f"user:{sender}",
                "direction.send",
                f"{_target(hearing_id)}/directions/{direction.id}",
                {"text": body, "urgent": urgent},
            )
            return Direction.of(direction)

    def mark_read(self, hearing_id: str, direction_id: int, reader: str) -> Direction:
        """The prosecutor terminal's read receipt (the first one counts; repeats are no-ops)."""
        now = datetime.now(UTC)
        with self._write.begin() as session:
            row = session.get(DirectionRow, direction_id)
            if row is None or row.hearing_id != hearing_id:
                raise HearingError(404, f"no direction {direction_id} in session {hearing_id}")
            if row.read_at is None:
                session.execute(
                    update(DirectionRow)
                    .where(DirectionRow.id == direction_id, DirectionRow.read_at.is_(None))
                    .values(read_by=reader, read_at=now)
                )
                auditlog.append(
                    session,
                    f"user:{reader}",
                    "direction.read",
                    f"{_target(hearing_id)}/directions/{direction_id}",
                    {},
                )
                session.flush()
                session.refresh(row)
            return Direction.of(row)

    def comment(self, hearing_id: str, text: Any, media_time: Any, author: str) -> Comment:
        """An observer's comment at `media_time` seconds from the start; while live."""
        body = text_field("text", text, MAX_COMMENT, multiline=True)
        if isinstance(media_time, bool) or not isinstance(media_time, int | float):
            raise HearingError(400, "media_time: seconds from the session's start, a number")
        if not 0 <= float(media_time) <= MAX_MEDIA_TIME:
            raise HearingError(400, f"media_time: 0 to {MAX_MEDIA_TIME:.0f} seconds")
        with self._write.begin() as session:
            row = _row_for_update(session, hearing_id)
            if row.state != "live":
                raise HearingError(
                    409, f"session {hearing_id} is {row.state}: comments need it live"
                )
            comment = CommentRow(
                hearing_id=hearing_id,
                author=author,
                text=body,
                media_time=float(media_time),
                posted_at=datetime.now(UTC),
            )
            session.add(comment)
            session.flush()
            auditlog.append(
                session,
                f"user:{author}",
                "comment.post",
                f"{_target(hearing_id)}/comments/{comment.id}",
                {"media_time": comment.media_time},
            )
            return Comment.of(comment)

    def evaluate(self, hearing_id: str, text: Any, director: str) -> Hearing:
        """The director's evaluation summary, once the session has ended."""
        body = text_field("evaluation", text, MAX_EVALUATION, multiline=True)
        with self._write.begin() as session:
            row = _row_for_update(session, hearing_id)
            if row.state != "ended":
                raise HearingError(
                    409, f"session {hearing_id} is {row.state}: evaluate it once ended"
                )
            row.evaluation, row.evaluated_at = body, datetime.now(UTC)
            auditlog.append(
                session, f"user:{director}", "session.evaluate", _target(hearing_id), {}
            )
        found = self.get(hearing_id)
        assert found is not None
        return found


def _target(hearing_id: str) -> str:
    return f"session:{hearing_id}"


def _interruption(row: InterruptionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "stream": row.stream_id,
        "kind": row.kind,
        "reason": row.reason,
        "started_at": iso(row.started_at),
        "ended_at": iso(row.ended_at),
    }


def _row_for_update(session: Session, hearing_id: str) -> HearingRow:
    # The write transaction holds SQLite's write lock; PostgreSQL locks the row.
    row = session.scalar(select(HearingRow).where(HearingRow.id == hearing_id).with_for_update())
    if row is None:
        raise HearingError(404, f"no session {hearing_id}")
    return row


def _load(session: Session, rows: list[HearingRow], full: bool) -> list[Hearing]:
    ids = [r.id for r in rows]
    parts: dict[str, list[Participant]] = {}
    streams: dict[str, list[str]] = {}
    directions: dict[str, list[Direction]] = {}
    comments: dict[str, list[Comment]] = {}
    interruptions: dict[str, list[dict[str, Any]]] = {}
    if ids:
        for p in session.scalars(
            select(HearingParticipantRow)
            .where(HearingParticipantRow.hearing_id.in_(ids))
            .order_by(HearingParticipantRow.user_name)
        ):
            parts.setdefault(p.hearing_id, []).append(Participant(p.user_name, cast(Part, p.part)))
        for s in session.scalars(
            select(HearingStreamRow)
            .where(HearingStreamRow.hearing_id.in_(ids))
            .order_by(HearingStreamRow.position)
        ):
            streams.setdefault(s.hearing_id, []).append(s.stream_id)
        if full:
            for d in session.scalars(
                select(DirectionRow)
                .where(DirectionRow.hearing_id.in_(ids))
                .order_by(DirectionRow.id)
            ):
                directions.setdefault(d.hearing_id, []).append(Direction.of(d))
            for c in session.scalars(
                select(CommentRow).where(CommentRow.hearing_id.in_(ids)).order_by(CommentRow.id)
            ):
                comments.setdefault(c.hearing_id, []).append(Comment.of(c))
            for i in session.scalars(
                select(InterruptionRow)
                .where(InterruptionRow.hearing_id.in_(ids))
                .order_by(InterruptionRow.started_at, InterruptionRow.id)
            ):
                interruptions.setdefault(i.hearing_id, []).append(_interruption(i))
    return [
        Hearing(
            r.id,
            cast(Kind, r.kind),
            r.title,
            r.case_no,
            r.station_id,
            r.county,
            cast(State, r.state),
            r.created_by,
            r.created_at,
            r.scheduled_for,
            r.started_at,
            r.ended_at,
            r.evaluation,
            tuple(parts.get(r.id, ())),
            tuple(streams.get(r.id, ())),
            tuple(directions.get(r.id, ())),
            tuple(comments.get(r.id, ())),
            tuple(interruptions.get(r.id, ())),
        )
        for r in rows
    ]
