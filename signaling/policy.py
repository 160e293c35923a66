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
    # The event socket (/ws/events): one permission per topic family, see TOPICS.
    EVENTS_STREAM = "events.stream"
    EVENTS_STATION = "events.station"
    EVENTS_RECORDING = "events.recording"


class Role(StrEnum):
    """A console account's role (one per account, stored by value)."""

    COMMANDER = "commander"
    OBSERVER = "observer"
    AUDITOR = "auditor"
    ADMIN = "admin"


class TokenRole(StrEnum):
    """A Bearer token's role (the JWT's `role` claim): for stations and scripts."""

    STATION = "station"
    VIEWER = "viewer"
    AUDITOR = "auditor"


ROLES: tuple[Role, ...] = tuple(Role)
TOKEN_ROLES: tuple[TokenRole, ...] = tuple(TokenRole)

P = Permission

GRANTS: Mapping[Role, frozenset[Permission]] = {
    # Dispatch: the live wall, any stream (observers too until hearing invitations).
    Role.COMMANDER: frozenset(
        {
            P.LIVE_VIEW,
            P.STREAM_SUBSCRIBE,
            P.STATIONS_READ,
            P.EVENTS_STREAM,
            P.EVENTS_STATION,
            P.EVENTS_RECORDING,
        }
    ),
    Role.OBSERVER: frozenset(
        {P.LIVE_VIEW, P.STREAM_SUBSCRIBE, P.STATIONS_READ, P.EVENTS_STREAM, P.EVENTS_STATION}
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
        }
    ),
    # The registry and the accounts, and the audit log; never recordings' content.
    Role.ADMIN: frozenset(
        {
            P.AUDIT_READ,
            P.STATIONS_READ,
            P.STATIONS_MANAGE,
            P.USERS_MANAGE,
            P.EVENTS_STREAM,
            P.EVENTS_STATION,
        }
    ),
}

# A token's permissions hold for the streams it names ("*": every stream, but never for
# publishing: a token that may publish names its streams).
TOKEN_GRANTS: Mapping[TokenRole, frozenset[Permission]] = {
    TokenRole.STATION: frozenset({P.STREAM_PUBLISH}),
    TokenRole.VIEWER: frozenset({P.STREAM_SUBSCRIBE, P.LIVE_VIEW}),
    # Covers every recording (minted without streams); no live video.
    TokenRole.AUDITOR: frozenset({P.ARCHIVE_READ, P.AUDIT_READ}),
}

# What each event permission lets through the socket: bus topics starting with it.
TOPICS: Mapping[Permission, str] = {
    P.EVENTS_STREAM: "stream.",
    P.EVENTS_STATION: "station.",
    P.EVENTS_RECORDING: "recording.",
}
# Permissions held per stream: a token that grants one of them must name its streams.
PER_STREAM = frozenset({P.STREAM_PUBLISH, P.STREAM_SUBSCRIBE})

del P

if set(GRANTS) != set(Role) or set(TOKEN_GRANTS) != set(TokenRole):
    raise RuntimeError("signaling.policy: every role needs its row of permissions")


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
    return tuple(prefix for permission, prefix in TOPICS.items() if allows(role, permission))


def per_stream(role: TokenRole) -> bool:
    """Whether a token of `role` names its streams (False: it covers every stream)."""
    return bool(TOKEN_GRANTS[role] & PER_STREAM)


def may_cover_every_stream(role: TokenRole) -> bool:
    """Whether a token of `role` may name "*" (publishing never covers every stream)."""
    return Permission.STREAM_PUBLISH not in TOKEN_GRANTS[role]


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
