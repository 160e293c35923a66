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
    # Login throttling (signaling/ratelimit.py has the rules): failures allowed per
    # (user name, client address) pair before it waits; failures per address within the
    # window that make it a sprayer; the window.
    login_failures_per_user: int = 5
    login_failures_per_address: int = 20
    login_window: float = 300.0
    # A throttled pair's first wait in seconds, doubling per further failure, capped.
    login_backoff: float = 30.0
    login_backoff_max: float = 900.0
    # Failures for one account within the window (any addresses) that raise the alarm.
    login_attack_failures: int = 20
    # Reverse proxies whose X-Forwarded-For names the client (empty: none trusted).
    trusted_proxies: list[str] = field(default_factory=list)
