"""Stream tokens: JWTs (HS256, PyJWT) granting publish or subscribe on named streams."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import Literal

import jwt

from .errors import Forbidden, Unauthorized

Role = Literal["station", "viewer"]
Action = Literal["publish", "subscribe"]

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
    role: Role
    streams: tuple[str, ...]  # "*" grants every stream (viewer tokens only)
    expires: float
    token_id: str

    def allows(self, action: Action, stream_id: str) -> bool:
        if action == "publish" and self.role != "station":
            return False
        if action == "subscribe" and self.role != "viewer":
            return False
        return stream_id in self.streams or (self.role == "viewer" and "*" in self.streams)


class TokenIssuer:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("token secret must be at least 32 bytes")
        self._secret = secret

    def mint(self, streams: list[str], role: Role, ttl_seconds: int) -> str:
        for s in streams:
            if s != "*" and not valid_stream_id(s):
                raise ValueError(f"invalid stream id {s!r}")
            if s == "*" and role != "viewer":
                raise ValueError("only viewer tokens may cover every stream")
        now = int(time.time())
        claims = {
            "iss": _ISSUER,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
            "role": role,
            "streams": list(streams),
        }
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
        role = claims.get("role")
        streams = claims.get("streams")
        if role not in ("station", "viewer") or not isinstance(streams, list):
            raise Unauthorized("invalid token: missing role or streams")
        return Grant(role, tuple(str(s) for s in streams), float(claims["exp"]), claims["jti"])

    def authorize(self, header: str | None, action: Action, stream_id: str) -> Grant:
        """Check an Authorization header for `action` on `stream_id`; 401/403 errors."""
        if not header:
            raise Unauthorized("missing Authorization: Bearer token")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Authorization must be 'Bearer <token>'")
        grant = self.verify(token.strip())
        if not grant.allows(action, stream_id):
            raise Forbidden(f"token does not allow {action} on stream {stream_id!r}")
        return grant
