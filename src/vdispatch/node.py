"""Assembling one gateway node: the aiohttp app with signaling, media and console."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

import command_console
from cluster import InProcessBus
from media_gateway import MediaGateway
from recorder import Recorder
from recorder.archive import Archive
from recorder.catalog import Catalog
from recorder.signing import NodeKey
from signaling import (
    ARCHIVE_KEY,
    BUS_KEY,
    GATEWAY_KEY,
    NODE_KEY,
    RECORDER_KEY,
    TOKENS_KEY,
    TokenIssuer,
    recordings_api,
    whip,
)
from signaling import api as signaling_api

from .catalog_bridge import CatalogBridge
from .recording_bridge import RecordingBridge
from .settings import Settings

logger = logging.getLogger(__name__)


def build_app(settings: Settings, *, demo: bool = False) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[NODE_KEY] = settings.node()
    app[TOKENS_KEY] = TokenIssuer(settings.token_secret())
    app[BUS_KEY] = InProcessBus()
    whip.add_routes(app)
    signaling_api.add_routes(app)
    recordings_api.add_routes(app)
    command_console.add_routes(app, demo=demo)

    async def catalog(app: web.Application) -> AsyncIterator[None]:
        # Connecting and migrating block: a thread, never the event loop.
        opened = await asyncio.to_thread(Catalog.open, settings.catalog())
        logger.info("catalog: %s", opened.display_url)
        key_path = settings.recorder().key_path
        key = await asyncio.to_thread(NodeKey.load_or_create, key_path)
        app[ARCHIVE_KEY] = Archive(opened, [key.public_pem])
        yield
        await asyncio.to_thread(opened.dispose)

    async def media_gateway(app: web.Application) -> AsyncIterator[None]:
        gateway = MediaGateway(settings.media())
        catalog = app[ARCHIVE_KEY].catalog
        node_id = app[NODE_KEY].node_id
        bridge = CatalogBridge(catalog, app[BUS_KEY], node_id)
        recorder = None
        if settings.record:
            recorder = Recorder(settings.recorder(), node_id, listener=bridge)
            await recorder.recover()
            app[RECORDER_KEY] = recorder
            gateway.add_listener(RecordingBridge(recorder))
        # Manifests the catalog does not know yet (or knew as still open): catalog them.
        added = await asyncio.to_thread(catalog.sync, settings.recorder().recordings_dir)
        if added:
            logger.info("catalog: %d recordings added or brought up to date", len(added))
        app[GATEWAY_KEY] = gateway
        yield
        await gateway.close()  # publishers leave: recordings detach
        if recorder is not None:
            await recorder.close()  # segments closed, manifests signed
        await bridge.close()  # the catalog has every closed segment and recording
        await app[BUS_KEY].close()

    app.cleanup_ctx.append(catalog)
    app.cleanup_ctx.append(media_gateway)
    return app
