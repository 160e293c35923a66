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
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import sessionmaker

from catalog import (
    CommentRow,
    DirectionRow,
    HearingParticipantRow,
    HearingRow,
    HearingStreamRow,
    UserRow,
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
    Part,
    State,
    check_transition,
    new_hearing_id,
    text_field,
)
from .hearing_evidence import InterrogationEvidence
from .hearing_rows import load, row_for_update, target


class Hearings(InterrogationEvidence):
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
                session, f"user:{creator}", "session.create", target(hearing_id), detail
            )
        found = self.get(hearing_id)
        assert found is not None
        return found

    # ------------------------------------------------------------ reading

    def get(self, hearing_id: str, *, full: bool = False) -> Hearing | None:
        """The session with participants and streams; `full` adds directions and comments."""
        with self._read() as session:
            row = session.get(HearingRow, hearing_id)
            return load(session, [row], full)[0] if row is not None else None

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
            return load(session, list(session.scalars(query)), False)

    def live_for_stream(self, stream_id: str) -> Hearing | None:
        """The live session covering this stream, if any (recordings bind to it)."""
        with self._read() as session:
            row = session.scalar(
                select(HearingRow)
                .join(HearingStreamRow, HearingStreamRow.hearing_id == HearingRow.id)
                .where(HearingStreamRow.stream_id == stream_id, HearingRow.state == "live")
            )
            return load(session, [row], False)[0] if row is not None else None

    # ------------------------------------------------------------ state changes

    def transition(self, hearing_id: str, to: State, actor: str) -> Hearing:
        """scheduled → live (start), live → ended (end), ended → sealed (seal)."""
        now = datetime.now(UTC)
        with self._write.begin() as session:
            row = row_for_update(session, hearing_id)
            current = load(session, [row], False)[0]
            action = check_transition(current, to)
            row.state = to
            if to == "live":
                row.started_at = now
            elif to == "ended":
                row.ended_at = now
            auditlog.append(session, actor, f"session.{action}", target(hearing_id), {"state": to})
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

    # ------------------------------------------------------------ directions and comments

    def direct(self, hearing_id: str, text: Any, urgent: Any, sender: str) -> Direction:
        """A direction to the prosecutor in court; only while the session is live."""
        body = text_field("text", text, MAX_DIRECTION, multiline=True)
        if not isinstance(urgent, bool):
            raise HearingError(400, "urgent: true or false")
        with self._write.begin() as session:
            row = row_for_update(session, hearing_id)
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
                f"{target(hearing_id)}/directions/{direction.id}",
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
                    f"{target(hearing_id)}/directions/{direction_id}",
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
            row = row_for_update(session, hearing_id)
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
                f"{target(hearing_id)}/comments/{comment.id}",
                {"media_time": comment.media_time},
            )
            return Comment.of(comment)

    def evaluate(self, hearing_id: str, text: Any, director: str) -> Hearing:
        """The director's evaluation summary, once the session has ended."""
        body = text_field("evaluation", text, MAX_EVALUATION, multiline=True)
        with self._write.begin() as session:
            row = row_for_update(session, hearing_id)
            if row.state != "ended":
                raise HearingError(
                    409, f"session {hearing_id} is {row.state}: evaluate it once ended"
                )
            row.evaluation, row.evaluated_at = body, datetime.now(UTC)
            auditlog.append(session, f"user:{director}", "session.evaluate", target(hearing_id), {})
        found = self.get(hearing_id)
        assert found is not None
        return found
