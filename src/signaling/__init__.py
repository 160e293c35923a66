"""Signaling: WHIP/WHEP, tokens and grants, the JSON API."""

from .errors import Forbidden, SignalingError, Unauthorized
from .keys import ARCHIVE_KEY, BUS_KEY, GATEWAY_KEY, NODE_KEY, RECORDER_KEY, TOKENS_KEY
from .tokens import Grant, TokenIssuer, parse_ttl, valid_stream_id

__all__ = [
    "ARCHIVE_KEY",
    "BUS_KEY",
    "GATEWAY_KEY",
    "NODE_KEY",
    "RECORDER_KEY",
    "TOKENS_KEY",
    "Forbidden",
    "Grant",
    "SignalingError",
    "TokenIssuer",
    "Unauthorized",
    "parse_ttl",
    "valid_stream_id",
]
