"""What a hearing session is: its kinds, parts and states, the legal transitions, bounds
on its texts, and the value types the API gives out (Hearing, Direction, Comment).

A session (CONTRACT §5 calls it that; the code says hearing so it is never confused with
a console login) is one of three kinds at one county station: courtroom direction,
interrogation, petition reception. Its creator directs it; other console users take part
as prosecutor (in court), observer or clerk. States: scheduled → live → ended, and an
interrogation is then sealed. Pure: no I/O (the store is hearings.py).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from catalog import CommentRow, DirectionRow, iso

from .errors import Refusal
from .policy import SessionAction

# The city side's streams of a session (`{session}-{suffix}`), and who may publish and
# who may watch each (session actions of policy.PART_GRANTS).
CITY_STREAMS: dict[str, tuple[SessionAction, SessionAction]] = {
    # suffix: (who may publish it, who may watch it)
    "city": (SessionAction.PUBLISH_CITY, SessionAction.VIEW),
    "talkback": (SessionAction.TALKBACK, SessionAction.HEAR_TALKBACK),
    "reply": (SessionAction.REPLY, SessionAction.HEAR_REPLY),
}


def city_stream(hearing_id: str, suffix: str) -> str:
    return f"{hearing_id}-{suffix}"


def city_streams(hearing_id: str) -> list[str]:
    """Every stream the city side may publish for this session (recorded with it)."""
    return [city_stream(hearing_id, suffix) for suffix in CITY_STREAMS]


Kind = Literal["direction", "interrogation", "reception"]
KINDS: tuple[Kind, ...] = ("direction", "interrogation", "reception")
# Kinds whose end seals them (uniform evidence: a reception is recorded and bound to its
# session as an interrogation is); a direction session is only ended.
SEALED_KINDS: tuple[Kind, ...] = ("interrogation", "reception")
Part = Literal["director", "prosecutor", "observer", "clerk"]
# Parts a creator may give others (the creator is the director).
INVITED_PARTS: tuple[Part, ...] = ("prosecutor", "observer", "clerk")
State = Literal["scheduled", "live", "ended", "sealed"]
STATES: tuple[State, ...] = ("scheduled", "live", "ended", "sealed")
# (from, to) -> the action that makes it; anything else is a 409.
TRANSITIONS: dict[tuple[State, State], str] = {
    ("scheduled", "live"): "start",
    ("live", "ended"): "end",
    ("ended", "sealed"): "seal",
}

MAX_TITLE = 200
MAX_CASE_NO = 64
MAX_DIRECTION = 500
MAX_COMMENT = 2000
MAX_EVALUATION = 10000
MAX_PARTICIPANTS = 32
# Media time a comment may name: a day past the start is a typo, not a hearing.
MAX_MEDIA_TIME = 24 * 3600.0


class HearingError(Refusal):
    """A request about a session refused; `status` is the HTTP answer, `reason` says why."""


@dataclass(frozen=True)
class Participant:
    user: str
    part: Part

    def as_json(self) -> dict[str, Any]:
        return {"user": self.user, "part": self.part}


@dataclass(frozen=True)
class Direction:
    id: int
    hearing_id: str
    text: str
    urgent: bool
    sent_by: str
    sent_at: datetime
    read_by: str | None
    read_at: datetime | None

    @staticmethod
    def of(row: DirectionRow) -> Direction:
        return Direction(
            row.id,
            row.hearing_id,
            row.text,
            row.urgent,
            row.sent_by,
            row.sent_at,
            row.read_by,
            row.read_at,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session": self.hearing_id,
            "text": self.text,
            "urgent": self.urgent,
            "sent_by": self.sent_by,
            "sent_at": iso(self.sent_at),
            "read_by": self.read_by,
            "read_at": iso(self.read_at),
        }


@dataclass(frozen=True)
class Comment:
    id: int
    hearing_id: str
    author: str
    text: str
    media_time: float
    posted_at: datetime

    @staticmethod
    def of(row: CommentRow) -> Comment:
        return Comment(row.id, row.hearing_id, row.author, row.text, row.media_time, row.posted_at)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "session": self.hearing_id,
            "author": self.author,
            "text": self.text,
            "media_time": self.media_time,
            "posted_at": iso(self.posted_at),
        }


@dataclass(frozen=True)
class Hearing:
    id: str
    kind: Kind
    title: str
    case_no: str
    station: str
    county: str
    state: State
    created_by: str
    created_at: datetime
    scheduled_for: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    evaluation: str | None
    participants: tuple[Participant, ...] = ()
    streams: tuple[str, ...] = ()
    directions: tuple[Direction, ...] = field(default=(), compare=False)
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    # An interrogation's interruptions ({id, stream, kind, reason, started_at, ended_at}).
    interruptions: tuple[dict[str, Any], ...] = field(default=(), compare=False)

    def part_of(self, user: str) -> Part | None:
        """The user's part in this session (the creator directs), or None."""
        if user == self.created_by:
            return "director"
        return next((p.part for p in self.participants if p.user == user), None)

    def users_with(self, part: Part) -> list[str]:
        if part == "director":
            return [self.created_by]
        return [p.user for p in self.participants if p.part == part]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "case_no": self.case_no,
            "station": self.station,
            "county": self.county,
            "state": self.state,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "scheduled_for": iso(self.scheduled_for),
            "started_at": iso(self.started_at),
            "ended_at": iso(self.ended_at),
            "evaluation": self.evaluation,
            "participants": [{"user": self.created_by, "part": "director"}]
            + [p.as_json() for p in self.participants],
            "streams": list(self.streams),
            "directions": [d.as_json() for d in self.directions],
            "comments": [c.as_json() for c in self.comments],
        }


class SessionEvidence(Protocol):
    """What the node's recorder says about a session, injected by the composition root
    (signaling knows the recorder only through this): the recording gate of an
    interrogation's start, and its seal."""

    def start_refusal(self, hearing: Hearing) -> str | None:
        """Why the interrogation may not go live now (a stream not recorded), or None."""

    async def seal(self, hearing: Hearing, actor: str) -> Hearing:
        """Wait for the session's recordings to close, then write the signed seal record
        and make the session sealed. HearingError(409) when it cannot."""

    async def verify_session(self, hearing_id: str, actor: str) -> dict[str, Any]:
        """Check the whole session on this node as `vdispatch verify --session` does, off
        the event loop, audited (`session.verify`): {ok, sealed, seal_ok, seal_problem,
        problem, failing: {recording, segment}, recordings: [{id, ok, segments, sealed,
        problem, segment}], summary}. HearingError(404) when there is no session."""

    async def write_package(
        self, hearing_id: str, actor: str, out: Path, petition: bool
    ) -> dict[str, Any]:
        """Write the sealed session's evidence package (as `vdispatch export --session`)
        to `out`, off the event loop, audited (`session.export`); with `petition`, a
        reception's ticket goes in as petition.json. HearingError(404) no session, (409)
        not sealed. Answers {recordings, petition (whether it went in)}."""


# A stream missing from an interrogation is a refusal of its start with this text.
RECORDING_OFF = "recording is off on this node: an interrogation needs it"


def gate_streams(hearing: Hearing) -> list[str]:
    """The streams an interrogation needs recorded to go live: both sides, the station's
    cameras and the city side's picture (the prosecutor's camera)."""
    city = set(city_streams(hearing.id))
    station = [s for s in hearing.streams if s not in city]
    return [*station, city_stream(hearing.id, "city")]


def new_hearing_id(now: datetime) -> str:
    """Short, sortable, and a valid stream-id prefix (the city side's streams use it)."""
    return f"s{now.strftime('%Y%m%d')}-{secrets.token_hex(3)}"


def text_field(field_name: str, value: Any, limit: int, *, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise HearingError(400, f"{field_name}: text expected")
    value = value.strip()
    if not value:
        raise HearingError(400, f"{field_name}: must not be empty")
    if len(value) > limit:
        raise HearingError(413, f"{field_name}: at most {limit} characters")
    allowed = "\n\t" if multiline else ""
    if any(ord(c) < 32 and c not in allowed for c in value):
        raise HearingError(400, f"{field_name}: control characters are not allowed")
    return value


def check_transition(hearing: Hearing, to: State) -> str:
    """The action for hearing.state → to, or HearingError(409) naming why not."""
    action = TRANSITIONS.get((hearing.state, to))
    if action is None:
        raise HearingError(409, f"session {hearing.id} is {hearing.state}: cannot become {to}")
    if action == "seal" and hearing.kind not in SEALED_KINDS:
        raise HearingError(409, "only an interrogation or a reception is sealed")
    return action
