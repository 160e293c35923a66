"""The archive's hearing sessions (auditors): /archive/sessions lists them, and
/archive/sessions/{id} shows one whole: its header (kind, case number, station,
participants, times, state, evaluation), its recordings grouped by stream with their
verification badge, and one timeline of the recordings, the state changes, the
directions (sent, read) and the observers' comments (at the session's start plus their
media time); "play in sync" opens the sync player on the session's recordings with the
same marks on its seek bar.

Which recordings belong to a session is the manifests' `session` field (the catalog's
column), bound while the session is live (vdispatch/session_binding.py). Blocking reads
(store, catalog, verification) run in a thread; opening the page is an audit row.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from catalog import Archive, coverage, parse_iso
from signaling import (
    ARCHIVE_KEY,
    HEARINGS_KEY,
    SESSION_KINDS,
    SESSION_STATES,
    STATIONS_KEY,
    Hearing,
    Hearings,
    Permission,
    Stations,
    current_user,
    require,
)

from . import (
    archive_data,
    archive_seal,
    i18n,
    i18n_archive,
    i18n_sessions,
    session_copy,
    session_timeline,
)
from .render import page_errors, render

assert i18n_sessions.MESSAGES and i18n_archive.MESSAGES  # merged at import
MAX_SESSIONS = 200
MAX_SYNC = 6
PAD = 0.04  # of the session's span, either side of the timeline


def comment_time(hearing: Hearing, media_time: float) -> datetime | None:
    """Where an observer's comment sits: the session's start plus its media time."""
    return hearing.started_at + timedelta(seconds=media_time) if hearing.started_at else None


def marks(hearing: Hearing, translate: i18n.Translator) -> list[session_timeline.Mark]:
    """State changes, directions (sent and read) and comments, in wall-clock time."""
    out = []
    for key, at in (
        ("state.live", hearing.started_at),
        ("state.ended", hearing.ended_at),
    ):
        if at is not None:
            out.append(session_timeline.Mark(at, "state", translate(key)))
    for d in hearing.directions:
        out.append(
            session_timeline.Mark(
                d.sent_at, "direction", f"{translate('archive.direction')} {d.sent_by}: {d.text}"
            )
        )
        if d.read_at is not None:
            out.append(
                session_timeline.Mark(
                    d.read_at, "read", f"{translate('archive.direction_read')} {d.read_by}"
                )
            )
    for c in hearing.comments:
        at = comment_time(hearing, c.media_time)
        if at is not None:
            out.append(session_timeline.Mark(at, "comment", f"{c.author}: {c.text}"))
    for i in hearing.interruptions:
        what = f"{i['stream']}: {i18n_archive.continuity_reason(translate, i['reason'])}"
        out.append(
            session_timeline.Mark(
                parse_iso(i["started_at"]),
                "interruption",
                f"{translate('archive.interruption')} {what}",
            )
        )
        if i["ended_at"] is not None:
            out.append(
                session_timeline.Mark(
                    parse_iso(i["ended_at"]),
                    "resumed",
                    f"{translate('archive.interruption_ended')} {i['stream']}",
                )
            )
    return out


def player_marks(hearing: Hearing, translate: i18n.Translator) -> list[dict[str, Any]]:
    """The marks for the sync player's seek bar (JSON: Unix ms, kind, text)."""
    return [
        {"at": session_timeline.ms(m.at), "kind": m.kind, "text": _mark_text(hearing, m)}
        for m in sorted(marks(hearing, translate), key=lambda m: m.at)
    ]


def _mark_text(hearing: Hearing, mark: session_timeline.Mark) -> str:
    if mark.kind == "comment":  # the player shows the author next to it
        return mark.tip.split(": ", 1)[1]
    return mark.tip


def session_detail(
    archive: Archive,
    stations: Stations | None,
    hearings: Hearings,
    session_id: str,
    tz: tzinfo,
    translate: i18n.Translator,
) -> dict[str, Any] | None:
    """Everything the session page shows. Blocking."""
    hearing = hearings.get(session_id, full=True)
    if hearing is None:
        return None
    station = stations.get(hearing.station) if stations is not None else None
    bound = archive.catalog.recordings(None, session_id, None, None, 1000)
    rows = [archive_data.row(archive, rec, station) for rec in reversed(bound)]  # oldest first
    order = {s: n for n, s in enumerate(hearing.streams)}
    streams = sorted(
        {r["stream"] for r in rows} | set(hearing.streams),
        key=lambda s: (order.get(s, len(order)), s),
    )
    by_stream = [(s, [r for r in rows if r["stream"] == s]) for s in streams]
    start, end = _span(hearing, rows)
    pad = max((end - start) * PAD, timedelta(seconds=2))
    start, end = start - pad, end + pad
    covered = coverage(archive.catalog, start, end, streams)
    ids = {r["id"] for r in rows}
    recorded = translate("archive.recorded")
    timeline_rows = []
    for stream in streams:
        row = session_timeline.StreamRow(stream, stream)
        for span in covered[stream].spans if stream in covered else []:
            when = f"{span.start.astimezone(tz):%H:%M:%S} - {span.end.astimezone(tz):%H:%M:%S}"
            tip = f"{recorded} {when} · {span.recording_id}"
            row.spans.append(
                session_timeline.Span(
                    span.start,
                    span.end,
                    span.recording_id in ids,
                    tip,
                    f"/archive/{span.recording_id}",
                )
            )
        timeline_rows.append(row)
    sync_ids = [r["id"] for r in rows][:MAX_SYNC]
    sync_url = None
    if sync_ids:
        sync_url = "/archive/sync?" + urlencode(
            [("id", i) for i in sync_ids] + [("session", session_id)]
        )
    the_marks = marks(hearing, translate)
    svg = session_timeline.render_svg(
        timeline_rows,
        the_marks,
        start,
        end,
        tz,
        title=f"{translate('archive.session')} {hearing.id}",
        marks_label=translate("archive.events"),
    )
    return {
        "hearing": hearing,
        "station": station,
        "by_stream": by_stream,
        "recordings": rows,
        "svg": svg,
        "sync_url": sync_url,
        "events": _events(hearing, the_marks, sync_url),
    }


def _span(hearing: Hearing, rows: list[dict[str, Any]]) -> tuple[datetime, datetime]:
    starts = [r["started"] for r in rows if r["started"]]
    ends = [r["ended"] for r in rows if r["ended"]]
    start = min([hearing.started_at or hearing.created_at, *starts])
    end = max(
        [hearing.ended_at or datetime.now(start.tzinfo), *ends, start + timedelta(seconds=10)]
    )
    return start, end


def _events(
    hearing: Hearing, the_marks: list[session_timeline.Mark], sync_url: str | None
) -> list[dict[str, Any]]:
    """The marks as table rows, oldest first, each with its media time in the session
    and, where there are recordings, a link that plays them from there."""
    out = []
    for mark in sorted(the_marks, key=lambda m: m.at):
        offset = (mark.at - hearing.started_at).total_seconds() if hearing.started_at else None
        href = f"{sync_url}&at={session_timeline.ms(mark.at)}" if sync_url else None
        out.append({"mark": mark, "offset": offset, "href": href})
    return out


# ------------------------------------------------------------------ handlers


@require(Permission.ARCHIVE_READ)
@page_errors
async def sessions_list(request: web.Request) -> web.StreamResponse:
    query = request.query
    kind = query.get("kind") if query.get("kind") in SESSION_KINDS else None
    state = query.get("state") if query.get("state") in SESSION_STATES else None
    found = await asyncio.to_thread(
        request.app[HEARINGS_KEY].list, kind=kind, state=state, limit=MAX_SESSIONS
    )
    return render(
        request,
        "archive_sessions.html",
        sessions=found,
        kinds=SESSION_KINDS,
        states=SESSION_STATES,
        filters={"kind": kind or "", "state": state or ""},
        max_rows=MAX_SESSIONS,
    )


@require(Permission.ARCHIVE_READ)
@page_errors
async def session_page(request: web.Request) -> web.StreamResponse:
    session_id = request.match_info["session_id"]
    translate = i18n.Translator(i18n.language(request))
    archive = request.app[ARCHIVE_KEY]
    detail = await asyncio.to_thread(
        session_detail,
        archive,
        request.app.get(STATIONS_KEY),
        request.app[HEARINGS_KEY],
        session_id,
        archive_data.local_tz(),
        translate,
    )
    if detail is None:
        return render(request, "archive_missing.html", status=404, recording_id=session_id)
    for row in detail["recordings"]:
        row["verification"] = i18n_archive.verification(translate, row["verification"])
    user = current_user(request)
    assert user is not None
    await asyncio.to_thread(
        archive.catalog.audit, user.actor, "session.view", f"session:{session_id}", {}
    )
    hearings = request.app[HEARINGS_KEY]
    seal = await asyncio.to_thread(archive_seal.context, hearings, session_id, translate)
    copy_panel = await session_copy.panel(request, detail["hearing"], translate)
    return render(request, "archive_session.html", copy_panel=copy_panel, **seal, **detail)


def add_routes(app: web.Application) -> None:
    """Before the archive's /archive/{recording_id}."""
    app.router.add_get("/archive/sessions", sessions_list)
    app.router.add_get("/archive/sessions/{session_id}", session_page)
    archive_seal.add_routes(app)
