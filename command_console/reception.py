"""Petition reception pages: /kiosk/{station} (the county reception room's kiosk,
full-screen, with the kiosk link's token: a form, then the petitioner's place and the
estimated wait) and /reception (receptionists: the city's live queue, accept, the
outcome form). Who may do what is signaling's (reception_api.py, policy.py): these
handlers only check and render; every call of the scripts is checked again."""

from __future__ import annotations

from aiohttp import web

from signaling import (
    KioskRevoked,
    Permission,
    SignalingError,
    kiosk_grant,
    kiosk_route,
    require,
    valid_stream_id,
)

from . import i18n, i18n_reception
from .render import error_page, render


@require(Permission.RECEPTION_QUEUE)
async def reception_page(request: web.Request) -> web.StreamResponse:
    translate = i18n.Translator(i18n.language(request))
    return render(
        request,
        "reception.html",
        messages=i18n_reception.script_messages(translate, "reception."),
    )


@kiosk_route("kiosk")
async def kiosk_page(request: web.Request) -> web.StreamResponse:
    station = request.match_info["station"]
    token = request.query.get("token", "")
    if not valid_stream_id(station) or not (token or "Authorization" in request.headers):
        return error_page(request, 403, "error.kiosk_link")
    try:
        await kiosk_grant(request, station, token or None)
    except KioskRevoked:
        return error_page(request, 401, "error.kiosk_revoked")
    except SignalingError:
        return error_page(request, 403, "error.kiosk_link")
    translate = i18n.Translator(i18n.language(request))
    resp = render(
        request,
        "kiosk.html",
        station=station,
        token=token,
        messages=i18n_reception.script_messages(translate, "kiosk."),
    )
    # The token is in the URL: keep it out of other sites' Referer headers.
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def add_routes(app: web.Application) -> None:
    app.router.add_get("/reception", reception_page)
    app.router.add_get("/kiosk/{station}", kiosk_page)
