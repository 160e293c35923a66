"""A station: one agent process, several cameras, each published as its own stream.

Each camera has a source (running for the agent's life, whatever the link does) and an
Agent that publishes it while it is live, with fail-over across the station's gateways.
A camera's trouble (unreachable, wrong password, refused by the gateway) is its own: it
shows in the status and the logs, is retried with back-off, and the others go on."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiortc import MediaStreamTrack

from .agent import Agent, AgentConfig
from .backfill import Backfill
from .file_source import FileSource
from .rtsp_source import RtspSource
from .source import CameraSource
from .spool import Spool
from .station_config import CameraConfig, StationConfig
from .testsrc import PatternSource
from .v4l2_source import AlsaSource, V4l2Source

logger = logging.getLogger(__name__)

# Seconds a stopping station spends uploading what its spool holds for the node.
FLUSH_AT_STOP = 10.0


def make_source(station: str, camera: CameraConfig) -> CameraSource:
    own_audio = camera.audio is True
    if camera.source.startswith(("rtsp://", "rtsps://")):
        return RtspSource(
            camera.id,
            camera.source,
            transport=camera.transport,
            username=camera.username,
            password=camera.read_password(),
            audio=own_audio,
        )
    if camera.source.startswith("file:"):
        return FileSource(camera.id, camera.source.removeprefix("file:"), audio=own_audio)
    if camera.source.startswith("/dev/video"):
        return V4l2Source(
            camera.id,
            camera.source,
            width=camera.width,
            height=camera.height,
            fps=camera.fps,
            codec=camera.codec,
            bitrate=camera.bitrate_kbps * 1000,
            keyframe_seconds=camera.keyframe_seconds,
        )
    return PatternSource(
        camera.id,
        f"{station} {camera.id}",
        audio=own_audio,
        width=camera.width,
        height=camera.height,
        fps=camera.fps,
        bitrate=camera.bitrate_kbps * 1000,
        keyframe_seconds=camera.keyframe_seconds,
        codec=camera.codec,
    )


@dataclass
class _Tracks:
    """A publication's tracks: the camera's, and its microphone's when it has one."""

    source: CameraSource
    microphone: CameraSource | None

    def __call__(self, _config: AgentConfig) -> list[MediaStreamTrack]:
        tracks = self.source.tracks()
        if self.microphone is not None:
            tracks += self.microphone.tracks()
        return tracks


@dataclass
class Camera:
    config: CameraConfig
    stream: str
    source: CameraSource
    microphone: CameraSource | None
    agent: Agent

    def declares_audio(self) -> bool:
        """The camera's recording has sound: its own (known once its source is open) or
        its microphone's."""
        return self.microphone is not None or self.source.has_audio

    def status(self) -> dict[str, Any]:
        s = self.source.status
        agent = self.agent
        errors = [(s.last_error_at or 0.0, s.last_error)]
        if self.microphone is not None:
            m = self.microphone.status
            errors.append((m.last_error_at or 0.0, f"microphone: {m.last_error}"))
        return {
            "id": self.config.id,
            "stream": self.stream,
            "role": self.config.role,
            "source": self.source.description,
            "state": s.state,
            "since": s.since,
            "publishing": agent.connected.is_set(),
            "gateway": agent.gateway,
            "sessions": agent.sessions,
            "refused": agent.refused,
            "bitrate": s.bitrate(),
            "frames": s.frames,
            "audio_frames": s.audio_frames,
            "drops": s.drops,
            "skipped": s.skipped,
            "reconnects": s.reconnects,
            "last_error": s.last_error,
            "last_error_at": s.last_error_at,
            "publish_error": agent.last_error,
            "microphone": None if self.microphone is None else self.microphone.description,
        }


class Station:
    def __init__(self, config: StationConfig, token: str, turn_secret: str | None = None) -> None:
        self.config = config
        self.started = time.time()
        self.cameras: list[Camera] = []
        for cam in config.cameras:
            source = make_source(config.station, cam)
            mic = (
                AlsaSource(cam.id, cam.audio.removeprefix("alsa:"))
                if isinstance(cam.audio, str)
                else None
            )
            agent_config = AgentConfig(
                gateways=list(config.gateways),
                stream_id=config.stream_id(cam),
                token=token,
                station_name=config.station,
                ice_servers=list(config.ice_servers),
                turn_secret=turn_secret,
                give_up_when_refused=False,
                backoff_max=10.0,
                camera=cam.id,
                liveness_timeout=config.liveness_timeout,
            )
            agent = Agent(agent_config, _Tracks(source, mic), source)
            self.cameras.append(Camera(cam, config.stream_id(cam), source, mic, agent))
        self._tasks: list[asyncio.Task[None]] = []
        self.spool: Spool | None = None
        self.backfill: Backfill | None = None
        if config.spool_dir is not None:
            self.spool = Spool(
                config.spool_dir,
                config.key_path,
                config.station,
                config.spool_max_bytes,
                config.spool_segment_seconds,
            )
            self.backfill = Backfill(self.spool, list(config.gateways), token, config.backfill_kbps)
            for camera in self.cameras:
                sink = self.spool.sink(camera.stream, camera.declares_audio)
                camera.source.sinks.append(sink)
                if camera.microphone is not None:
                    camera.microphone.sinks.append(sink)

    def status(self) -> dict[str, Any]:
        return {
            "station": self.config.station,
            "gateways": list(self.config.gateways),
            "started": self.started,
            "now": time.time(),
            "cameras": [c.status() for c in self.cameras],
            "spool": None if self.spool is None else self.spool.status.as_json(),
            "backfill": None if self.backfill is None else self.backfill.status.as_json(),
        }

    async def start(self) -> None:
        if self.spool is not None:
            await asyncio.to_thread(self.spool.start)  # recovers an earlier run's spool
        for camera in self.cameras:
            await camera.source.start()
            if camera.microphone is not None:
                await camera.microphone.start()
            self._tasks.append(asyncio.create_task(camera.agent.run(), name=camera.stream))
        if self.backfill is not None:
            self._tasks.append(asyncio.create_task(self.backfill.run(), name="backfill"))
        logger.info(
            "station=%s cameras=%s", self.config.station, ",".join(c.stream for c in self.cameras)
        )

    async def run(self) -> None:
        await self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.stop()

    async def stop(self) -> None:
        for camera in self.cameras:
            await camera.agent.stop()
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for camera in self.cameras:
            await camera.source.stop()
            if camera.microphone is not None:
                await camera.microphone.stop()
        if self.spool is not None:
            await asyncio.to_thread(self.spool.stop)  # segments closed, manifests signed
        if self.backfill is not None:
            # The segments just closed (and an upload the cancel cut short) go up now.
            await self.backfill.flush(FLUSH_AT_STOP)
