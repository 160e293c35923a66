"""Browser console: server-rendered pages (jinja2) and small ES-module scripts, all
served from this node (no CDN).

- render.py: the template environment, `render(request, template, **context)` with what
  the shared layout needs (user, CSRF token, message catalogue), the 403 page.
- i18n.py: the message catalogue (Chinese default, English).
- login.py: /login, /logout. pages.py: the live wall, the station page; focus.py:
  /streams/{id}, one live stream large with sound (i18n_wall.py: their messages).
- archive.py (+ archive_data.py, timeline.py, i18n_archive.py): the auditors' archive,
  /archive…; audit_page.py: /audit.
- admin_stations.py, admin_users.py: /admin/stations, /admin/users.
- dispatch.py (+ i18n_dispatch.py): /dispatch (video dispatch), /screen/{name} (the wall
  PC), /station/{station_id}/display (a county station's display).
- reception.py (+ i18n_reception.py): /kiosk/{station} (a county reception room's
  kiosk), /reception (receptionists: the city's petition queue).

Access rules live in the handlers (signaling.require, with the permissions of
signaling/policy.py), never in templates or JS.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from signaling import FORBIDDEN_PAGE_KEY

from . import (
    admin_stations,
    admin_users,
    archive,
    audit_page,
    dispatch,
    focus,
    login,
    nodes_page,
    pages,
    reception,
    sessions,
)
from .i18n import Translator
from .i18n_archive import continuity_reason
from .render import DEMO_KEY, forbidden

_HERE = Path(__file__).parent


def add_routes(app: web.Application, demo: bool = False) -> None:
    app[DEMO_KEY] = demo
    app[FORBIDDEN_PAGE_KEY] = forbidden
    login.add_routes(app)
    pages.add_routes(app)
    focus.add_routes(app)
    archive.add_routes(app)
    audit_page.add_routes(app)
    admin_stations.add_routes(app)
    admin_users.add_routes(app)
    sessions.add_routes(app)
    dispatch.add_routes(app)
    reception.add_routes(app)
    nodes_page.add_routes(app)
    app.router.add_static("/static/", _HERE / "static", append_version=True)


def reason_zh(text: str) -> str:
    """A continuity or interruption reason (recorder.continuity's English) in Chinese, or
    as given when the catalogue does not know it: for text burned into evidence copies."""
    return continuity_reason(Translator("zh"), text)
