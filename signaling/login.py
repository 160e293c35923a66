"""Logging in and out: rate limit, password check, session, audit log. The console's
login page (command_console/login.py) only renders what this decides.

Audit rows: `login` (actor user:NAME) and `login.failure` (actor address:IP, target
user:NAME, detail.reason), `logout`. Attempts refused by the rate limit are logged, not
audited (an attacker must not be able to grow the audit log at will).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiohttp import web

from .accounts import User
from .auth import AUTH_KEY, client_address
from .events_ws import close_session_sockets
from .keys import ARCHIVE_KEY, LOGIN_LIMITER_KEY, LOGIN_SESSIONS_KEY, USERS_KEY

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
    catalog = app[ARCHIVE_KEY].catalog
    name = name.strip()
    wait = limiter.retry_after(address, name)
    if wait > 0:
        logger.warning("login of %r from %s refused: too many failures", name, address)
        return LoginResult(retry_after=wait)
    user, why = await asyncio.to_thread(app[USERS_KEY].authenticate, name, password)
    if user is None:
        limiter.failed(address, name)
        detail = {"address": address, "reason": why}
        target = f"user:{_printable(name)}"
        await asyncio.to_thread(
            catalog.audit, f"address:{address}", "login.failure", target, detail
        )
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
