"""Rendering console pages: one jinja2 environment, one `render` that gives every
template what the shared layout needs.

Every template may use: `user` (the logged-in User or None), `csrf` (the session's CSRF
token, for hidden form fields), `t` / `bi` (the message catalogue, see i18n.py), `lang`,
`demo`, `nav` (the links the user's role may follow), `can("archive.read")` (whether
the user's role holds a permission, see signaling/policy.py: for what a page shows,
never for deciding access), `path`, `lang_url` (this page in the other language), `iso`
/ `localtime` (times) and `json_script` (data for a page's
script in <script type="application/json">). Pages extend `layout.html` and fill
`title`, `heading`, `status` (header extras), `main` (or all of `body`) and `scripts`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from catalog import iso
from signaling import (
    Forbidden,
    Permission,
    Role,
    RoleForbidden,
    User,
    allows,
    cluster_alarm,
    csrf_token,
    current_user,
)

from . import i18n, i18n_errors, i18n_nodes

assert i18n_errors.MESSAGES and i18n_nodes.MESSAGES  # merged at import

_HERE = Path(__file__).parent
TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    auto_reload=False,  # no stat of the template files at every render, on the event loop
)
for _name in TEMPLATES.list_templates():  # read and compiled at import, never on the loop
    TEMPLATES.get_template(_name)
DEMO_KEY = web.AppKey("console_demo", bool)


def localtime(value: datetime | None) -> str:
    """A time as the node's clock shows it (scripts re-render <time> in the browser's)."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


TEMPLATES.globals.update(iso=iso, localtime=localtime)

# Scripts, styles and connections from this origin only; no framing.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

# The console's sections (link, label) and the permission each needs: the same one its
# handler requires (tests/test_policy.py checks), so a role sees the links it may follow.
NAV: tuple[tuple[str, str, Permission], ...] = (
    ("/", "nav.wall", Permission.LIVE_VIEW),
    ("/dispatch", "nav.dispatch", Permission.DISPATCH_MANAGE),
    ("/reception", "nav.reception", Permission.RECEPTION_QUEUE),
    ("/sessions", "nav.sessions", Permission.SESSIONS_JOIN),
    ("/archive", "nav.archive", Permission.ARCHIVE_READ),
    ("/audit", "nav.audit", Permission.AUDIT_READ),
    ("/admin/stations", "nav.stations", Permission.STATIONS_MANAGE),
    ("/admin/users", "nav.users", Permission.USERS_MANAGE),
    ("/nodes", "nav.nodes", Permission.NODES_READ),
)
# Where a role lands after logging in: the first of these sections it may open.
LANDING: tuple[str, ...] = (
    "/",
    "/dispatch",
    "/reception",
    "/sessions",
    "/archive",
    "/admin/stations",
    "/audit",
    "/admin/users",
    "/nodes",
)
_NEEDS = {href: permission for href, _, permission in NAV}


def nav(role: Role) -> list[tuple[str, str]]:
    """The sections `role` may open, as (link, label key)."""
    return [(href, key) for href, key, permission in NAV if allows(role, permission)]


def home(role: Role) -> str:
    """The role's start page: the first section of LANDING it may open ("/" if none)."""
    return next((href for href in LANDING if allows(role, _NEEDS[href])), "/")


def can_for(user: User | None) -> Callable[[str], bool]:
    """The templates' `can("archive.read")`: whether the user's role holds a permission
    (a misspelt permission raises, it is not quietly False)."""

    def can(permission: str) -> bool:
        return user is not None and allows(user.role, Permission(permission))

    return can


def _json_script(value: Any) -> Markup:
    """JSON safe inside <script type="application/json">."""
    text = json.dumps(value, ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    lang = i18n.language(request)
    translate = i18n.Translator(lang)
    user = current_user(request)
    html = TEMPLATES.get_template(template).render(
        user=user,
        csrf=csrf_token(request),
        t=translate,
        bi=translate.bi,
        lang=lang,
        demo=request.app.get(DEMO_KEY, False),
        nav=nav(user.role) if user is not None else [],
        can=can_for(user),
        path=request.path,
        lang_url=str(request.rel_url.update_query(lang="en" if lang == "zh" else "zh")),
        json_script=_json_script,
        # This node lost the cluster's Redis: said on every page to who runs the centre.
        cluster_alarm=user is not None
        and allows(user.role, Permission.EVENTS_CLUSTER)
        and cluster_alarm(request.app),
        **context,
    )
    resp = web.Response(status=status, text=html, content_type="text/html")
    resp.headers.update(SECURITY_HEADERS)
    i18n.remember(request, resp)
    return resp


def see_other(location: str) -> web.Response:
    """303 after a form's POST (returned, so cookies set on it are kept)."""
    return web.Response(status=303, headers={"Location": location})


def _home(request: web.Request) -> str:
    user = current_user(request)
    return home(user.role) if user is not None else "/login"


def forbidden(request: web.Request, refusal: Forbidden) -> web.StreamResponse:
    """The 403 page (signaling.auth uses it for pages through FORBIDDEN_PAGE_KEY), saying
    which role may, in the page's language."""
    t = i18n.Translator(i18n.language(request))
    detail = ""
    if isinstance(refusal, RoleForbidden):
        needs = t("forbidden.or").join(t(f"role.{r}") for r in refusal.needs)
        detail = t("forbidden.role", role=t(f"role.{refusal.role}"), needs=needs)
    return render(request, "forbidden.html", status=403, reason=detail, home=_home(request))


def error_page(request: web.Request, status: int, key: str, **values: object) -> web.Response:
    """A 400/404/500 page: the message `key` of the catalogue with its values."""
    t = i18n.Translator(i18n.language(request))
    title = f"error.title.{status}"
    if title not in i18n.MESSAGES:
        title = "error.title.400"
    return render(
        request,
        "error.html",
        status=status,
        code=status,
        title_key=title,
        message=t(key, **values),
        home=_home(request),
    )


class PageError(Exception):
    """Raised by a page's helpers (a bad query parameter); `page_errors` renders it."""

    def __init__(self, status: int, key: str, **values: object) -> None:
        super().__init__(key)
        self.status, self.key, self.values = status, key, values


Page = Callable[[web.Request], Awaitable[web.StreamResponse]]


def page_errors(handler: Page) -> Page:
    """Render a PageError raised by the handler as the error page."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except PageError as exc:
            return error_page(request, exc.status, exc.key, **exc.values)

    return wrapped
