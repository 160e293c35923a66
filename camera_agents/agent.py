"""The camera agent: capture, publish over WHIP, reconnect with back-off and fail-over.

With a source (a camera that can go away: RTSP, a file, a USB camera), the agent publishes
only while the source is live, and ends the publication when the camera is lost: the
gateway's recording then logs the gap (a publisher disconnect) instead of a silent hole,
and the agent publishes again as soon as the camera is back."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiortc import MediaStreamTrack

from .source import CameraSource
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
    # coturn's static-auth-secret: TURN REST credentials for the TURN URLs (camera_agents/ice.py).
    turn_secret: str | None = None
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    # A refusal retrying cannot help (401/403, …) ends run() — or, for one camera of a
    # station (whose other cameras go on), is retried every `backoff_max` seconds.
    give_up_when_refused: bool = True
    camera: str | None = None  # the station's camera id, for the logs
    # No RTCP from the gateway for this long (seconds): it is gone, fail over at once
    # (needs the RTCP tap installed, see whip_client.use_rtcp_tap).
    liveness_timeout: float = 2.5


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
        source: CameraSource | None = None,
    ):
        self.config = config
        self._track_factory = track_factory
        self.source = source
        self.publisher: WhipPublisher | None = None
        self.connected = asyncio.Event()
        self.sessions = 0
        self.gateway: str | None = None  # where it publishes now
        self.last_error: str | None = None
        self.refused = False
        self._stopping = False

    async def _until_ended(self, publisher: WhipPublisher) -> bool:
        """Wait for the publication to end; True when it ended because the camera went."""
        if self.source is None:
            await publisher.wait_ended()
            return False
        ended = asyncio.ensure_future(publisher.wait_ended())
        lost = asyncio.ensure_future(self.source.down.wait())
        try:
            await asyncio.wait([ended, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            lost.cancel()
        return self.source.down.is_set()

    async def run(self) -> None:
        delay = self.config.backoff_initial
        attempt = 0
        what = f"camera={self.config.camera} " if self.config.camera else ""
        while not self._stopping:
            if self.source is not None and not self.source.live.is_set():
                await self.source.live.wait()  # publish only what a live camera sends
            base = self.config.gateways[attempt % len(self.config.gateways)]
            url = f"{base.rstrip('/')}/whip/{self.config.stream_id}"
            publisher = WhipPublisher(
                url,
                self.config.token,
                self._track_factory(self.config),
                self.config.ice_servers,
                self.config.turn_secret,
                liveness_timeout=self.config.liveness_timeout,
            )
            self.publisher = publisher
            gateway_lost = False
            try:
                await publisher.start()
                self.sessions += 1
                self.connected.set()
                self.gateway, self.last_error, self.refused = base, None, False
                logger.info("%sstream=%s publishing to %s", what, self.config.stream_id, base)
                delay = self.config.backoff_initial
                camera_lost = await self._until_ended(publisher)
                if camera_lost and not self._stopping:
                    logger.warning(
                        "%sstream=%s camera lost: publication ended", what, self.config.stream_id
                    )
                    continue  # (finally: DELETE) then wait for the camera, no back-off
                if not self._stopping:
                    gateway_lost = True
                    silent = " (no RTCP from it)" if publisher.silent else ""
                    self.last_error = f"lost the gateway {base}{silent}"
                    logger.warning("%sstream=%s lost on %s", what, self.config.stream_id, base)
            except WhipError as exc:
                self.last_error = f"gateway {base} refused: {exc}"
                if exc.permanent:
                    self.refused = True
                    if self.config.give_up_when_refused:
                        await publisher.stop()
                        raise
                    delay = self.config.backoff_max
                logger.warning("%sstream=%s %s", what, self.config.stream_id, self.last_error)
            except (OSError, TimeoutError, ConnectionError, aiohttp.ClientError) as exc:
                self.last_error = f"gateway {base} unreachable: {exc or type(exc).__name__}"
                logger.warning("%sstream=%s %s", what, self.config.stream_id, self.last_error)
            finally:
                self.connected.clear()
                self.gateway = None
                await publisher.stop(gateway_lost=gateway_lost)
            if self._stopping:
                break
            attempt += 1
            if gateway_lost:
                continue  # it was publishing: fail over to the next gateway at once
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, self.config.backoff_max)

    async def stop(self) -> None:
        self._stopping = True
        if self.publisher is not None:
            await self.publisher.stop()
