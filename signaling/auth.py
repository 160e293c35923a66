"""Console authentication for every route: the session-cookie middleware, CSRF checks,
and the permission guards handlers use (who holds which permission: policy.py).

- `auth_middleware` resolves the session cookie (in a thread) to a `LoginSession` kept
  on the request (`current_user`, `current_session`, `csrf_token`). A request carrying
  `Authorization` is token-authenticated (stations' WHIP, viewer and auditor tokens): its
  cookie is ignored, and it needs no CSRF token.
- Every unsafe method (POST/PUT/PATCH/DELETE) authenticated by the cookie must carry the
  session's CSRF token, as form field `csrf` or header `X-CSRF-Token`; otherwise 403
  "CSRF token missing or wrong". Handlers marked `@csrf_exempt` (the login form, which
  has a token of its own) check it themselves.
- `require(permission)` guards a handler: pages redirect to /login?next=… without a
  session and show the 403 page (FORBIDDEN_PAGE_KEY, set by the console) for a role
  without the permission; with `api=True` the answers are 401/403 plain text.
  `require_login()` lets any logged-in account through. `authorize` is the same check
  for handlers that also accept Bearer tokens (WHIP/WHEP, /api/streams, the recordings
  API): the session when there is one and no Authorization header, the token otherwise.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from yarl import URL

from .accounts import User
from .errors import Forbidden, RoleForbidden, Unauthorized
from .keys import AUTH_SETTINGS_KEY, LOGIN_SESSIONS_KEY, TOKENS_KEY
from .login_sessions import LoginSession
from .policy import Permission, allows, roles_with
from .tokens import Grant

logger = logging.getLogger(__name__)

SESSION_COOKIE = "vdispatch_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_REFUSED = "CSRF token missing or wrong"
# Never authenticated by cookie: static files and the health check. (/metrics is: an
# admin's console session may read it.)
_PUBLIC_PREFIXES = ("/static/", "/healthz")
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ForbiddenPage = Callable[[web.Request, Forbidden], web.StreamResponse]


@dataclass(frozen=True)
class Auth:
    session: LoginSession | None = None
    cookie: str | None = None  # the session cookie's token, when it resolved


AUTH_KEY = web.RequestKey("auth", Auth)
FORBIDDEN_PAGE_KEY: web.AppKey[ForbiddenPage] = web.AppKey("forbidden_page")


# ------------------------------------------------------------------ accessors


def current_session(request: web.Request) -> LoginSession | None:
    auth = request.get(AUTH_KEY)
    return auth.session if isinstance(auth, Auth) else None


def current_user(request: web.Request) -> User | None:
    """The logged-in console user of this request, or None."""
    session = current_session(request)
    return session.user if session else None


def csrf_token(request: web.Request) -> str:
    """The CSRF token forms and scripts of this session must send ("" when logged out)."""
    session = current_session(request)
    return session.csrf if session else ""


def is_secure(request: web.Request) -> bool:
    """HTTPS here, or at the reverse proxy in front (X-Forwarded-Proto)."""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


def client_address(request: web.Request) -> str:
    """The client's address; behind a trusted proxy, the last X-Forwarded-For hop."""
    remote = request.remote or "unknown"
    settings = request.app.get(AUTH_SETTINGS_KEY)
    trusted = settings.trusted_proxies if settings else []
    forwarded = request.headers.get("X-Forwarded-For")
    if forwarded and remote in trusted:
        hop = forwarded.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(hop))
        except ValueError:
            return remote
    return remote


def set_session_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    lifetime = request.app[AUTH_SETTINGS_KEY].session_lifetime
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        path="/",
        httponly=True,
        samesite="Lax",
        secure=is_secure(request),
    )


def clear_session_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


def safe_next(target: str | None, default: str) -> str:
    """Where to go after login: a path on this site only (no //host, no scheme)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 32 for c in target):
        return default
    return target


def login_url(request: web.Request) -> str:
    return str(URL("/login").with_query(next=request.path_qs))


# ------------------------------------------------------------------ middleware


def csrf_exempt(handler: Handler) -> Handler:
    """Mark a handler that checks its own CSRF token (the login form)."""
    handler.csrf_exempt = True  # type: ignore[attr-defined]
    return handler


async def _csrf_ok(request: web.Request, session: LoginSession) -> bool:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in _FORMS:
        form = await request.post()  # aiohttp keeps it: the handler reads it again
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return sent is not None and hmac.compare_digest(sent.encode(), session.csrf.encode())


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    session = None
    token = request.cookies.get(SESSION_COOKIE)
    if (
        token
        and "Authorization" not in request.headers
        and LOGIN_SESSIONS_KEY in request.app
        and not request.path.startswith(_PUBLIC_PREFIXES)
    ):
        try:
            session = await asyncio.to_thread(request.app[LOGIN_SESSIONS_KEY].resolve, token)
        except SQLAlchemyError:
            logger.exception("session lookup failed")
            return web.Response(status=503, text="the catalog is unavailable\n")
    request[AUTH_KEY] = Auth(session, token if session else None)
    if (
        session is not None
        and request.method in UNSAFE
        and not getattr(request.match_info.handler, "csrf_exempt", False)
        and not await _csrf_ok(request, session)
    ):
        return web.Response(status=403, text=CSRF_REFUSED + "\n")
    return await handler(request)


# ------------------------------------------------------------------ permission guards


def _logged_in(request: web.Request) -> User:
    user = current_user(request)
    if user is None:
        raise Unauthorized("not logged in: console login or Authorization: Bearer token needed")
    return user


def authorize_session(request: web.Request, permission: Permission) -> User:
    """The session's user if their role holds `permission`; Unauthorized / RoleForbidden
    otherwise (naming the roles that hold it, which the 403 page translates)."""
    user = _logged_in(request)
    if not allows(user.role, permission):
        raise RoleForbidden(user.role, roles_with(permission))
    return user


def authorize(request: web.Request, permission: Permission, stream_id: str = "*") -> User | Grant:
    """Who may do `permission` on `stream_id` here: the console session's user when the
    request has a session and no Authorization header (and some console role can hold
    the permission at all), otherwise the Bearer token's grant. Unauthorized / Forbidden
    when neither does."""
    header = request.headers.get("Authorization")
    if header is None and current_session(request) is not None and roles_with(permission):
        return authorize_session(request, permission)
    return request.app[TOKENS_KEY].authorize(header, permission, stream_id)


def _text(status: int, reason: str) -> web.Response:
    resp = web.Response(status=status, text=reason + "\n")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="vdispatch"'
    return resp


def forbidden_page(request: web.Request, refusal: Forbidden) -> web.StreamResponse:
    render = request.app.get(FORBIDDEN_PAGE_KEY)
    return render(request, refusal) if render is not None else _text(403, refusal.reason)


def _guard(check: Callable[[web.Request], object], api: bool) -> Callable[[Handler], Handler]:
    def guard(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                check(request)
            except Unauthorized as exc:
                if api:
                    return _text(401, exc.reason)
                raise web.HTTPFound(login_url(request)) from None
            except Forbidden as exc:
                return _text(403, exc.reason) if api else forbidden_page(request, exc)
            return await handler(request)

        return guarded

    return guard


def require(permission: Permission, api: bool = False) -> Callable[[Handler], Handler]:
    """Guard a handler: only a logged-in user whose role holds `permission` reaches it.

    Pages (default): no session -> 302 to /login?next=…; without the permission -> the
    403 page. api=True: 401 / 403 with a plain-text reason. The guarded handler's
    `required_permission` says which (for tests and the navigation's checks)."""
    wrap = _guard(lambda request: authorize_session(request, permission), api)

    def guard(handler: Handler) -> Handler:
        guarded = wrap(handler)
        guarded.required_permission = permission  # type: ignore[attr-defined]
        return guarded

    return guard


def require_login(api: bool = False) -> Callable[[Handler], Handler]:
    """Guard a handler any logged-in account may use (its session, logout, the event
    socket, whose topics are filtered by permission). Answers as `require`."""
    return _guard(_logged_in, api)
