"""Signaling's own settings section (console logins); composed by vdispatch.settings."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field


class AuthSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # A console login ends after this many minutes without a request (an open page counts) ...
    session_idle_minutes: float = Field(default=120.0, gt=0)
    # ... and at the latest this many hours after logging in.
    session_max_hours: float = Field(default=12.0, gt=0)
    # Login throttling (signaling/ratelimit.py has the rules): failures allowed per
    # (user name, client address) pair before it waits; failures per address within the
    # window that make it a sprayer; the window (seconds).
    login_failures_per_user: int = Field(default=5, ge=1)
    login_failures_per_address: int = Field(default=20, ge=1)
    login_window: float = Field(default=300.0, gt=0)
    # A throttled pair's first wait in seconds, doubling per further failure, capped.
    login_backoff: float = Field(default=30.0, gt=0)
    login_backoff_max: float = Field(default=900.0, gt=0)
    # Failures for one account within the window (any addresses) that raise the alarm.
    login_attack_failures: int = Field(default=20, ge=1)
    # Reverse proxies whose X-Forwarded-For names the client (empty: none trusted).
    trusted_proxies: list[str] = Field(default_factory=list)

    @property
    def session_idle(self) -> timedelta:
        return timedelta(minutes=self.session_idle_minutes)

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.session_max_hours)
