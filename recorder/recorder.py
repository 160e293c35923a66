"""Recorder: opens a Recording per published stream, continues it across a publisher's
reconnect within the grace period, and closes everything cleanly on shutdown."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from . import manifest as mf
from .continuity import reason
from .feed import TrackFeed
from .recording import Recording, RecordingListener
from .segment import container_for
from .settings import RecorderSettings
from .signing import NodeKey

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrackInfo:
    kind: str  # "video" | "audio"
    mime: str  # "video/vp8" | "video/h264" | "audio/opus"
    clock_rate: int


class NullListener:
    def segment_closed(self, recording: Recording, entry: mf.SegmentEntry) -> None: ...

    def continuity(self, recording: Recording, entry: mf.ContinuityEntry) -> None: ...

    def recording_closed(self, recording: Recording) -> None: ...

    def alarm(self, recording: Recording, kind: str, message: str) -> None:
        logger.error("recording %s: %s: %s", recording.id, kind, message)


def new_recording_id(stream_id: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stream_id}-{stamp}-{secrets.token_hex(3)}"


class Recorder:
    def __init__(
        self,
        settings: RecorderSettings,
        node_id: str,
        listener: RecordingListener | None = None,
    ) -> None:
        self.settings = settings
        self.node_id = node_id
        self.listener: RecordingListener = listener or NullListener()
        self.key = NodeKey.load_or_create(settings.key_path)
        self.active: dict[str, Recording] = {}  # stream id -> recording
        self._grace: dict[str, asyncio.TimerHandle] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def recover(self) -> list[str]:
        """Close recordings a crash left open (see salvage.py). Call once at start."""
        from .salvage import salvage_all

        return await asyncio.to_thread(salvage_all, self.settings.recordings_dir, self.key)

    def start(
        self,
        stream_id: str,
        tracks: list[TrackInfo],
        request_keyframe: Callable[[], None],
        station: str | None = None,
        session: str | None = None,
    ) -> dict[str, TrackFeed]:
        """Feeds for a publisher's tracks: the same recording if it is back within the
        grace period with the same codecs, a new one otherwise."""
        timer = self._grace.pop(stream_id, None)
        if timer is not None:
            timer.cancel()
        codecs = {t.kind: t.mime.split("/")[1].upper() for t in tracks}
        recording = self.active.get(stream_id)
        if recording is not None and (recording.manifest.codecs != codecs or recording.closed):
            self._close_later(stream_id, reason("codecs-changed"))
            recording = None
        if recording is None:
            recording = self._open(stream_id, tracks, codecs, station, session)
        return recording.attach([(t.kind, t.mime, t.clock_rate) for t in tracks], request_keyframe)

    def _open(
        self,
        stream_id: str,
        tracks: list[TrackInfo],
        codecs: dict[str, str],
        station: str | None,
        session: str | None,
    ) -> Recording:
        rid = new_recording_id(stream_id)
        directory = self.settings.recordings_dir / rid  # made by the writer thread
        manifest = mf.Manifest(
            recording_id=rid,
            stream=stream_id,
            station=station or stream_id,
            session=session,
            node_id=self.node_id,
            container=container_for([t.mime for t in tracks]),
            codecs=codecs,
            started_at=datetime.fromtimestamp(time.time(), UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        )
        recording = Recording(manifest, directory, self.key, self.settings, self.listener)
        self.active[stream_id] = recording
        logger.info("recording %s started", rid)
        return recording

    def stopped(self, stream_id: str) -> None:
        """The publisher left: keep the recording open for the grace period."""
        recording = self.active.get(stream_id)
        if recording is None:
            return
        recording.detach()
        loop = asyncio.get_running_loop()
        self._grace[stream_id] = loop.call_later(
            self.settings.reconnect_grace, self._close_later, stream_id, reason("publisher-lost")
        )

    @property
    def awaiting_reconnect(self) -> frozenset[str]:
        """Streams whose publisher left and whose grace period is running."""
        return frozenset(self._grace)

    def _close_later(self, stream_id: str, reason: str) -> None:
        self._grace.pop(stream_id, None)
        recording = self.active.pop(stream_id, None)
        if recording is None:
            return
        task = asyncio.ensure_future(recording.close(reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """The node stops: finalize every recording (segments closed, manifests signed,
        `end_reason` "node stopped"), those in their grace period too. Idempotent."""
        for timer in self._grace.values():
            timer.cancel()
        self._grace.clear()
        recordings, self.active = list(self.active.values()), {}
        for recording in recordings:
            await recording.close(reason("node-stopped"))
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
