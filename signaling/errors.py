"""Signaling errors: each knows the HTTP status and carries a plain-text reason."""

from __future__ import annotations


class SignalingError(Exception):
    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Unauthorized(SignalingError):
    """Missing, malformed, badly signed or expired credentials."""

    status = 401


class Forbidden(SignalingError):
    """Valid credentials without the grant for this action on this stream."""

    status = 403
