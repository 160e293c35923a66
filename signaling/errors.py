"""Signaling errors.

- `SignalingError` (and `Unauthorized`, `Forbidden`, `RoleForbidden`): each knows its HTTP
  status and carries a plain-text reason (for APIs and logs).
- `Refused`: a change a person asked for and may not make (accounts, stations). It
  carries a message key and its values; `REFUSALS` holds each key's English text, which
  is what str() gives (the CLI, the API). The console shows the key through its message
  catalogue (command_console/i18n_errors.py has the Chinese, and takes the English from
  here), so a refusal reads in the page's language.
"""

from __future__ import annotations

from typing import Any

REFUSALS: dict[str, str] = {
    "account.name": "user name: lower-case letters, digits, . _ - (at most 64)",
    "account.role": "role: one of {roles}",
    "account.password_short": "password: at least {min} characters",
    "account.password_long": "password: at most {max} characters",
    "account.display_name": "display name: 1 to 128 characters",
    "account.county": "county: 1 to 128 printable characters",
    "account.exists": "user {name!r} exists already",
    "account.unknown": "no user {name!r}",
    "account.disable_self": "you cannot disable your own account",
    "station.id": "station id: [a-z0-9][a-z0-9_-]{{0,63}}",
    "station.county": "county: 1 to 128 printable characters",
    "station.name": "name: 1 to 128 printable characters",
    "station.kind": "kind: one of {kinds}",
    "station.no_streams": "a station needs at least one stream id",
    "station.too_many_streams": "at most {max} streams per station",
    "station.stream_id": "stream id {stream!r}: use [a-z0-9][a-z0-9_-]{{0,63}}",
    "station.stream_twice": "a stream id is listed twice",
    "station.exists": "station {station!r} exists already",
    "station.unknown": "no station {station!r}",
    "station.stream_taken": "stream {stream!r} belongs to station {owner!r} already",
    "station.body": "the body must be a JSON object",
    "station.streams_list": "streams: a list of stream ids",
    "station.field_string": "{field}: a string",
}


class Refused(ValueError):
    """A request refused for a reason a person reads: `key` (in REFUSALS) and `params`
    name the message; str() is its English text."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(REFUSALS[key].format(**params))
        self.key = key
        self.params = params


class SignalingError(Exception):
    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Refusal(SignalingError):
    """A request refused with the HTTP status that says how (400, 404, 409, 413 …)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class Unauthorized(SignalingError):
    """Missing, malformed, badly signed or expired credentials."""

    status = 401


class Forbidden(SignalingError):
    """Valid credentials without the grant for this action on this stream."""

    status = 403


class RoleForbidden(Forbidden):
    """A console user whose role may not do this: `role`, and the roles that may."""

    def __init__(self, role: str, needs: tuple[str, ...]) -> None:
        super().__init__(f"the {role} role may not do this (needs {' or '.join(needs)})")
        self.role = role
        self.needs = needs
