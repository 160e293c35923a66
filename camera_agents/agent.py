"""The camera agent: capture, publish over WHIP, reconnect with back-off and fail-over."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiortc import MediaStreamTrack

from .testsrc import PatternTrack, ToneTrack
from .whip_client import WhipError, WhipPublisher

logger = logging.getLogger(__name__)


@dataclass
class AgentConfig:
    gateways: list[str]  # base URLs in fail-over order, e.g. http://city:8080
    stream_id: str
    token: str
    source: str = "testsrc"
    station_name: str | None = None
    ice_servers: list[str] = field(default_factory=list)
    backoff_initial: float = 0.5
    backoff_max: float = 10.0


def make_tracks(config: AgentConfig) -> list[MediaStreamTrack]:
    if config.source == "testsrc":
        return [PatternTrack(config.station_name or config.stream_id), ToneTrack()]
    raise ValueError(f"source {config.source!r} is not supported yet (available: testsrc)")


class Agent:
    """Keeps one stream published: on any failure, back off and try the next gateway."""

    def __init__(
        self,
        config: AgentConfig,
        track_factory: Callable[[AgentConfig], list[MediaStreamTrack]] = make_tracks,
    ):
        self.config = config
        self._track_factory = track_factory
        self.publisher: WhipPublisher | None = None
        self.connected = asyncio.Event()
        self.sessions = 0
        self._stopping = False

    async def run(self) -> None:
        delay = self.config.backoff_initial
        attempt = 0
        while not self._stopping:
            base = self.config.gateways[attempt % len(self.config.gateways)]
            url = f"{base.rstrip('/')}/whip/{self.config.stream_id}"
            publisher = WhipPublisher(
                url, self.config.token, self._track_factory(self.config), self.config.ice_servers
            )
            self.publisher = publisher
            try:
                await publisher.start()
                self.sessions += 1
                self.connected.set()
                logger.info("publishing %s to %s", self.config.stream_id, base)
                delay = self.config.backoff_initial
                await publisher.wait_ended()
                if not self._stopping:
                    logger.warning("lost %s on %s", self.config.stream_id, base)
            except WhipError as exc:
                if exc.permanent:
                    await publisher.stop()
                    raise
                logger.warning("gateway %s refused %s: %s", base, self.config.stream_id, exc)
            except (OSError, TimeoutError, ConnectionError, aiohttp.ClientError) as exc:
                logger.warning("gateway %s unreachable: %s", base, exc or type(exc).__name__)
            finally:
                self.connected.clear()
                await publisher.stop()
            if self._stopping:
                break
            attempt += 1
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, self.config.backoff_max)

    async def stop(self) -> None:
        self._stopping = True
        if self.publisher is not None:
            await self.publisher.stop()
