"""What /metrics serves, as the composition root hands it to signaling."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class MetricsExposition:
    """`render` makes the text (at each scrape), `content_type` says its format; `token`
    is the Bearer token a scraper may use on the public port (None: none may, only
    admins' console sessions)."""

    render: Callable[[], Awaitable[bytes]]
    content_type: str
    token: str | None = None
