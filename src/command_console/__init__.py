"""Browser console: server-rendered pages and small ES-module scripts.

For now one page: the demo live wall that proves WHIP in, WHEP out. The full console
(login, roles, wall layouts, archive) builds on this package.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from aiohttp import web

from signaling import TOKENS_KEY

_HERE = Path(__file__).parent
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
)
DEMO_KEY = web.AppKey("console_demo", bool)


async def index(request: web.Request) -> web.StreamResponse:
    if not request.app[DEMO_KEY]:
        html = _TEMPLATES.get_template("placeholder.html").render()
        return web.Response(text=html, content_type="text/html")
    # The demo has no accounts yet: the page carries a short-lived viewer token.
    token = request.app[TOKENS_KEY].mint(["*"], "viewer", 3600)
    html = _TEMPLATES.get_template("wall.html").render(viewer_token=token)
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application, demo: bool) -> None:
    app[DEMO_KEY] = demo
    app.router.add_get("/", index)
    app.router.add_static("/static/", _HERE / "static", append_version=True)
