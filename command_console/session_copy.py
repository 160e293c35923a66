"""The evidence-copy panel of a sealed interrogation's archive page
(templates/_session_copy.html, static/session_copy.js): what the page starts with. The
copy's state, files and who may render it again are signaling's (copy_api.py); the
script follows `session.copy` events and the API."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from signaling import COPIES_KEY, Hearing, Permission, allows, current_user

from . import i18n, i18n_copy


async def panel(
    request: web.Request, hearing: Hearing, translate: i18n.Translator
) -> dict[str, Any] | None:
    """The panel's context, or None for a session that never has a copy."""
    if hearing.kind != "interrogation":
        return None
    user = current_user(request)
    copies = request.app.get(COPIES_KEY)
    copy = await asyncio.to_thread(copies.get, hearing.id) if copies is not None else None
    return {
        "session": hearing.id,
        "sealed": hearing.state == "sealed",
        "can_render": user is not None and allows(user.role, Permission.COPY_RENDER),
        "current": copy.as_json() if copy is not None else None,
        "lang": translate.lang,
        "messages": i18n_copy.script_messages(translate),
    }
