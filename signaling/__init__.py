"""Signaling: WHIP/WHEP, tokens and grants, console accounts and sessions, who may do
what (policy.py), the station registry, the JSON API and the event socket."""

from aiohttp import web

from . import (
    api,
    copy_api,
    dispatch_api,
    displays_ws,
    events_ws,
    hearings_api,
    hearings_media,
    ingest_api,
    kiosk_guard,
    metrics_api,
    nodes_api,
    phrases_api,
    reception_api,
    record_api,
    recordings_api,
    relay,
    stations_api,
    whip,
)
from .accounts import MIN_PASSWORD, AccountError, User, Users
from .auth import (
    CSRF_FIELD,
    FORBIDDEN_PAGE_KEY,
    auth_middleware,
    clear_session_cookie,
    csrf_exempt,
    csrf_token,
    current_user,
    is_secure,
    require,
    require_login,
    safe_next,
    set_session_cookie,
)
from .catalog_outage import (
    catalog_outage_middleware,
    catalog_unavailable,
    is_outage,
    outage_reason,
)
from .dispatch import GRIDS as DISPATCH_GRIDS
from .dispatch import SCREEN_KINDS, Dispatch, DispatchError, Screen
from .errors import REFUSALS, Forbidden, Refused, RoleForbidden, SignalingError, Unauthorized
from .evidence_copies import COPY_FORMAT, COPY_STATES, CopyQueue, EvidenceCopies, EvidenceCopy
from .evidence_copies import copy_audience as session_copy_audience
from .exposition import MetricsExposition
from .hearing import INVITED_PARTS as SESSION_PARTS
from .hearing import KINDS as SESSION_KINDS
from .hearing import STATES as SESSION_STATES
from .hearing import Hearing, HearingError, SessionEvidence
from .hearing import city_streams as session_city_streams
from .hearing import gate_streams as session_gate_streams
from .hearings import Hearings
from .hearings_api import may_see as may_see_session
from .hearings_api import session_audience
from .keys import (
    ARCHIVE_KEY,
    AUTH_SETTINGS_KEY,
    BUS_KEY,
    CLUSTER_SETTINGS_KEY,
    COPIES_KEY,
    COPY_QUEUE_KEY,
    DIRECTORY_KEY,
    DISPATCH_KEY,
    EVIDENCE_KEY,
    GATEWAY_KEY,
    HEARINGS_KEY,
    LOAD_KEY,
    LOGIN_FAILURES_KEY,
    LOGIN_LIMITER_KEY,
    LOGIN_SESSIONS_KEY,
    METRICS_KEY,
    NODE_KEY,
    PHRASES_KEY,
    PRESENCE_KEY,
    RECEPTION_KEY,
    RECORDER_KEY,
    RECORDS_KEY,
    STATIONS_KEY,
    TOKENS_KEY,
    USERS_KEY,
)
from .kiosk_guard import KioskRevoked, kiosk_middleware, kiosk_route
from .login import log_in, log_out
from .login_failures import LoginFailures
from .login_sessions import LoginSessions
from .metrics_api import serve_metrics
from .nodes_api import cluster_alarm, cluster_nodes, local_load
from .phrases import QuickPhrases
from .policy import (
    ROLES,
    TOKEN_ROLES,
    Permission,
    Role,
    SessionAction,
    TokenRole,
    allows,
    part_allows,
    per_stream,
    roles_with,
)
from .presence import PresenceTracker
from .ratelimit import LoginLimiter
from .reception import Reception, ReceptionError, Ticket
from .reception_api import kiosk_grant
from .records import MAX_RECORD, Records
from .relay import RELAY_NODE_HEADER
from .routing import Receiver, screen_receiver, station_receiver
from .settings import AuthSettings
from .stations import KINDS, Station, StationError, Stations
from .tokens import Grant, TokenIssuer, parse_ttl, valid_stream_id
from .workers import (
    RESOURCE_HEADER,
    SECRET_HEADER,
    UPSTREAM_TOKEN_HEADER,
    WORKERS_KEY,
    ViewerWorkers,
)

__all__ = [
    "ARCHIVE_KEY",
    "AUTH_SETTINGS_KEY",
    "BUS_KEY",
    "CLUSTER_SETTINGS_KEY",
    "COPIES_KEY",
    "COPY_FORMAT",
    "COPY_QUEUE_KEY",
    "COPY_STATES",
    "CSRF_FIELD",
    "DIRECTORY_KEY",
    "DISPATCH_GRIDS",
    "DISPATCH_KEY",
    "EVIDENCE_KEY",
    "FORBIDDEN_PAGE_KEY",
    "GATEWAY_KEY",
    "HEARINGS_KEY",
    "KINDS",
    "LOAD_KEY",
    "LOGIN_FAILURES_KEY",
    "LOGIN_LIMITER_KEY",
    "LOGIN_SESSIONS_KEY",
    "MAX_RECORD",
    "METRICS_KEY",
    "MIN_PASSWORD",
    "NODE_KEY",
    "PHRASES_KEY",
    "PRESENCE_KEY",
    "RECEPTION_KEY",
    "RECORDER_KEY",
    "RECORDS_KEY",
    "REFUSALS",
    "RELAY_NODE_HEADER",
    "RESOURCE_HEADER",
    "ROLES",
    "SCREEN_KINDS",
    "SECRET_HEADER",
    "SESSION_KINDS",
    "SESSION_PARTS",
    "SESSION_STATES",
    "STATIONS_KEY",
    "TOKENS_KEY",
    "TOKEN_ROLES",
    "UPSTREAM_TOKEN_HEADER",
    "USERS_KEY",
    "WORKERS_KEY",
    "AccountError",
    "AuthSettings",
    "CopyQueue",
    "Dispatch",
    "DispatchError",
    "EvidenceCopies",
    "EvidenceCopy",
    "Forbidden",
    "Grant",
    "Hearing",
    "HearingError",
    "Hearings",
    "KioskRevoked",
    "LoginFailures",
    "LoginLimiter",
    "LoginSessions",
    "MetricsExposition",
    "Permission",
    "PresenceTracker",
    "QuickPhrases",
    "Receiver",
    "Reception",
    "ReceptionError",
    "Records",
    "Refused",
    "Role",
    "RoleForbidden",
    "Screen",
    "SessionAction",
    "SessionEvidence",
    "SignalingError",
    "Station",
    "StationError",
    "Stations",
    "Ticket",
    "TokenIssuer",
    "TokenRole",
    "Unauthorized",
    "User",
    "Users",
    "ViewerWorkers",
    "add_routes",
    "allows",
    "auth_middleware",
    "catalog_outage_middleware",
    "catalog_unavailable",
    "clear_session_cookie",
    "cluster_alarm",
    "cluster_nodes",
    "csrf_exempt",
    "csrf_token",
    "current_user",
    "is_outage",
    "is_secure",
    "kiosk_grant",
    "kiosk_middleware",
    "kiosk_route",
    "local_load",
    "log_in",
    "log_out",
    "may_see_session",
    "outage_reason",
    "parse_ttl",
    "part_allows",
    "per_stream",
    "require",
    "require_login",
    "roles_with",
    "safe_next",
    "screen_receiver",
    "serve_metrics",
    "session_audience",
    "session_city_streams",
    "session_copy_audience",
    "session_gate_streams",
    "set_session_cookie",
    "station_receiver",
    "valid_stream_id",
]


def add_routes(app: web.Application) -> None:
    """WHIP/WHEP, the JSON API and the event socket (whose sockets close on_shutdown,
    before the node's cleanup)."""
    whip.add_routes(app)
    relay.setup(app)
    api.add_routes(app)
    metrics_api.add_routes(app)
    nodes_api.add_routes(app)
    recordings_api.add_routes(app)
    stations_api.add_routes(app)
    hearings_api.add_routes(app)
    hearings_media.add_routes(app)
    record_api.add_routes(app)
    copy_api.add_routes(app)
    phrases_api.add_routes(app)
    reception_api.add_routes(app)
    dispatch_api.add_routes(app)
    events_ws.add_routes(app)
    kiosk_guard.setup(app)
    displays_ws.add_routes(app)  # after events_ws: shares its socket registry
    ingest_api.setup(app)
