"""Signaling's own settings section (console logins); composed by vdispatch.settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class AuthSettings:
    # A console session ends after this long without a request, and at the latest
    # `session_lifetime` after login.
    session_idle: timedelta = timedelta(hours=2)
    session_lifetime: timedelta = timedelta(hours=12)
    # Failed logins allowed per user name and per client address within the window.
    login_failures_per_user: int = 5
    login_failures_per_address: int = 20
    login_window: float = 300.0
    # Reverse proxies whose X-Forwarded-For names the client (empty: none trusted).
    trusted_proxies: list[str] = field(default_factory=list)
