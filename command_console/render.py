"""Rendering console pages: one jinja2 environment, one `render` that gives every
template what the shared layout needs.

Every template may use: `user` (the logged-in User or None), `csrf` (the session's CSRF
token, for hidden form fields), `t` / `bi` (the message catalogue, see i18n.py), `lang`,
`demo`, `nav` (the links the user's role may follow), `path`, `lang_url` (this page in
the other language), `iso` / `localtime` (times) and `json_script` (data for a page's
script in <script type="application/json">). Pages extend `layout.html` and fill
`title`, `heading`, `status` (header extras), `main` (or all of `body`) and `scripts`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

from catalog import iso
from signaling import Role, csrf_token, current_user

from . import i18n

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

# The console's sections, and the roles that may open them (the handlers enforce it).
NAV: list[tuple[str, str, tuple[Role, ...]]] = [
    ("/", "nav.wall", ("commander", "observer")),
    ("/archive", "nav.archive", ("auditor",)),
    ("/audit", "nav.audit", ("auditor", "admin")),
    ("/admin/stations", "nav.stations", ("admin",)),
    ("/admin/users", "nav.users", ("admin",)),
]
HOME: dict[Role, str] = {
    "commander": "/",
    "observer": "/",
    "auditor": "/archive",
    "admin": "/admin/stations",
}


def _json_script(value: Any) -> Markup:
    """JSON safe inside <script type="application/json">."""
    text = json.dumps(value, ensure_ascii=False)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    lang = i18n.language(request)
    translate = i18n.Translator(lang)
    user = current_user(request)
    nav = [(href, key) for href, key, roles in NAV if user is not None and user.role in roles]
    html = TEMPLATES.get_template(template).render(
        user=user,
        csrf=csrf_token(request),
        t=translate,
        bi=translate.bi,
        lang=lang,
        demo=request.app.get(DEMO_KEY, False),
        nav=nav,
        path=request.path,
        lang_url=str(request.rel_url.update_query(lang="en" if lang == "zh" else "zh")),
        json_script=_json_script,
        **context,
    )
    resp = web.Response(status=status, text=html, content_type="text/html")
    resp.headers.update(SECURITY_HEADERS)
    i18n.remember(request, resp)
    return resp


def see_other(location: str) -> web.Response:
    """303 after a form's POST (returned, so cookies set on it are kept)."""
    return web.Response(status=303, headers={"Location": location})


def forbidden(request: web.Request, reason: str) -> web.StreamResponse:
    """The 403 page (signaling.auth uses it for pages through FORBIDDEN_PAGE_KEY)."""
    user = current_user(request)
    home = HOME[user.role] if user is not None else "/login"
    return render(request, "forbidden.html", status=403, reason=reason, home=home)
