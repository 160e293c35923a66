"""Tokens: JWTs (HS256, PyJWT) with a `TokenRole` and the streams it covers. What each
role grants (publish, subscribe, or (auditor) replay of recordings and reading the audit
log, with no live video) is declared in policy.TOKEN_GRANTS. A screen token also names its
screen (`screen` claim); what it may receive is looked up per request (routing.py)."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass

import jwt

from .errors import Forbidden, Unauthorized
from .policy import (
    ROUTED,
    TOKEN_GRANTS,
    Permission,
    TokenRole,
    may_cover_every_stream,
    names_screen,
    names_station,
    parse_token_role,
    per_stream,
    token_roles_with,
)

_NAME_RE = re.compile(r"[^\x00-\x1f\x7f]{1,64}")

STREAM_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_ISSUER = "vdispatch"
_ALGORITHM = "HS256"
_TTL_RE = re.compile(r"(\d+)([smhdw]?)")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def valid_stream_id(stream_id: str) -> bool:
    return STREAM_ID_RE.fullmatch(stream_id) is not None


def parse_ttl(text: str) -> int:
    """'30d', '12h', '90m', '45s' or plain seconds -> seconds."""
    m = _TTL_RE.fullmatch(text.strip())
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30d, 12h, 90m)")
    return int(m.group(1)) * _TTL_UNITS[m.group(2)]


@dataclass(frozen=True)
class Grant:
    role: TokenRole
    streams: tuple[str, ...]  # "*" covers every stream (not for publishing tokens)
    expires: float
    token_id: str
    name: str | None = None  # who holds the token, for the audit log
    screen: str | None = None  # the screen a screen token shows
    station: str | None = None  # the station a kiosk token serves
    # A call token's kiosk link: the jti of the kiosk token it was minted for, which must
    # still be the station's current link (kiosk_guard.py).
    link: str | None = None

    def allows(self, permission: Permission, stream_id: str) -> bool:
        """What the token says by itself. Routed permissions (policy.ROUTED) are never
        granted here: what is routed to the holder is looked up (routing.py)."""
        if permission not in TOKEN_GRANTS[self.role] or permission in ROUTED:
            return False
        return stream_id in self.streams or (
            may_cover_every_stream(self.role) and "*" in self.streams
        )

    @property
    def actor(self) -> str:
        """How the audit log names the holder: the token id, and its name if it has one."""
        return f"token:{self.token_id}" + (f" ({self.name})" if self.name else "")

    @property
    def kiosk_link(self) -> str | None:
        """The kiosk link this credential stands on (a kiosk token's own id, or a call
        token's `link`), or None: not a kiosk's."""
        return self.token_id if names_station(self.role) else self.link


class TokenIssuer:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("token secret must be at least 32 bytes")
        self._secret = secret

    def mint(
        self,
        streams: list[str],
        role: TokenRole,
        ttl_seconds: int,
        name: str | None = None,
        *,
        screen: str | None = None,
        station: str | None = None,
        token_id: str | None = None,
        link: str | None = None,
    ) -> str:
        """`screen`: the screen a screen token shows (required for them, refused for
        others); `token_id`: the jti, when the caller records it (a screen's link);
        `link`: the kiosk link a call token is minted for (revoked with it)."""
        checked = parse_token_role(role)
        if checked is None:
            raise ValueError(f"unknown role {role!r}")
        role = checked
        if names_screen(role) != (screen is not None):
            raise ValueError(f"a screen token names its screen; a {role} token none")
        if screen is not None and not valid_stream_id(screen):
            raise ValueError(f"invalid screen name {screen!r}")
        if names_station(role) != (station is not None):
            raise ValueError(f"a kiosk token names its station; a {role} token none")
        if station is not None and not valid_stream_id(station):
            raise ValueError(f"invalid station id {station!r}")
        if not per_stream(role) and not streams:
            streams = ["*"]  # e.g. auditors: every recording (no live video at all)
        for s in streams:
            if s != "*" and not valid_stream_id(s):
                raise ValueError(f"invalid stream id {s!r}")
            if s == "*" and not may_cover_every_stream(role):
                wide = [r for r in TokenRole if may_cover_every_stream(r)]
                raise ValueError(f"only {' or '.join(wide)} tokens may cover every stream")
        if not streams:
            raise ValueError(f"a {role} token needs at least one stream")
        if name is not None and not _NAME_RE.fullmatch(name):
            raise ValueError("name: 1 to 64 printable characters")
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": _ISSUER,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": token_id or uuid.uuid4().hex,
            "role": role.value,
            "streams": list(streams),
        }
        if name is not None:
            claims["name"] = name
        if screen is not None:
            claims["screen"] = screen
        if station is not None:
            claims["station"] = station
        if link is not None:
            claims["link"] = link
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> Grant:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "iss", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        role = parse_token_role(claims.get("role"))
        streams = claims.get("streams")
        if role is None or not isinstance(streams, list):
            raise Unauthorized("invalid token: missing role or streams")
        name = claims.get("name")
        screen = claims.get("screen")
        if names_screen(role) != isinstance(screen, str):
            raise Unauthorized("invalid token: a screen token names its screen, others none")
        station = claims.get("station")
        if names_station(role) != isinstance(station, str):
            raise Unauthorized("invalid token: a kiosk token names its station, others none")
        link = claims.get("link")
        if link is not None and (not isinstance(link, str) or names_station(role)):
            raise Unauthorized("invalid token: a call token's link is a kiosk token's id")
        return Grant(
            role,
            tuple(str(s) for s in streams),
            float(claims["exp"]),
            str(claims["jti"]),
            str(name) if name is not None else None,
            screen if isinstance(screen, str) else None,
            station if isinstance(station, str) else None,
            link,
        )

    def bearer(self, header: str | None) -> Grant:
        """The grant of an Authorization header (checked, not yet for anything); 401 errors."""
        if not header:
            raise Unauthorized("missing Authorization: Bearer token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization must be 'Bearer <token>'")
        return self.verify(token.strip())

    def authorize(self, header: str | None, permission: Permission, stream_id: str) -> Grant:
        """Check an Authorization header for `permission` on `stream_id`; 401/403 errors."""
        grant = self.bearer(header)
        if not grant.allows(permission, stream_id):
            if permission not in TOKEN_GRANTS[grant.role]:
                needed = " or ".join(token_roles_with(permission))
                raise Forbidden(
                    f"a {grant.role} token does not allow {permission}: {needed} role needed"
                )
            raise Forbidden(f"token does not allow {permission} on stream {stream_id!r}")
        return grant
