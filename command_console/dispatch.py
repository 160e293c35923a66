"""Video dispatch pages: /dispatch (commanders route live sources to screens, save and
recall layouts), /screen/{name} (the wall PC: full-screen, what the screen shows, live)
and /station/{station_id}/display (a county station's display: the city picture of its
live session and what is dispatched to it).

Who may open what, and what each receives, is signaling's (routing.py): these handlers
only ask and render; the scripts play what the server pushes (/ws/screens/…), and every
WHEP offer is checked again.
"""

from __future__ import annotations

from aiohttp import web
from yarl import URL

from signaling import (
    DISPATCH_GRIDS,
    SCREEN_KINDS,
    Forbidden,
    Permission,
    SignalingError,
    Unauthorized,
    require,
    screen_receiver,
    station_receiver,
    valid_stream_id,
)

from . import i18n, i18n_dispatch
from .render import error_page, forbidden, render


@require(Permission.DISPATCH_MANAGE)
async def dispatch_page(request: web.Request) -> web.StreamResponse:
    """The screens and saved layouts; the script reads and changes them through
    /api/dispatch/… (session cookie and CSRF header)."""
    translate = i18n.Translator(i18n.language(request))
    return render(
        request,
        "dispatch.html",
        grids=DISPATCH_GRIDS,
        kinds=SCREEN_KINDS,
        messages=i18n_dispatch.script_messages(translate),
    )


def _refused(request: web.Request, exc: SignalingError) -> web.StreamResponse:
    if exc.status == 401:
        return error_page(request, 401, "error.display_link")
    if exc.status == 404:
        name = request.match_info.get("name", "")[:64]
        return error_page(request, 404, "error.screen_unknown", name=name)
    return error_page(request, 403, "error.display_forbidden")


def _display(request: web.Request, feed: str, token: str, kind: str) -> web.Response:
    translate = i18n.Translator(i18n.language(request))
    resp = render(
        request,
        "screen.html",
        feed=feed,
        token=token,
        kind=kind,
        messages=i18n_dispatch.script_messages(translate),
    )
    # A token may be in the URL: keep it out of other sites' Referer headers.
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


async def screen_page(request: web.Request) -> web.StreamResponse:
    """The wall PC's page: with the screen's link (?token=), or a console login whose
    role holds screen.view (without a login: to the login page, then back)."""
    name = request.match_info["name"]
    if not valid_stream_id(name):
        return error_page(request, 404, "error.screen_unknown", name=name[:64])
    token = request.query.get("token", "")
    try:
        await screen_receiver(request, name, token or None)
    except Unauthorized as exc:
        if token:
            return _refused(request, exc)
        raise web.HTTPFound(str(URL("/login").with_query(next=request.path_qs))) from None
    except Forbidden as exc:
        return _refused(request, exc) if token else forbidden(request, exc)
    except SignalingError as exc:
        return _refused(request, exc)
    return _display(request, f"/ws/screens/{name}", token, "screen")


async def station_display(request: web.Request) -> web.StreamResponse:
    """A county station's display (the courtroom's screen), with the station's token."""
    station_id = request.match_info["station_id"]
    if not valid_stream_id(station_id):
        return error_page(request, 403, "error.display_forbidden")
    token = request.query.get("token", "")
    try:
        await station_receiver(request, station_id, token or None)
    except SignalingError as exc:
        return _refused(request, exc)
    return _display(request, f"/ws/stations/{station_id}/display", token, "station")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/dispatch", dispatch_page)
    app.router.add_get("/screen/{name}", screen_page)
    app.router.add_get("/station/{station_id}/display", station_display)
