"""The audit log page (audit.read: auditors and admins): newest first, filtered by actor, action and
date, paged by row id; with the hash chain's verification (catalog.audit.check, run in
a thread on every view) as a banner, so an edited, removed or inserted row shows.
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from aiohttp import web

from signaling import ARCHIVE_KEY, Permission, require

from . import archive_data, i18n, i18n_archive
from .render import PageError, page_errors, render

assert i18n_archive.MESSAGES
PAGE = 100


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PageError(400, "error.date", value=value[:64]) from None


@require(Permission.AUDIT_READ)
@page_errors
async def audit_page(request: web.Request) -> web.StreamResponse:
    catalog = request.app[ARCHIVE_KEY].catalog
    tz = archive_data.local_tz()
    actor = request.query.get("actor", "").strip()[:256] or None
    action = request.query.get("action", "").strip()[:64] or None
    day_from, day_to = _day(request.query.get("from")), _day(request.query.get("to"))
    start = archive_data.day_start(day_from, tz) if day_from else None
    end = archive_data.day_start(day_to, tz) + timedelta(days=1) if day_to else None
    before_text = request.query.get("before", "")
    before = int(before_text) if before_text.isdigit() else None
    rows, names, check = await asyncio.gather(
        asyncio.to_thread(catalog.newest_audit_rows, actor, action, start, end, before, PAGE),
        asyncio.to_thread(catalog.audit_actions),
        asyncio.to_thread(catalog.check_audit),
    )
    older = None
    if len(rows) == PAGE:
        older = str(request.rel_url.update_query(before=rows[-1]["id"]))
    newest = None
    if before is not None:
        kept = {k: v for k, v in request.query.items() if k != "before"}
        newest = str(request.rel_url.with_query(kept))
    translate = i18n.Translator(i18n.language(request))
    return render(
        request,
        "audit.html",
        action_label=lambda action: i18n_archive.action_label(translate, action),
        rows=rows,
        actions=names,
        check=check,
        query={
            "actor": actor or "",
            "action": action or "",
            "from": day_from.isoformat() if day_from else "",
            "to": day_to.isoformat() if day_to else "",
        },
        older=older,
        newest=newest,
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/audit", audit_page)
