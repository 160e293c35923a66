"""Typed application state keys shared by signaling's handlers."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from catalog import Archive
from cluster import ClusterSettings, Directory, EventBus, LoadMeter, Node
from media_gateway import MediaGateway
from recorder import Recorder

from .accounts import Users
from .dispatch import Dispatch
from .evidence_copies import CopyQueue, EvidenceCopies
from .exposition import MetricsExposition
from .hearing import SessionEvidence
from .hearings import Hearings
from .ingest import IngestStore
from .login_failures import LoginFailures
from .login_sessions import LoginSessions
from .phrases import QuickPhrases
from .presence import PresenceTracker
from .ratelimit import LoginLimiter
from .reception import Reception
from .records import Records
from .settings import AuthSettings
from .stations import Stations
from .tokens import TokenIssuer

GATEWAY_KEY = web.AppKey("media_gateway", MediaGateway)
TOKENS_KEY = web.AppKey("token_issuer", TokenIssuer)
NODE_KEY = web.AppKey("node", Node)
BUS_KEY = web.AppKey("bus", EventBus)
# Which node holds which stream (LocalDirectory on a node alone).
DIRECTORY_KEY = web.AppKey("directory", Directory)
# The cluster section (relay mode: cascade or redirect); unset: cascade.
CLUSTER_SETTINGS_KEY = web.AppKey("cluster_settings", ClusterSettings)
# The HTTP client for node-to-node requests (relay.py sets it up and closes it).
RELAY_HTTP_KEY = web.AppKey("relay_http", aiohttp.ClientSession)
LOAD_KEY = web.AppKey("load", LoadMeter)  # this node's CPU and event loop lag
RECORDER_KEY = web.AppKey("recorder", Recorder)
ARCHIVE_KEY = web.AppKey("archive", Archive)
# Console logins (set when the catalog is open).
AUTH_SETTINGS_KEY = web.AppKey("auth_settings", AuthSettings)
USERS_KEY = web.AppKey("users", Users)
LOGIN_SESSIONS_KEY = web.AppKey("login_sessions", LoginSessions)
STATIONS_KEY = web.AppKey("stations", Stations)
HEARINGS_KEY = web.AppKey("hearings", Hearings)
RECORDS_KEY = web.AppKey("records", Records)  # sessions' interrogation records
PHRASES_KEY = web.AppKey("quick_phrases", QuickPhrases)
DISPATCH_KEY = web.AppKey("dispatch", Dispatch)
LOGIN_LIMITER_KEY = web.AppKey("login_limiter", LoginLimiter)
LOGIN_FAILURES_KEY = web.AppKey("login_failures", LoginFailures)
# The node's Prometheus exposition (made by the composition root; /metrics serves it).
METRICS_KEY = web.AppKey("metrics", MetricsExposition)
PRESENCE_KEY = web.AppKey("presence", PresenceTracker)
RECEPTION_KEY = web.AppKey("reception", Reception)
# The recorder's word on sessions (the composition root sets it when recording is on).
EVIDENCE_KEY = web.AppKey("session_evidence", SessionEvidence)
# Stations' back-fill (set once the catalog is open).
INGEST_KEY = web.AppKey("ingest", IngestStore)
# Sealed interrogations' evidence copies: the store, and the node's copy job (set by the
# composition root when copies are rendered here).
COPIES_KEY = web.AppKey("evidence_copies", EvidenceCopies)
COPY_QUEUE_KEY = web.AppKey("copy_queue", CopyQueue)
