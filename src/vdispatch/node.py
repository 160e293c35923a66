"""Assembling one gateway node: the aiohttp app with signaling, media and console."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

import command_console
from cluster import InProcessBus
from media_gateway import MediaGateway
from recorder import Recorder
from signaling import BUS_KEY, GATEWAY_KEY, NODE_KEY, RECORDER_KEY, TOKENS_KEY, TokenIssuer, whip
from signaling import api as signaling_api

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
    command_console.add_routes(app, demo=demo)

    async def media_gateway(app: web.Application) -> AsyncIterator[None]:
        gateway = MediaGateway(settings.media())
        recorder = None
        if settings.record:
            recorder = Recorder(settings.recorder(), app[NODE_KEY].node_id)
            await recorder.recover()
            app[RECORDER_KEY] = recorder
            gateway.add_listener(RecordingBridge(recorder))
        app[GATEWAY_KEY] = gateway
        yield
        await gateway.close()  # publishers leave: recordings detach
        if recorder is not None:
            await recorder.close()  # segments closed, manifests signed
        await app[BUS_KEY].close()

    app.cleanup_ctx.append(media_gateway)
    return app
