"""Who may see one event: the audience a session's events carry.

Stream, station and recording events go to every role whose permissions name their topic
family (policy.topics). A session's events are narrower: a direction is for the director
and the prosecutor in court only, and county staff must see nothing of another county.
So each session event carries an `audience` in its data, and the event socket forwards it
only to the users it names, or to the roles holding `all_with` (within `county` for a
county-scoped account). The audience is stripped before the event leaves the node.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .accounts import User
from .policy import AUDIENCE_TOPICS, Permission, allows

AUDIENCE = "audience"


def audience(
    users: Iterable[str], county: str | None = None, all_with: Permission | None = None
) -> dict[str, Any]:
    """`users` by name; plus, with `all_with`, every account whose role holds it (an
    account scoped to a county only within `county`)."""
    return {
        "users": sorted(set(users)),
        "county": county,
        "all_with": all_with.value if all_with is not None else None,
    }


def may_see(user: User, topic: str, data: dict[str, Any]) -> bool:
    """Whether `user` may receive this event (after its topic family passed)."""
    if not topic.startswith(AUDIENCE_TOPICS):
        return True
    scope = data.get(AUDIENCE)
    if not isinstance(scope, dict):
        return False  # a session event without an audience reaches no one
    if user.name in scope.get("users", ()):
        return True
    permission = scope.get("all_with")
    if permission is None or not allows(user.role, Permission(permission)):
        return False
    return user.county is None or user.county == scope.get("county")


def public(data: dict[str, Any]) -> dict[str, Any]:
    """The event's data as the browser gets it (no audience)."""
    return {k: v for k, v in data.items() if k != AUDIENCE}
