"""Typed application state keys shared by signaling's handlers."""

from __future__ import annotations

from aiohttp import web

from cluster import EventBus, Node
from media_gateway import MediaGateway
from recorder import Recorder
from recorder.archive import Archive

from .tokens import TokenIssuer

GATEWAY_KEY = web.AppKey("media_gateway", MediaGateway)
TOKENS_KEY = web.AppKey("token_issuer", TokenIssuer)
NODE_KEY = web.AppKey("node", Node)
BUS_KEY = web.AppKey("bus", EventBus)
RECORDER_KEY = web.AppKey("recorder", Recorder)
ARCHIVE_KEY = web.AppKey("archive", Archive)
