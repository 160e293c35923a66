"""GET/POST /login and POST /logout: the pages; signaling.login decides.

The login form carries a token of its own (there is no session yet to hold a CSRF
token): a random value in a SameSite=Strict cookie scoped to /login, repeated in a hidden
field, so another site cannot log a browser in to an account of its choosing.
"""

from __future__ import annotations

import hmac
import math
import secrets

from aiohttp import web

from signaling import (
    CSRF_FIELD,
    Role,
    clear_session_cookie,
    csrf_exempt,
    current_user,
    is_secure,
    log_in,
    log_out,
    require_login,
    safe_next,
    set_session_cookie,
)

from .i18n import Translator, language
from .render import home, render, see_other

LOGIN_COOKIE = "vdispatch_login"


def _form_token(request: web.Request) -> str:
    token = request.cookies.get(LOGIN_COOKIE, "")
    return token if 20 <= len(token) <= 64 else secrets.token_urlsafe(24)


def _page(
    request: web.Request,
    status: int = 200,
    error: object = None,
    name: str = "",
    next_path: str = "",
    headers: dict[str, str] | None = None,
) -> web.Response:
    token = _form_token(request)
    resp = render(
        request,
        "login.html",
        status=status,
        error=error,
        name=name,
        next=next_path,
        login_csrf=token,
    )
    if headers:
        resp.headers.update(headers)
    resp.set_cookie(
        LOGIN_COOKIE,
        token,
        path="/login",
        httponly=True,
        samesite="Strict",
        secure=is_secure(request),
        max_age=3600,
    )
    return resp


def _after_login(next_path: str, role: Role) -> str:
    """The page asked for; the role's start page instead of the bare "/" (which is the
    live wall: an auditor or admin would land on a 403)."""
    start = home(role)
    target = safe_next(next_path, start)
    return start if target == "/" else target


async def login_page(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    next_path = request.query.get("next", "")
    if user is not None:
        raise web.HTTPFound(_after_login(next_path, user.role))
    return _page(request, next_path=next_path)


@csrf_exempt
async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    text = {k: v if isinstance(v, str) else "" for k, v in form.items()}
    name, next_path = text.get("name", "")[:64], text.get("next", "")
    bi = Translator(language(request)).bi
    expected = request.cookies.get(LOGIN_COOKIE, "")
    sent = text.get(CSRF_FIELD, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return _page(request, 403, bi("login.expired"), name, next_path)
    result = await log_in(request, name, text.get("password", ""))
    if result.retry_after > 0:
        minutes = max(1, math.ceil(result.retry_after / 60))
        error = bi("login.throttled", minutes=minutes)
        retry = {"Retry-After": str(math.ceil(result.retry_after))}
        return _page(request, 429, error, name, next_path, retry)
    if result.user is None or result.token is None:
        return _page(request, 401, bi("login.failed"), name, next_path)
    resp = see_other(_after_login(next_path, result.user.role))
    set_session_cookie(request, resp, result.token)
    resp.del_cookie(LOGIN_COOKIE, path="/login")
    return resp


@require_login()
async def logout(request: web.Request) -> web.StreamResponse:
    await log_out(request)
    resp = see_other("/login")
    clear_session_cookie(resp)
    return resp


def add_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
