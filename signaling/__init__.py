"""Signaling: WHIP/WHEP, tokens and grants, console accounts and sessions, the station
registry, the JSON API and the event socket."""

from .accounts import ROLES, AccountError, Role, User, Users
from .auth import (
    FORBIDDEN_PAGE_KEY,
    auth_middleware,
    csrf_token,
    current_user,
    require_role,
)
from .errors import Forbidden, SignalingError, Unauthorized
from .keys import (
    ARCHIVE_KEY,
    AUTH_SETTINGS_KEY,
    BUS_KEY,
    GATEWAY_KEY,
    LOGIN_LIMITER_KEY,
    NODE_KEY,
    PRESENCE_KEY,
    RECORDER_KEY,
    SESSIONS_KEY,
    STATIONS_KEY,
    TOKENS_KEY,
    USERS_KEY,
)
from .settings import AuthSettings
from .stations import KINDS, Station, StationError, Stations
from .tokens import Grant, TokenIssuer, parse_ttl, valid_stream_id

__all__ = [
    "ARCHIVE_KEY",
    "AUTH_SETTINGS_KEY",
    "BUS_KEY",
    "FORBIDDEN_PAGE_KEY",
    "GATEWAY_KEY",
    "KINDS",
    "LOGIN_LIMITER_KEY",
    "NODE_KEY",
    "PRESENCE_KEY",
    "RECORDER_KEY",
    "ROLES",
    "SESSIONS_KEY",
    "STATIONS_KEY",
    "TOKENS_KEY",
    "USERS_KEY",
    "AccountError",
    "AuthSettings",
    "Forbidden",
    "Grant",
    "Role",
    "SignalingError",
    "Station",
    "StationError",
    "Stations",
    "TokenIssuer",
    "Unauthorized",
    "User",
    "Users",
    "auth_middleware",
    "csrf_token",
    "current_user",
    "parse_ttl",
    "require_role",
    "valid_stream_id",
]
