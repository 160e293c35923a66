"""Console accounts: users with one role each, passwords hashed with argon2id
(argon2-cffi), stored in the catalog database.

Blocking (database, and argon2 on purpose slow): async code calls these through
asyncio.to_thread. Every change is written to the audit log in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from catalog import LoginSessionRow, UserRow, writer
from catalog import audit as auditlog

from .errors import Refused
from .policy import ROLES, Role, parse_role

USER_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
_HASHER = PasswordHasher()  # argon2id, RFC 9106 low-memory parameters


class AccountError(Refused):
    """A request the accounts refuse: a key of errors.REFUSALS and its values (str():
    the English text; the console translates the key)."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    display_name: str
    disabled: bool
    created_at: datetime
    # County staff see only their county's stations and sessions; None: city-wide.
    county: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names a console user."""
        return f"user:{self.name}"

    @staticmethod
    def of(row: UserRow) -> User:
        role = Role(row.role)
        return User(
            row.id, row.name, role, row.display_name, row.disabled, row.created_at, row.county
        )


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError("account.password_short", min=MIN_PASSWORD)
    if len(password) > MAX_PASSWORD:
        raise AccountError("account.password_long", max=MAX_PASSWORD)


def _check_name(name: str) -> None:
    if not USER_NAME_RE.fullmatch(name):
        raise AccountError("account.name")


def _check_role(role: str) -> Role:
    checked = parse_role(role)
    if checked is None:
        raise AccountError("account.role", roles=", ".join(ROLES))
    return checked


@cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so that takes as long as a wrong
    password (no user-name probing by timing)."""
    return _HASHER.hash("no such user: timing equalizer")


class Users:
    def __init__(self, engine: Engine) -> None:
        self._read = sessionmaker(engine, expire_on_commit=False)
        self._write = sessionmaker(writer(engine), expire_on_commit=False)

    def add(
        self,
        name: str,
        role: str,
        password: str,
        display_name: str | None = None,
        actor: str = "system",
        county: str | None = None,
    ) -> User:
        _check_name(name)
        checked_role = _check_role(role)
        check_password(password)
        display = (display_name or name).strip()
        if not display or len(display) > 128:
            raise AccountError("account.display_name")
        if county is not None:
            county = county.strip()
            if not county or len(county) > 128 or any(ord(c) < 32 for c in county):
                raise AccountError("account.county")
        row = UserRow(
            name=name,
            role=checked_role.value,
            display_name=display,
            county=county,
            password_hash=_HASHER.hash(password),
            disabled=False,
            created_at=datetime.now(UTC),
        )
        try:
            with self._write.begin() as session:
                if session.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
                    raise AccountError("account.exists", name=name)
                session.add(row)
                session.flush()
                detail = {"role": checked_role.value, "display_name": display, "county": county}
                auditlog.append(session, actor, "user.add", f"user:{name}", detail)
        except IntegrityError as exc:  # added meanwhile by another process
            raise AccountError("account.exists", name=name) from exc
        return User.of(row)

    def get(self, name: str) -> User | None:
        with self._read() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            return User.of(row) if row else None

    def all(self) -> list[User]:
        with self._read() as session:
            return [User.of(r) for r in session.scalars(select(UserRow).order_by(UserRow.name))]

    def set_disabled(self, name: str, disabled: bool, actor: str = "system") -> bool:
        """Disable (and log out everywhere) or enable again; False if it already was so."""
        with self._write.begin() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise AccountError("account.unknown", name=name)
            if row.disabled == disabled:
                return False
            row.disabled = disabled
            if disabled:
                for login in session.scalars(
                    select(LoginSessionRow).where(LoginSessionRow.user_id == row.id)
                ):
                    session.delete(login)
            action = "user.disable" if disabled else "user.enable"
            auditlog.append(session, actor, action, f"user:{name}", {})
        return True

    def set_password(self, name: str, password: str, actor: str = "system") -> None:
        """A new password; the user's other logins end."""
        check_password(password)
        hashed = _HASHER.hash(password)
        with self._write.begin() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise AccountError("account.unknown", name=name)
            row.password_hash = hashed
            for login in session.scalars(
                select(LoginSessionRow).where(LoginSessionRow.user_id == row.id)
            ):
                session.delete(login)
            auditlog.append(session, actor, "user.password", f"user:{name}", {})

    def authenticate(self, name: str, password: str) -> tuple[User | None, str]:
        """(the user, "") when name and password match an enabled account; otherwise
        (None, why) — the reason is for the audit log, never for the login page."""
        with self._read() as session:
            row = session.scalar(select(UserRow).where(UserRow.name == name))
        if row is None or len(password) > MAX_PASSWORD:
            self._verify(_dummy_hash(), password[:MAX_PASSWORD])
            return None, "unknown user" if row is None else "password too long"
        if not self._verify(row.password_hash, password):
            return None, "wrong password"
        if row.disabled:
            return None, "account disabled"
        if _HASHER.check_needs_rehash(row.password_hash):
            with self._write.begin() as session:
                fresh = session.get(UserRow, row.id)
                if fresh is not None and fresh.password_hash == row.password_hash:
                    fresh.password_hash = _HASHER.hash(password)
        return User.of(row), ""

    @staticmethod
    def _verify(hashed: str, password: str) -> bool:
        try:
            return _HASHER.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False
