"""Server-side console sessions in the catalog database.

The browser holds a random 32-byte token (an HttpOnly cookie, see auth.py); the database
holds only its sha256, so a leaked table logs nobody in. A session ends when it has been
idle for `idle`, at the latest `lifetime` after login, at logout, and when its user is
disabled or changes password. Each session has its own CSRF token.

Blocking: async code calls these through asyncio.to_thread.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import sessionmaker

from catalog import LoginSessionRow, UserRow, writer

from .accounts import User

# last_seen is written at most this often per session (not on every request).
TOUCH_EVERY = timedelta(seconds=60)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class LoginSession:
    token_hash: str
    user: User
    csrf: str
    created_at: datetime
    last_seen: datetime


class LoginSessions:
    def __init__(self, engine: Engine, idle: timedelta, lifetime: timedelta) -> None:
        if idle <= timedelta(0) or lifetime <= timedelta(0):
            raise ValueError("session idle time and lifetime must be positive")
        self.idle = idle
        self.lifetime = lifetime
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(writer(engine), expire_on_commit=False)

    def create(self, user: User, ip: str, user_agent: str) -> tuple[str, LoginSession]:
        """A new session for `user`: (the cookie's token, the session)."""
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        row = LoginSessionRow(
            token_hash=token_hash(token),
            user_id=user.id,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            last_seen=now,
            ip=ip[:64],
            user_agent=user_agent[:256],
        )
        with self._write.begin() as session:
            session.add(row)
        return token, LoginSession(row.token_hash, user, row.csrf, now, now)

    def resolve(self, token: str) -> LoginSession | None:
        """The live session of a cookie's token, or None (unknown, expired, user disabled)."""
        if not token or len(token) > 128:
            return None
        key = token_hash(token)
        with self._read() as session:
            found = session.execute(
                select(LoginSessionRow, UserRow)
                .join(UserRow, UserRow.id == LoginSessionRow.user_id)
                .where(LoginSessionRow.token_hash == key)
            ).first()
        if found is None:
            return None
        row, user_row = found
        now = datetime.now(UTC)
        if user_row.disabled or self._expired(row, now):
            self.delete(token)
            return None
        if now - row.last_seen >= TOUCH_EVERY:
            with self._write.begin() as session:
                fresh = session.get(LoginSessionRow, key)
                if fresh is not None:
                    fresh.last_seen = now
        return LoginSession(key, User.of(user_row), row.csrf, row.created_at, row.last_seen)

    def _expired(self, row: LoginSessionRow, now: datetime) -> bool:
        return now - row.last_seen > self.idle or now - row.created_at > self.lifetime

    def delete(self, token: str) -> bool:
        """Log out: True if there was such a session."""
        with self._write.begin() as session:
            result = session.execute(
                delete(LoginSessionRow).where(LoginSessionRow.token_hash == token_hash(token))
            )
            return bool(getattr(result, "rowcount", 0))

    def purge_expired(self) -> int:
        """Forget every expired session (the node does this now and then)."""
        now = datetime.now(UTC)
        with self._write.begin() as session:
            result = session.execute(
                delete(LoginSessionRow).where(
                    (LoginSessionRow.last_seen < now - self.idle)
                    | (LoginSessionRow.created_at < now - self.lifetime)
                )
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def count(self, user: User) -> int:
        with self._read() as session:
            rows = session.scalars(
                select(LoginSessionRow.token_hash).where(LoginSessionRow.user_id == user.id)
            )
            return len(list(rows))
