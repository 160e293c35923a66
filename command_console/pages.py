"""The console's pages: the live wall (live.view: commanders, observers; its focus view
is in focus.py) and the token-based station page for a browser used as a camera. The
auditors' archive is in archive.py, the audit log page in audit_page.py."""

from __future__ import annotations

from aiohttp import web

from signaling import TOKENS_KEY, Permission, SignalingError, require, valid_stream_id

from . import i18n, i18n_wall
from .render import error_page, render


@require(Permission.LIVE_VIEW)
async def wall(request: web.Request) -> web.StreamResponse:
    """Every live stream. The page's script authenticates WHEP, /api/streams and the
    event socket with the session cookie (and the CSRF header for WHEP)."""
    translate = i18n.Translator(i18n.language(request))
    return render(request, "wall.html", messages=i18n_wall.script_messages(translate))


async def station(request: web.Request) -> web.StreamResponse:
    """A browser as a camera station: publishes camera and microphone with the link's token.

    The token is checked here too, so a wrong link says so before asking for the camera;
    the WHIP endpoint checks it again on publish."""
    stream_id = request.match_info["stream_id"]
    if not valid_stream_id(stream_id):
        return error_page(request, 400, "error.stream_id", stream=stream_id[:64])
    token = request.query.get("token", "")
    status, error = 200, None
    if not token:
        status, error = 401, "链接缺少令牌 · the link has no ?token="
    else:
        try:
            request.app[TOKENS_KEY].authorize(
                f"Bearer {token}", Permission.STREAM_PUBLISH, stream_id
            )
        except SignalingError as exc:
            status, error = exc.status, f"令牌无效 · {exc.reason}"
    resp = render(
        request,
        "station.html",
        status=status,
        stream_id=stream_id,
        token=token if error is None else "",
        error=error,
    )
    # The token is in the URL: keep it out of caches and other sites' Referer headers.
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", wall)
    app.router.add_get("/station/{stream_id}", station)
