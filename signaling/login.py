"""Logging in and out: rate limit, password check, session, audit log. The console's
login page (command_console/login.py) only renders what this decides.

Throttling (signaling/ratelimit.py): per (account, address) pair with a growing wait, so
the guesser waits and the owner elsewhere does not.

Audit rows: `login` (actor user:NAME) and `login.failure` (actor address:IP, target
user:NAME, detail.reason), `logout`, and `login.attack` (actor system, target user:NAME,
detail: failures, addresses, window) once per window for an account under attack, with
a WARNING log line. Attempts refused while a pair waits are logged, not audited (an
attacker must not be able to grow the audit log at will).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web

from catalog import Catalog

from .accounts import User
from .auth import AUTH_KEY, client_address
from .events_ws import close_session_sockets
from .keys import (
    ARCHIVE_KEY,
    LOGIN_FAILURES_KEY,
    LOGIN_LIMITER_KEY,
    LOGIN_SESSIONS_KEY,
    USERS_KEY,
)
from .ratelimit import Attack

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginResult:
    user: User | None = None
    token: str | None = None  # the new session's cookie value
    retry_after: float = 0.0  # > 0: refused by the rate limit, try again then

    @property
    def ok(self) -> bool:
        return self.user is not None


def _printable(name: str) -> str:
    return "".join(c for c in name if c.isprintable())[:64]


async def log_in(request: web.Request, name: str, password: str) -> LoginResult:
    app = request.app
    address = client_address(request)
    limiter = app[LOGIN_LIMITER_KEY]
    failures = app.get(LOGIN_FAILURES_KEY)
    catalog = app[ARCHIVE_KEY].catalog
    name = name.strip()
    wait = limiter.retry_after(address, name)
    if wait > 0:
        logger.warning("login of %r from %s refused: too many failures", name, address)
        if failures is not None:
            failures.throttled()
        return LoginResult(retry_after=wait)
    user, why = await asyncio.to_thread(app[USERS_KEY].authenticate, name, password)
    if user is None:
        verdict = limiter.failed(address, name)
        if failures is not None:
            failures.failed(why)
        detail = {"address": address, "reason": why}
        target = f"user:{_printable(name)}"
        await asyncio.to_thread(
            catalog.audit, f"address:{address}", "login.failure", target, detail
        )
        if verdict.attack is not None:
            await _alarm(catalog, target, verdict.attack)
        if verdict.spraying:  # this address fails across accounts: it is told to wait
            return LoginResult(retry_after=max(verdict.wait, 1.0))
        return LoginResult()
    limiter.succeeded(address, name)
    previous = request[AUTH_KEY].cookie
    if previous:  # a new login never reuses a session token (no fixation)
        await asyncio.to_thread(app[LOGIN_SESSIONS_KEY].delete, previous)
    agent = request.headers.get("User-Agent", "")
    token, _ = await asyncio.to_thread(app[LOGIN_SESSIONS_KEY].create, user, address, agent)
    detail = {"address": address, "role": user.role}
    await asyncio.to_thread(catalog.audit, user.actor, "login", user.actor, detail)
    return LoginResult(user, token)


async def _alarm(catalog: Catalog, target: str, attack: Attack) -> None:
    logger.warning(
        "login: %s is under attack: %d failed logins from %d addresses in %.0f s",
        target,
        attack.failures,
        attack.addresses,
        attack.window,
    )
    detail = {"failures": attack.failures, "addresses": attack.addresses, "window": attack.window}
    await asyncio.to_thread(catalog.audit, "system", "login.attack", target, detail)


async def log_out(request: web.Request) -> None:
    auth = request[AUTH_KEY]
    if auth.session is None or auth.cookie is None:
        return
    await asyncio.to_thread(request.app[LOGIN_SESSIONS_KEY].delete, auth.cookie)
    await close_session_sockets(request.app, auth.session.token_hash)
    user = auth.session.user
    detail = {"address": client_address(request)}
    catalog = request.app[ARCHIVE_KEY].catalog
    await asyncio.to_thread(catalog.audit, user.actor, "logout", user.actor, detail)
