"""Recorder: opens a Recording per published stream, continues it across a publisher's
reconnect within the grace period, cuts a live stream over to a new recording when its
session binding changes (without losing a frame), and closes everything cleanly on
shutdown."""

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
from .stats import RecorderStats

logger = logging.getLogger(__name__)

# A cut-over: the previous recording closes this long after the next one's first frame
# (both hold the stream meanwhile), or once CUT_TIMEOUT passes without one.
CUT_OVERLAP = 1.0
CUT_TIMEOUT = 10.0


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
        self.stats = RecorderStats()  # totals across recordings, for the node's metrics
        self.active: dict[str, Recording] = {}  # stream id -> recording
        # Every recording opened and not yet finalized (active, cut over from, closing).
        self._unfinished: set[Recording] = set()
        self._grace: dict[str, asyncio.TimerHandle] = {}
        self._closing: set[asyncio.Task[None]] = set()
        # stream id -> the publisher's tracks and keyframe request, while it publishes
        self._publishers: dict[str, tuple[list[TrackInfo], Callable[[], None]]] = {}
        # stream id -> cut-over task -> (the recording cut over from, why): until the
        # next recording has its first frame
        self._cut_overs: dict[str, dict[asyncio.Task[None], tuple[Recording, str]]] = {}
        self.cut_overlap = CUT_OVERLAP
        self.cut_timeout = CUT_TIMEOUT

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
        grace period with the same codecs and session, a new one otherwise. `session`:
        the session the stream is bound to now (the manifest's `session`), if any."""
        timer = self._grace.pop(stream_id, None)
        if timer is not None:
            timer.cancel()
        codecs = _codecs(tracks)
        recording = self.active.get(stream_id)
        if recording is not None and (recording.manifest.codecs != codecs or recording.closed):
            self._close_later(stream_id, reason("codecs-changed"))
            recording = None
        if recording is not None and recording.manifest.session != session:
            self._close_later(stream_id, reason("session-changed"))
            recording = None
        if recording is None:
            recording = self._open(stream_id, tracks, codecs, station, session)
        self._publishers[stream_id] = (tracks, request_keyframe)
        return recording.attach(_specs(tracks), request_keyframe)

    def rebind(self, stream_id: str, session: str | None, why: str) -> dict[str, TrackFeed]:
        """Bind the stream's recording to `session` (None: to none) from now on. A stream
        being published is cut over: a new recording starts at the next keyframe (asked
        for now) and the current one closes (end_reason `why`) once the new one has its
        first frame, so the two overlap and nothing is lost. Answers the new recording's
        feeds, for the caller to connect to the publisher's tracks ({} when there is
        nothing to cut over: no recording, already bound so, or no publisher now; a
        recording waiting for its publisher is closed, the next one is bound)."""
        recording = self.active.get(stream_id)
        if recording is None or recording.manifest.session == session:
            return {}
        publisher = self._publishers.get(stream_id)
        if publisher is None:
            self._close_later(stream_id, why)
            return {}
        tracks, request_keyframe = publisher
        m = recording.manifest
        successor = self._open(stream_id, tracks, m.codecs, m.station, session)
        feeds = successor.attach(_specs(tracks), request_keyframe, ("session-cut", why))
        for kind, feed in feeds.items():
            previous = recording.feeds.get(kind)
            if previous is not None:
                feed.adopt_clock(previous)
        task = asyncio.ensure_future(self._hand_over(stream_id, recording, successor, why))
        self._cut_overs.setdefault(stream_id, {})[task] = (recording, why)
        logger.info("recording %s: cut over to %s (%s)", recording.id, successor.id, why)
        return feeds

    async def _hand_over(
        self, stream_id: str, previous: Recording, successor: Recording, why: str
    ) -> None:
        try:
            await asyncio.wait_for(successor.first_segment(), self.cut_timeout)
            await asyncio.sleep(self.cut_overlap)
        except TimeoutError:
            if not previous.closed:
                last = previous.last_media_time or time.time()
                previous.add_gap(
                    "session-cut",
                    last,
                    max(time.time(), last),
                    reason("cut-timeout", seconds=f"{self.cut_timeout:g}"),
                )
        # Past cancelling: the close itself is not interrupted (the node waits for it).
        pending = self._cut_overs.get(stream_id, {})
        for task in [t for t in pending if t is asyncio.current_task()]:
            del pending[task]
        self._close_recording(previous, why)

    def _end_cut_overs(self, stream_id: str, why: str | None = None) -> list[Recording]:
        """Stop waiting for the next recording (its publisher left, the node stops): the
        recordings being cut over from, to be closed now (with `why`, else their own)."""
        out = []
        for task, (previous, own) in self._cut_overs.pop(stream_id, {}).items():
            task.cancel()
            out.append(previous)
            self._close_recording(previous, why or own)
        return out

    def _close_recording(self, recording: Recording, why: str) -> None:
        task = asyncio.ensure_future(recording.close(why))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

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
        recording = Recording(
            manifest, directory, self.key, self.settings, self.listener, self.stats
        )
        self.active[stream_id] = recording
        self._unfinished.add(recording)
        recording.on_finalized = self._unfinished.discard
        logger.info("recording %s started", rid)
        return recording

    def stopped(self, stream_id: str) -> None:
        """The publisher left: keep the recording open for the grace period."""
        self._publishers.pop(stream_id, None)
        self._end_cut_overs(stream_id)  # nothing more comes for the next one either
        recording = self.active.get(stream_id)
        if recording is None:
            return
        recording.detach()
        loop = asyncio.get_running_loop()
        self._grace[stream_id] = loop.call_later(
            self.settings.reconnect_grace, self._close_later, stream_id, reason("publisher-lost")
        )

    def has_media(self, stream_id: str) -> bool:
        """Whether the stream is being recorded now: its recording is open, has a
        publisher and has written its first keyframe (its first segment opened)."""
        recording = self.active.get(stream_id)
        return (
            recording is not None
            and not recording.closed
            and stream_id in self._publishers
            and recording.has_media
        )

    def open_for_session(self, session: str) -> list[Recording]:
        """The recordings bound to `session` not finalized yet (being written, cut over
        from, or closing)."""
        return [r for r in self._unfinished if r.manifest.session == session]

    async def session_closed(self, session: str, timeout: float) -> bool:
        """Wait until every recording bound to `session` is finalized (manifest signed
        for the last time); False if some still is not after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.open_for_session(session):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    @property
    def open_recordings(self) -> int:
        """Recordings opened and not yet finalized (being written, cut over from, closing)."""
        return len(self._unfinished)

    @property
    def closing(self) -> int:
        """How many recordings are closing now (their writer finishing the last segment)."""
        return len(self._closing)

    @property
    def awaiting_reconnect(self) -> frozenset[str]:
        """Streams whose publisher left and whose grace period is running."""
        return frozenset(self._grace)

    def _close_later(self, stream_id: str, reason: str) -> None:
        self._grace.pop(stream_id, None)
        recording = self.active.pop(stream_id, None)
        if recording is None:
            return
        self._close_recording(recording, reason)

    async def close(self) -> None:
        """The node stops: finalize every recording (segments closed, manifests signed,
        `end_reason` "node stopped"), those in their grace period too. Idempotent."""
        for timer in self._grace.values():
            timer.cancel()
        self._grace.clear()
        self._publishers.clear()
        for stream_id in list(self._cut_overs):
            self._end_cut_overs(stream_id, reason("node-stopped"))
        recordings, self.active = list(self.active.values()), {}
        for recording in recordings:
            await recording.close(reason("node-stopped"))
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


def _codecs(tracks: list[TrackInfo]) -> dict[str, str]:
    return {t.kind: t.mime.split("/")[1].upper() for t in tracks}


def _specs(tracks: list[TrackInfo]) -> list[tuple[str, str, int]]:
    return [(t.kind, t.mime, t.clock_rate) for t in tracks]
