"""Who may do what: the one table of roles and permissions.

Two kinds of principal hold permissions: console accounts, each with one `Role`, and
Bearer tokens, each with one `TokenRole`. `GRANTS` and `TOKEN_GRANTS` below are the only
place saying what each may do. Everything else derives from them: the route guards
(`auth.require`, `auth.authorize`), the event socket's topics (`topics`), the console's
navigation bar and home pages, the WHIP/WHEP checks on tokens, and the CLI's `--role`
choices.

Adding a console role is one edit here (a `Role` member and its row in `GRANTS`; the
module refuses to load with a role that has no row) plus its label `role.<name>` in the
console's message catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Permission(StrEnum):
    LIVE_VIEW = "live.view"  # the live wall and focus view; the list of live streams
    STREAM_SUBSCRIBE = "stream.subscribe"  # WHEP: play a live stream
    STREAM_PUBLISH = "stream.publish"  # WHIP: publish a stream (station tokens)
    ARCHIVE_READ = "archive.read"  # recordings: list, inspect, play (plays are audited)
    RECORDING_EXPORT = "recording.export"  # download a recording's evidence package
    AUDIT_READ = "audit.read"  # the audit log
    STATIONS_READ = "stations.read"  # the station registry and presence
    STATIONS_MANAGE = "stations.manage"  # add, change and remove stations
    USERS_MANAGE = "users.manage"  # add, disable and enable console accounts
    # Hearing sessions. What a participant may do inside one is its part's (PART_GRANTS).
    SESSIONS_CREATE = "sessions.create"  # create and then direct a session (city accounts)
    SESSIONS_READ_ALL = "sessions.read_all"  # every session, not only one's own
    SESSIONS_JOIN = "sessions.join"  # be invited to a session and see one's own
    # The event socket (/ws/events): one permission per topic family, see TOPICS.
    EVENTS_STREAM = "events.stream"
    EVENTS_STATION = "events.station"
    EVENTS_RECORDING = "events.recording"
    EVENTS_SESSION = "events.session"  # session.*, direction.*, comment.*: own sessions only
    EVENTS_DISPATCH = "events.dispatch"  # dispatch.*: screens' layouts, saved layouts
    # Video dispatch: route live sources to named screens (the command hall's wall, a
    # county station's screen), save and recall layouts; audited.
    DISPATCH_MANAGE = "dispatch.manage"
    SCREEN_VIEW = "screen.view"  # open /screen/{name}: what a screen shows, full-screen
    # WHEP for what is routed to the holder right now (a screen's sources; a station's
    # city picture and dispatched sources): decided per request by the server, never by
    # a token's list of streams (ROUTED below).
    STREAM_RECEIVE = "stream.receive"
    # Petition reception (the city's one queue across counties). Petitioners' personal
    # data (name, contact) is shown to RECEPTION_QUEUE and RECEPTION_RECORDS holders only.
    RECEPTION_QUEUE = "reception.queue"  # see the live queue, accept, close with an outcome
    RECEPTION_RECORDS = "reception.records"  # every ticket with its outcome (auditors)
    RECEPTION_KIOSK = "reception.kiosk"  # a county kiosk: queue a petitioner, see its own
    KIOSK_MANAGE = "kiosk.manage"  # mint a county station's kiosk link
    EVENTS_RECEPTION = "events.reception"  # reception.*: each event checked for its audience
    # Sealed interrogations' evidence copies (an MP4 derived from the sealed recordings):
    # every session's copy state, progress and signed record. Its MP4 also needs
    # ARCHIVE_READ (recordings' content: not admins). A session's own participants read
    # theirs by their part (SessionAction.READ_COPY).
    COPY_READ = "copy.read"
    COPY_RENDER = "copy.render"  # render a session's evidence copy again (failed or done)
    EVENTS_COPY = "events.copy"  # session.copy: each event checked for its audience
    # The node's Prometheus metrics on the public port (GET /metrics); scrapers use the
    # metrics listener or the metrics token instead.
    METRICS_READ = "metrics.read"
    # The cluster: its nodes with their streams and load (GET /api/nodes, the nodes view),
    # and its alarms on the event socket (cluster.alarm: this node lost Redis;
    # catalog.alarm: it lost the catalog's database).
    NODES_READ = "nodes.read"
    EVENTS_CLUSTER = "events.cluster"


class Role(StrEnum):
    """A console account's role (one per account, stored by value)."""

    COMMANDER = "commander"
    OBSERVER = "observer"
    AUDITOR = "auditor"
    ADMIN = "admin"
    PROSECUTOR = "prosecutor"  # the prosecutor in court (county) or a city prosecutor
    CLERK = "clerk"  # keeps an interrogation's record
    RECEPTIONIST = "receptionist"  # receives petitioners


class TokenRole(StrEnum):
    """A Bearer token's role (the JWT's `role` claim): for stations and scripts."""

    STATION = "station"
    VIEWER = "viewer"
    AUDITOR = "auditor"
    SCREEN = "screen"  # a wall PC's link to one screen (minted in the console, revocable)
    KIOSK = "kiosk"  # a reception room's kiosk: bound to one station (the `station` claim)


ROLES: tuple[Role, ...] = tuple(Role)
TOKEN_ROLES: tuple[TokenRole, ...] = tuple(TokenRole)

P = Permission

GRANTS: Mapping[Role, frozenset[Permission]] = {
    # Dispatch: the live wall, any stream; runs sessions.
    Role.COMMANDER: frozenset(
        {
            P.LIVE_VIEW,
            P.STREAM_SUBSCRIBE,
            P.STATIONS_READ,
            P.SESSIONS_CREATE,
            P.SESSIONS_READ_ALL,
            P.SESSIONS_JOIN,
            P.EVENTS_STREAM,
            P.EVENTS_STATION,
            P.EVENTS_RECORDING,
            P.EVENTS_SESSION,
            P.EVENTS_DISPATCH,
            P.DISPATCH_MANAGE,
            P.SCREEN_VIEW,
            P.KIOSK_MANAGE,
            P.NODES_READ,
            P.EVENTS_CLUSTER,
        }
    ),
    # The live wall (until the wall follows invitations too) and the sessions invited to.
    Role.OBSERVER: frozenset(
        {
            P.LIVE_VIEW,
            P.STREAM_SUBSCRIBE,
            P.STATIONS_READ,
            P.SESSIONS_JOIN,
            P.EVENTS_STREAM,
            P.EVENTS_STATION,
            P.EVENTS_SESSION,
        }
    ),
    # County staff and city case handlers: their own sessions, nothing else live. A city
    # prosecutor (no county) may also create sessions (the API refuses county accounts).
    Role.PROSECUTOR: frozenset({P.SESSIONS_CREATE, P.SESSIONS_JOIN, P.EVENTS_SESSION}),
    Role.CLERK: frozenset({P.SESSIONS_JOIN, P.EVENTS_SESSION}),
    Role.RECEPTIONIST: frozenset(
        {P.SESSIONS_JOIN, P.EVENTS_SESSION, P.RECEPTION_QUEUE, P.EVENTS_RECEPTION}
    ),
    # Recordings and the audit log; no live video at all.
    Role.AUDITOR: frozenset(
        {
            P.ARCHIVE_READ,
            P.RECORDING_EXPORT,
            P.AUDIT_READ,
            P.STATIONS_READ,
            P.EVENTS_STATION,
            P.EVENTS_RECORDING,
            P.RECEPTION_RECORDS,
            P.COPY_READ,
            P.COPY_RENDER,
            P.EVENTS_COPY,
        }
    ),
    # The registry and the accounts, and the audit log; never recordings' content.
    Role.ADMIN: frozenset(
        {
            P.AUDIT_READ,
            P.STATIONS_READ,
            P.STATIONS_MANAGE,
            P.USERS_MANAGE,
            P.KIOSK_MANAGE,
            P.METRICS_READ,
            P.EVENTS_STREAM,
            P.EVENTS_STATION,
            P.COPY_READ,
            P.COPY_RENDER,
            P.EVENTS_COPY,
            P.NODES_READ,
            P.EVENTS_CLUSTER,
        }
    ),
}

# A token's permissions hold for the streams it names ("*": every stream, but never for
# publishing: a token that may publish names its streams).
TOKEN_GRANTS: Mapping[TokenRole, frozenset[Permission]] = {
    # Publishes its own streams; receives what its session and the dispatcher send to
    # its station (the city picture of its live session, its station screen's sources).
    TokenRole.STATION: frozenset({P.STREAM_PUBLISH, P.STREAM_RECEIVE}),
    TokenRole.VIEWER: frozenset({P.STREAM_SUBSCRIBE, P.LIVE_VIEW}),
    # Covers every recording (minted without streams); no live video.
    TokenRole.AUDITOR: frozenset({P.ARCHIVE_READ, P.AUDIT_READ}),
    # Names one screen (the `screen` claim): shows it and receives what it shows now.
    TokenRole.SCREEN: frozenset({P.SCREEN_VIEW, P.STREAM_RECEIVE}),
    # Names one station (the `station` claim): queues petitioners there; nothing else.
    TokenRole.KIOSK: frozenset({P.RECEPTION_KIOSK}),
}

# Topic families whose events carry an audience (who in particular may see each one);
# the socket checks it, see signaling/audience.py.
SESSION_TOPICS = ("session.", "direction.", "comment.")
RECEPTION_TOPICS = ("reception.",)
COPY_TOPICS = ("session.copy",)  # a session topic: its audience is checked too
AUDIENCE_TOPICS = SESSION_TOPICS + RECEPTION_TOPICS
# What each event permission lets through the socket: bus topics starting with these.
TOPICS: Mapping[Permission, tuple[str, ...]] = {
    P.EVENTS_STREAM: ("stream.",),
    P.EVENTS_STATION: ("station.",),
    P.EVENTS_RECORDING: ("recording.",),
    P.EVENTS_SESSION: SESSION_TOPICS,
    P.EVENTS_DISPATCH: ("dispatch.",),
    P.EVENTS_RECEPTION: RECEPTION_TOPICS,
    P.EVENTS_COPY: COPY_TOPICS,
    P.EVENTS_CLUSTER: ("cluster.", "catalog.alarm"),
}
# Permissions held per stream: a token that grants one of them must name its streams.
PER_STREAM = frozenset({P.STREAM_PUBLISH, P.STREAM_SUBSCRIBE})
# Permissions held for what is routed to the holder at the moment of the request: the
# server looks it up each time (signaling/routing.py); a token's stream list never grants them.
ROUTED = frozenset({P.STREAM_RECEIVE})

del P

if set(GRANTS) != set(Role) or set(TOKEN_GRANTS) != set(TokenRole):
    raise RuntimeError("signaling.policy: every role needs its row of permissions")


class Part(StrEnum):
    """A console user's part in one hearing session (the creator directs)."""

    DIRECTOR = "director"
    PROSECUTOR = "prosecutor"
    OBSERVER = "observer"
    CLERK = "clerk"


class SessionAction(StrEnum):
    RUN = "run"  # start and end the session
    DIRECT = "direct"  # send directions to the prosecutor terminal
    RECEIVE_DIRECTIONS = "receive_directions"  # see directions, send read receipts
    COMMENT = "comment"  # evaluation comments on the timeline
    EVALUATE = "evaluate"  # the closing evaluation summary
    VIEW = "view"  # watch the session's station cameras and the city picture
    PUBLISH_CITY = "publish_city"  # the city side's camera and microphone
    TALKBACK = "talkback"  # push-to-talk audio to the prosecutor terminal only
    HEAR_TALKBACK = "hear_talkback"  # the earpiece: hear the director's talk-back
    REPLY = "reply"  # the prosecutor's reply channel back to the director
    HEAR_REPLY = "hear_reply"
    WRITE_RECORD = "write_record"  # type the interrogation record (笔录), saved as versions
    READ_RECORD = "read_record"  # read the record and its versions
    READ_COPY = "read_copy"  # the sealed session's evidence copy: state, MP4, signed record


A = SessionAction
PART_GRANTS: Mapping[Part, frozenset[SessionAction]] = {
    Part.DIRECTOR: frozenset(
        {
            A.RUN,
            A.DIRECT,
            A.EVALUATE,
            A.VIEW,
            A.PUBLISH_CITY,
            A.TALKBACK,
            A.HEAR_REPLY,
            A.READ_RECORD,
            A.READ_COPY,
        }
    ),
    Part.PROSECUTOR: frozenset(
        {A.RECEIVE_DIRECTIONS, A.VIEW, A.HEAR_TALKBACK, A.REPLY, A.READ_RECORD, A.READ_COPY}
    ),
    Part.OBSERVER: frozenset({A.COMMENT, A.VIEW, A.READ_COPY}),
    Part.CLERK: frozenset({A.VIEW, A.WRITE_RECORD, A.READ_RECORD, A.READ_COPY}),
}
# The roles that may be given each part (the director is whoever created the session).
PART_ROLES: Mapping[Part, frozenset[Role]] = {
    # A receptionist directs the reception session an accepted ticket opens.
    Part.DIRECTOR: frozenset({Role.COMMANDER, Role.PROSECUTOR, Role.RECEPTIONIST}),
    Part.PROSECUTOR: frozenset({Role.PROSECUTOR}),
    Part.OBSERVER: frozenset({Role.OBSERVER, Role.COMMANDER, Role.PROSECUTOR}),
    Part.CLERK: frozenset({Role.CLERK}),
}
del A

if set(PART_GRANTS) != set(Part) or set(PART_ROLES) != set(Part):
    raise RuntimeError("signaling.policy: every part needs its row of actions and roles")


def part_allows(part: Part | str | None, action: SessionAction) -> bool:
    """Whether a participant with `part` may do `action` in their session."""
    if part is None:
        return False
    try:
        return action in PART_GRANTS[Part(part)]
    except ValueError:
        return False


def parts_with(action: SessionAction) -> tuple[Part, ...]:
    return tuple(part for part, granted in PART_GRANTS.items() if action in granted)


def allows(role: Role, permission: Permission) -> bool:
    """Whether a console account with `role` may do what `permission` names."""
    return permission in GRANTS.get(role, frozenset())


def roles_with(permission: Permission) -> tuple[Role, ...]:
    """The console roles holding `permission`, in the table's order."""
    return tuple(role for role, granted in GRANTS.items() if permission in granted)


def token_roles_with(permission: Permission) -> tuple[TokenRole, ...]:
    """The token roles granting `permission`, in the table's order."""
    return tuple(role for role, granted in TOKEN_GRANTS.items() if permission in granted)


def topics(role: Role) -> tuple[str, ...]:
    """The bus topic prefixes the event socket forwards to `role`."""
    return tuple(
        prefix
        for permission, prefixes in TOPICS.items()
        if allows(role, permission)
        for prefix in prefixes
    )


def per_stream(role: TokenRole) -> bool:
    """Whether a token of `role` names its streams (False: it covers every stream)."""
    return bool(TOKEN_GRANTS[role] & PER_STREAM)


def may_cover_every_stream(role: TokenRole) -> bool:
    """Whether a token of `role` may name "*" (publishing never covers every stream)."""
    return Permission.STREAM_PUBLISH not in TOKEN_GRANTS[role]


def names_screen(role: TokenRole) -> bool:
    """Whether a token of `role` is bound to one screen (its `screen` claim)."""
    return Permission.SCREEN_VIEW in TOKEN_GRANTS[role]


def names_station(role: TokenRole) -> bool:
    """Whether a token of `role` is bound to one station (its `station` claim)."""
    return Permission.RECEPTION_KIOSK in TOKEN_GRANTS[role]


def parse_role(value: object) -> Role | None:
    """The console role named `value`, or None."""
    if not isinstance(value, str):
        return None
    try:
        return Role(value)
    except ValueError:
        return None


def parse_token_role(value: object) -> TokenRole | None:
    """The token role named `value` (e.g. a JWT's claim), or None."""
    if not isinstance(value, str):
        return None
    try:
        return TokenRole(value)
    except ValueError:
        return None
