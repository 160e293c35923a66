"""The auditors' archive: recordings by county, station, date range and session with
their verification badge; a recording's page with the player; several recordings played
in sync; the coverage timeline per station per day; the evidence package download.

Auditors only (archive.read; the evidence package: recording.export). Viewing a
recording's page and exporting it are written to the audit log (the player's segment
requests are, by the recordings API). Catalog and file work runs in threads.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from recorder import export_recording
from recorder import manifest as mf
from signaling import ARCHIVE_KEY, HEARINGS_KEY, STATIONS_KEY, Permission, current_user, require

from . import archive_data, archive_sessions, i18n, i18n_archive, timeline
from .downloads import send_zip
from .render import PageError, error_page, page_errors, render

logger = logging.getLogger(__name__)
assert i18n_archive.MESSAGES  # the messages are merged at import
MAX_SYNC = 6


def _actor(request: web.Request) -> str:
    user = current_user(request)
    assert user is not None  # require saw to it
    return user.actor


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PageError(400, "error.date", value=value[:64]) from None


def _param(request: web.Request, name: str) -> str | None:
    value = request.query.get(name, "").strip()
    if len(value) > 256:
        t = i18n.Translator(i18n.language(request))
        raise PageError(400, "error.too_long", field=t(f"archive.{name}"))
    return value or None


def _stations(request: web.Request) -> Any:
    return request.app.get(STATIONS_KEY)


@require(Permission.ARCHIVE_READ)
@page_errors
async def archive_list(request: web.Request) -> web.StreamResponse:
    filters = archive_data.Filters(
        county=_param(request, "county"),
        station=_param(request, "station"),
        day_from=_day(request.query.get("from")),
        day_to=_day(request.query.get("to")),
        session=_param(request, "session"),
    )
    tz = archive_data.local_tz()
    found = await asyncio.to_thread(
        archive_data.list_recordings, request.app[ARCHIVE_KEY], _stations(request), filters, tz
    )
    translate = i18n.Translator(i18n.language(request))
    for row in found["recordings"]:
        row["verification"] = i18n_archive.verification(translate, row["verification"])
    return render(
        request,
        "archive.html",
        filters=filters,
        max_rows=archive_data.MAX_ROWS,
        today=datetime.now(tz).date().isoformat(),
        **found,
    )


@require(Permission.ARCHIVE_READ)
async def recording_page(request: web.Request) -> web.StreamResponse:
    return await _player_page(request, [request.match_info["recording_id"]])


@require(Permission.ARCHIVE_READ)
async def sync_page(request: web.Request) -> web.StreamResponse:
    ids = list(dict.fromkeys(v for v in request.query.getall("id", []) if v))[:MAX_SYNC]
    if not ids:
        raise web.HTTPFound("/archive")
    return await _player_page(request, ids, _param(request, "session"), request.query.get("at"))


async def _player_page(
    request: web.Request, ids: list[str], session: str | None = None, at: str | None = None
) -> web.StreamResponse:
    """The player; `session`: its marks (state changes, directions, comments) on the seek
    bar; `at`: where to start (Unix ms)."""
    archive = request.app[ARCHIVE_KEY]
    details = []
    for rid in ids:
        detail = await asyncio.to_thread(
            archive_data.recording_detail, archive, _stations(request), rid
        )
        if detail is None:
            return render(request, "archive_missing.html", status=404, recording_id=rid)
        details.append(detail)
    translate = i18n.Translator(i18n.language(request))
    for detail in details:
        detail["verification"] = i18n_archive.verification(translate, detail["verification"])
        for gap in detail["gaps"]:
            gap["reason"] = i18n_archive.continuity_reason(translate, gap["reason"])
    markers: list[dict[str, Any]] = []
    if session is not None and HEARINGS_KEY in request.app:
        hearing = await asyncio.to_thread(request.app[HEARINGS_KEY].get, session, full=True)
        if hearing is not None:
            markers = archive_sessions.player_marks(hearing, translate)
    start_at = int(at) if at is not None and at.isdigit() else None
    actor = _actor(request)
    for detail in details:
        rid = detail["recording"]["id"]
        await asyncio.to_thread(
            archive.catalog.audit, actor, "recording.view", rid, {"page": request.path}
        )
    return render(
        request,
        "archive_recording.html",
        details=details,
        sync=len(details) > 1,
        gap_colour=timeline.gap_colour,
        gap_label=lambda kind: translate(f"gap.{kind}") if kind in timeline.GAP_COLOURS else kind,
        session=session,
        player_config={
            "recordings": [d["recording"]["id"] for d in details],
            "messages": translate.messages("player."),
            "markers": markers,
            "at": start_at,
        },
    )


@require(Permission.ARCHIVE_READ)
@page_errors
async def timeline_page(request: web.Request) -> web.StreamResponse:
    tz = archive_data.local_tz()
    day = _day(request.query.get("day")) or datetime.now(tz).date()
    station = _param(request, "station")
    start = archive_data.day_start(day, tz)
    end = start + timedelta(days=1)
    translate = i18n.Translator(i18n.language(request))
    labels = {"recorded": translate("archive.recorded")}
    labels["station spool"] = translate("archive.recorded_station_spool")
    labels |= {kind: translate(f"gap.{kind}") for kind in timeline.GAP_COLOURS}
    rows = await asyncio.to_thread(
        archive_data.timeline_rows,
        request.app[ARCHIVE_KEY],
        _stations(request),
        start,
        end,
        tz,
        labels,
        station,
        day.isoformat(),
        lambda text: i18n_archive.continuity_reason(translate, text),
    )
    svg = timeline.render_svg(
        rows,
        start,
        end,
        tz,
        title=f"{translate('archive.timeline')} {day.isoformat()}",
        empty_text=translate("archive.no_stations"),
    )
    legend = [(f"gap.{kind}", colour) for kind, colour in timeline.GAP_COLOURS.items()]
    return render(
        request,
        "archive_timeline.html",
        day=day,
        prev_day=(day - timedelta(days=1)).isoformat(),
        next_day=(day + timedelta(days=1)).isoformat(),
        station=station,
        svg=svg,
        legend=legend,
        span_colour=timeline.SPAN_COLOUR,
        rows=rows,
    )


def _build_package(
    request_archive: Any, rid: str, actor: str, workdir: Path
) -> tuple[Path, str] | None:
    """What `vdispatch export` does: logged before it is written (an export the audit
    log cannot record does not happen), the package's audit.jsonl holding every audit row
    about the recording, this one included. Blocking."""
    catalog = request_archive.catalog
    directory = request_archive.directory(rid)
    if catalog.recording(rid) is None or not (directory / mf.MANIFEST).is_file():
        return None
    out = workdir / f"{rid}.zip"
    catalog.audit(actor, "recording.export", rid, {"via": "console"})
    try:
        export_recording(directory, out, audit=catalog.audit_trail(rid))
    except Exception as exc:
        catalog.audit(actor, "recording.export-failed", rid, {"error": str(exc)})
        raise
    return out, f"{rid}.zip"


@require(Permission.RECORDING_EXPORT)
async def export(request: web.Request) -> web.StreamResponse:
    archive = request.app[ARCHIVE_KEY]
    rid = request.match_info["recording_id"]
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="vdispatch-export-"))
    try:
        try:
            built = await asyncio.to_thread(_build_package, archive, rid, _actor(request), workdir)
        except Exception:
            logger.exception("export of %s failed", rid)
            return error_page(request, 500, "error.export_failed")
        if built is None:
            return error_page(request, 404, "error.no_recording", recording=rid)
        path, name = built
        return await send_zip(request, path, name)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/archive", archive_list)
    archive_sessions.add_routes(app)
    app.router.add_get("/archive/timeline", timeline_page)
    app.router.add_get("/archive/sync", sync_page)
    app.router.add_get("/archive/{recording_id}", recording_page)
    app.router.add_get("/archive/{recording_id}/export", export)
