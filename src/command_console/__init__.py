"""Browser console: server-rendered pages and small ES-module scripts.

For now two pages: the demo live wall that proves WHIP in, WHEP out, and the station page
(`/station/{id}?token=…`) that publishes a browser's camera over WHIP. The full console
(login, roles, wall layouts, archive) builds on this package.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from aiohttp import web

from signaling import TOKENS_KEY, SignalingError
from signaling.tokens import valid_stream_id

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


async def station(request: web.Request) -> web.StreamResponse:
    """A browser as a camera station: publishes camera and microphone with the link's token.

    The token is checked here too, so a wrong link says so before asking for the camera;
    the WHIP endpoint checks it again on publish."""
    stream_id = request.match_info["stream_id"]
    if not valid_stream_id(stream_id):
        return web.Response(status=400, text="invalid stream id: use [a-z0-9][a-z0-9_-]{0,63}\n")
    token = request.query.get("token", "")
    status, error = 200, None
    if not token:
        status, error = 401, "链接缺少令牌 · the link has no ?token="
    else:
        try:
            request.app[TOKENS_KEY].authorize(f"Bearer {token}", "publish", stream_id)
        except SignalingError as exc:
            status, error = exc.status, f"令牌无效 · {exc.reason}"
    html = _TEMPLATES.get_template("station.html").render(
        stream_id=stream_id, token=token if error is None else "", error=error
    )
    return web.Response(
        status=status,
        text=html,
        content_type="text/html",
        # The token is in the URL: keep it out of caches and other sites' Referer headers.
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def add_routes(app: web.Application, demo: bool) -> None:
    app[DEMO_KEY] = demo
    app.router.add_get("/", index)
    app.router.add_get("/station/{stream_id}", station)
    app.router.add_static("/static/", _HERE / "static", append_version=True)
