"""Failed console logins counted by reason, for the node's metrics. In memory, per node;
they only grow (a restart clears them, as it clears the rate limit's tables)."""

from __future__ import annotations

# Every reason the metrics can show, so each has a series from the start (at 0).
REASONS = ("bad_password", "unknown_account", "disabled_account", "throttled")

# Users.authenticate's reasons (written to the audit log) -> the metric's reason.
_BY_WHY = {
    "wrong password": "bad_password",
    "password too long": "bad_password",
    "unknown user": "unknown_account",
    "account disabled": "disabled_account",
}


class LoginFailures:
    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(REASONS, 0)

    def failed(self, why: str) -> None:
        """A password check failed for `why` (Users.authenticate's reason)."""
        self._count(_BY_WHY.get(why, "bad_password"))

    def throttled(self) -> None:
        """An attempt refused by the rate limit without checking the password."""
        self._count("throttled")

    def _count(self, reason: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
