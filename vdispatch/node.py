"""Assembling one gateway node: the aiohttp app with signaling, media and console."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

import command_console
import signaling
from catalog import Archive, Catalog
from cluster import (
    InProcessBus,
    LoadMeter,
    LocalDirectory,
    RedisBus,
    RedisDirectory,
    Signer,
    connect_redis,
)
from media_gateway import MediaGateway
from recorder import NodeKey, Recorder
from signaling import (
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
    NODE_KEY,
    PHRASES_KEY,
    PRESENCE_KEY,
    RECEPTION_KEY,
    RECORDER_KEY,
    RECORDS_KEY,
    STATIONS_KEY,
    TOKENS_KEY,
    USERS_KEY,
    WORKERS_KEY,
    Dispatch,
    EvidenceCopies,
    Hearings,
    LoginFailures,
    LoginLimiter,
    LoginSessions,
    PresenceTracker,
    QuickPhrases,
    Reception,
    Records,
    Stations,
    TokenIssuer,
    Users,
    ViewerWorkers,
    auth_middleware,
    catalog_outage_middleware,
    kiosk_middleware,
    local_load,
)

from . import metrics as node_metrics
from .catalog_bridge import CatalogBridge
from .catalog_health import CATALOG_HEALTH_KEY, CatalogHealth
from .evidence_copy import CopyJob
from .recording_bridge import RecordingBridge
from .sealing import InterruptionWatch, NodeEvidence
from .session_binding import SessionBinding
from .settings import Settings
from .takeover import takeover_finder
from .worker_pool import WorkerPool

logger = logging.getLogger(__name__)

SESSION_PURGE_EVERY = 600.0


def build_app(
    settings: Settings, *, demo: bool = False, metrics_listener: bool = False
) -> web.Application:
    """The node's app. `metrics_listener`: also serve /metrics on `metrics_listen` (what
    `vdispatch serve` does; tests and the demo leave the port alone)."""
    app = web.Application(
        client_max_size=1024 * 1024,
        middlewares=[catalog_outage_middleware, kiosk_middleware, auth_middleware],
    )
    app[NODE_KEY] = settings.node
    app[TOKENS_KEY] = TokenIssuer(settings.token_secret())
    app[LOAD_KEY] = LoadMeter()
    if settings.cluster.redis_url:
        _clustered(app, settings, settings.cluster.redis_url)
    else:
        app[BUS_KEY] = InProcessBus()
        app[DIRECTORY_KEY] = LocalDirectory()
    app[CLUSTER_SETTINGS_KEY] = settings.cluster  # relay mode for streams held elsewhere
    auth = app[AUTH_SETTINGS_KEY] = settings.auth
    app[LOGIN_LIMITER_KEY] = LoginLimiter.from_settings(auth)
    app[LOGIN_FAILURES_KEY] = LoginFailures()
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    metrics = node_metrics.install(app, settings.node_id, settings.recorder.recordings_dir, token)
    if metrics_listener and settings.metrics_address is not None:
        node_metrics.add_listener(app, *settings.metrics_address)
    signaling.add_routes(app)  # event sockets close on_shutdown, before any cleanup below
    command_console.add_routes(app, demo=demo)

    async def catalog(app: web.Application) -> AsyncIterator[None]:
        # Connecting and migrating block: a thread, never the event loop.
        opened = await asyncio.to_thread(Catalog.open, settings.catalog)
        logger.info("catalog: %s", opened.display_url)
        key_path = settings.recorder.key_path
        key = await asyncio.to_thread(NodeKey.load_or_create, key_path)
        app[ARCHIVE_KEY] = Archive(opened, [key.public_pem])
        # Accounts, sessions and stations share the catalog's database (and engine).
        app[USERS_KEY] = Users(opened.engine)
        app[LOGIN_SESSIONS_KEY] = LoginSessions(
            opened.engine, auth.session_idle, auth.session_lifetime
        )
        app[STATIONS_KEY] = Stations(opened.engine)
        app[HEARINGS_KEY] = Hearings(opened.engine)
        app[RECORDS_KEY] = Records(opened.engine)
        app[PHRASES_KEY] = QuickPhrases(opened.engine)
        app[DISPATCH_KEY] = Dispatch(opened.engine)
        app[RECEPTION_KEY] = Reception(opened.engine)
        app[COPIES_KEY] = EvidenceCopies(opened.engine)
        purge = asyncio.ensure_future(_purge_sessions(app[LOGIN_SESSIONS_KEY]))
        yield
        purge.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purge
        await asyncio.to_thread(opened.dispose)

    async def media_gateway(app: web.Application) -> AsyncIterator[None]:
        # Its first construction reads aiortc's source (the compatibility check): a thread.
        gateway = await asyncio.to_thread(MediaGateway, settings.media)
        catalog = app[ARCHIVE_KEY].catalog
        node_id = app[NODE_KEY].node_id
        bridge = CatalogBridge(catalog, app[BUS_KEY], node_id)
        recorder = None
        binding = None
        interruptions = None
        copies = None
        recording_bridge = None
        if settings.recorder.enabled:
            # The recorder reads (or makes) the node's key file: a thread.
            recorder = await asyncio.to_thread(
                Recorder, settings.recorder, node_id, listener=bridge
            )
            await recorder.recover()
            recorder.stats.on_segment_latency = metrics.segment_latency.observe
            app[RECORDER_KEY] = recorder
            # Recordings made while a session is live are bound to it (manifest `session`).
            binding = SessionBinding(app[HEARINGS_KEY], app[BUS_KEY])
            recording_bridge = RecordingBridge(
                recorder, binding.session_for, takeover_finder(catalog, node_id)
            )
            binding.on_change = recording_bridge.rebind
            await binding.start()  # before the first publication: bound from the start
            gateway.add_listener(recording_bridge)
            # Interrogations: recorded before they go live, interruptions told, sealed.
            app[EVIDENCE_KEY] = NodeEvidence(app[HEARINGS_KEY], recorder, gateway, catalog, node_id)
            interruptions = InterruptionWatch(
                app[HEARINGS_KEY], app[BUS_KEY], node_id, binding.session_for
            )
            interruptions.start()
            gateway.add_listener(interruptions)
            if settings.recorder.evidence_copies:
                # Sealed interrogations get a derived MP4, rendered one at a time.
                copies = CopyJob(
                    app[COPIES_KEY],
                    app[HEARINGS_KEY],
                    app[BUS_KEY],
                    node_id,
                    recorder.key,
                    settings.recorder.recordings_dir,
                    settings.recorder.copies_dir,
                    command_console.reason_zh,
                    busy_nodes=lambda: _other_nodes(app),
                )
                await copies.start()
                app[COPY_QUEUE_KEY] = copies
        directory = app[DIRECTORY_KEY]
        claims = directory if isinstance(directory, RedisDirectory) else None
        presence = PresenceTracker(app[STATIONS_KEY], app[BUS_KEY], node_id, claims=claims)
        gateway.add_listener(presence)
        app[PRESENCE_KEY] = presence
        # Manifests the catalog does not know yet (or knew as still open): catalog them.
        added = await asyncio.to_thread(catalog.sync, settings.recorder.recordings_dir)
        if added:
            logger.info("catalog: %d recordings added or brought up to date", len(added))
        app[GATEWAY_KEY] = gateway
        presence.start()
        health = CatalogHealth(
            catalog,
            app[BUS_KEY],
            node_id,
            settings.recorder.recordings_dir,
            on_back=[presence.refresh],
        )
        if interruptions is not None:
            health.on_back.append(interruptions.catalog_back)
        health.start()  # a database outage: alarm, then re-index from the manifests
        app[CATALOG_HEALTH_KEY] = health
        yield
        await health.close()
        if binding is not None:
            await binding.close()  # no cut-overs while the node stops
        if interruptions is not None:
            await interruptions.close()
        if copies is not None:
            await copies.close()  # a render under way is cancelled and queued again
        await gateway.close()  # publishers leave: recordings detach, streams go down
        if recording_bridge is not None:
            await recording_bridge.close()  # look-ups of lost nodes' recordings done
        if recorder is not None:
            await recorder.close()  # segments closed, manifests signed
        await bridge.close()  # the catalog has every closed segment and recording
        await presence.close()  # stations marked offline, stream.down told
        await app[BUS_KEY].close()

    async def load(app: web.Application) -> AsyncIterator[None]:
        app[LOAD_KEY].start()
        yield
        await app[LOAD_KEY].close()

    app.cleanup_ctx.append(load)
    app.cleanup_ctx.append(catalog)
    app.cleanup_ctx.append(media_gateway)
    if settings.media.worker_count() > 1:
        _viewer_workers(app, settings)
    return app


def _viewer_workers(app: web.Application, settings: Settings) -> None:
    """media.workers > 1: viewer worker processes beside this one (signaling/workers.py
    routes viewers to them, worker_pool.py supervises them). Started after the gateway,
    stopped before it: their upstreams come from it."""
    count = settings.media.worker_count()

    async def viewer_workers(app: web.Application) -> AsyncIterator[None]:
        pool = WorkerPool(count, settings.media, _loopback_url(settings), settings.node_id)
        timeout = 2 * settings.media.relay_timeout + 10
        viewers = ViewerWorkers(pool.secret, app[GATEWAY_KEY], timeout)
        viewers.start()
        pool.start(viewers)
        app[WORKERS_KEY] = viewers
        logger.info("media: this process and %d viewer worker processes", count - 1)
        yield
        await pool.close()
        await viewers.close()

    app.cleanup_ctx.append(viewer_workers)


def _loopback_url(settings: Settings) -> str:
    """This node's HTTP front as its own workers reach it."""
    host = settings.host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _clustered(app: web.Application, settings: Settings, redis_url: str) -> None:
    """The bus and the directory on Redis (one client, one connection pool per node),
    both signed with a key derived from the cluster's shared SECRET."""
    node = settings.node
    redis = connect_redis(redis_url)
    signer = Signer(settings.token_secret(), node.node_id)
    bus = RedisBus(redis, signer, node.node_id, settings.cluster.key_prefix)
    directory = RedisDirectory(redis, signer, node, settings.cluster, load=lambda: local_load(app))
    app[BUS_KEY] = bus
    app[DIRECTORY_KEY] = directory

    async def cluster(app: web.Application) -> AsyncIterator[None]:
        # Before the catalog and the gateway: session binding subscribes at their start,
        # and a node restarted after kill -9 first drops the entries it no longer holds.
        await bus.start()
        bus.on_reconnect(directory.reconcile)
        await directory.start()
        logger.info(
            "cluster: node %s on %s (prefix %s)%s",
            node.node_id,
            redis_url,
            settings.cluster.key_prefix,
            "" if bus.healthy else ", Redis not reachable yet",
        )
        yield
        await directory.close()  # its entries go now, not after their TTL
        await bus.close()  # idempotent: closed already with the gateway
        await redis.aclose()

    app.cleanup_ctx.append(cluster)


async def _other_nodes(app: web.Application) -> set[str]:
    """The cluster's other live nodes (none for a node alone)."""
    me = app[NODE_KEY].node_id
    return {n.node_id for n in await app[DIRECTORY_KEY].nodes() if n.node_id != me}


async def _purge_sessions(sessions: LoginSessions) -> None:
    while True:
        try:
            purged = await asyncio.to_thread(sessions.purge_expired)
            if purged:
                logger.info("sessions: %d expired sessions forgotten", purged)
        except Exception:
            logger.exception("sessions: purge failed (will retry)")
        await asyncio.sleep(SESSION_PURGE_EVERY)
