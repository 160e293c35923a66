"""Errors the media gateway raises, each carrying the HTTP status a caller should answer."""

from __future__ import annotations


class MediaError(Exception):
    status = 500

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BadOffer(MediaError):
    """The SDP offer could not be parsed or applied."""

    status = 400


class NoUsableCodec(MediaError):
    """Nothing in the offer can be relayed as is (VP8, H.264, Opus)."""

    status = 400


class StreamBusy(MediaError):
    """The stream id is already published by another live resource."""

    status = 409


class StreamNotFound(MediaError):
    status = 404


class ResourceNotFound(MediaError):
    status = 404


class GatewayClosed(MediaError):
    """The gateway (or the stream's router) closed while the request was being served."""

    status = 503


class UpstreamFailed(MediaError):
    """Relaying from the node that holds the stream failed: unreachable, or it refused,
    or its answer was unusable. The viewer's request gets this status and reason."""

    status = 502

    def __init__(self, reason: str, status: int = 502) -> None:
        super().__init__(reason)
        self.status = status


class UpstreamTimeout(UpstreamFailed):
    """The holding node did not answer, or its media did not connect, in time."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, 504)
