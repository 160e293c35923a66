"""/admin/users: admins list, add, disable and enable console accounts (server-rendered
forms with the session's CSRF token; signaling.accounts decides)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from signaling import (
    MIN_PASSWORD,
    ROLES,
    USERS_KEY,
    AccountError,
    Permission,
    Role,
    current_user,
    require,
)

from .i18n import Translator, language
from .i18n_errors import refusal
from .render import render, see_other

NOTICES = {"added": "users.added", "changed": "users.changed"}


def _actor(request: web.Request) -> tuple[str, str]:
    user = current_user(request)
    assert user is not None  # require let it through
    return user.actor, user.name


async def _page(
    request: web.Request, status: int = 200, error: str | None = None, form: Any = None
) -> web.Response:
    users = await asyncio.to_thread(request.app[USERS_KEY].all)
    done = NOTICES.get(request.query.get("done", ""))
    notice = Translator(language(request)).bi(done) if done else None
    return render(
        request,
        "admin_users.html",
        status=status,
        users=users,
        roles=ROLES,
        min_password=MIN_PASSWORD,
        form=form or {"name": "", "display_name": "", "role": Role.COMMANDER},
        error=error,
        notice=notice,
    )


@require(Permission.USERS_MANAGE)
async def users_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@require(Permission.USERS_MANAGE)
async def add_user(request: web.Request) -> web.StreamResponse:
    posted = await request.post()
    form = {
        k: v if isinstance(v := posted.get(k, ""), str) else ""
        for k in ("name", "display_name", "role", "password")
    }
    store, (actor, _) = request.app[USERS_KEY], _actor(request)
    try:
        await asyncio.to_thread(
            lambda: store.add(
                form["name"].strip(),
                form["role"],
                form["password"],
                form["display_name"] or None,
                actor=actor,
            )
        )
    except AccountError as exc:
        form["password"] = ""
        return await _page(request, 400, refusal(Translator(language(request)), exc), form)
    return see_other("/admin/users?done=added")


@require(Permission.USERS_MANAGE)
async def set_disabled(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    disabled = request.match_info["action"] == "disable"
    actor, me = _actor(request)
    if name == me:
        exc = AccountError("account.disable_self")
        return await _page(request, 400, refusal(Translator(language(request)), exc))
    try:
        await asyncio.to_thread(request.app[USERS_KEY].set_disabled, name, disabled, actor)
    except AccountError as exc:
        return await _page(request, 404, refusal(Translator(language(request)), exc))
    return see_other("/admin/users?done=changed")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/users", users_page)
    app.router.add_post("/admin/users", add_user)
    app.router.add_post("/admin/users/{name}/{action:disable|enable}", set_disabled)
