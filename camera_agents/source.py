"""The seam between a camera and its publications.

A source runs on its own (a demux or capture thread, started once for the agent's life),
and hands each piece of media to the loop, which fans it out to the tracks of the current
WHIP publication and to sinks: callbacks that see every encoded packet whether or not a
gateway is reachable (the local spool hooks in here). It keeps the counters the status
page shows. Everything the thread reports is applied on the loop (call_soon_threadsafe),
so the counters and events are only ever touched there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import av
from aiortc import MediaStreamTrack

logger = logging.getLogger(__name__)

Kind = Literal["video", "audio"]
Payload = av.Packet | av.VideoFrame | av.AudioFrame
# (kind, payload, keyframe): every encoded packet (and decoded frame) the source produces,
# called on the loop. The spool (issue 10, item 3) will be one.
Sink = Callable[[Kind, Payload, bool], None]

VIDEO_CLOCK = 90000
BITRATE_WINDOW = 5.0  # seconds the status page's bitrate is averaged over
AUDIO_WAIT = 0.04  # audio waits at most this long for a picture to go to the loop with
PACE_DELAY = 0.06  # a paced track runs this far behind its source (absorbs bursts)
PACE_RESYNC = 0.2  # a paced track this late starts over (the source's clock drifted)


@dataclass(frozen=True)
class Media:
    kind: Kind
    payload: Payload
    keyframe: bool
    size: int  # encoded bytes (0 for decoded frames)


@dataclass
class SourceStatus:
    state: str = "starting"  # starting | connecting | live | retrying | stopped
    frames: int = 0  # video frames (access units) handed on
    audio_frames: int = 0
    bytes: int = 0
    drops: int = 0  # dropped because a reader fell behind
    skipped: int = 0  # unusable input (garbage from the camera), skipped
    reconnects: int = 0
    last_error: str | None = None
    last_error_at: float | None = None
    since: float = field(default_factory=time.time)
    _window: deque[tuple[float, int]] = field(default_factory=deque, repr=False)

    def count(self, size: int) -> None:
        now = time.monotonic()
        self.bytes += size
        self._window.append((now, size))
        while self._window and self._window[0][0] < now - BITRATE_WINDOW:
            self._window.popleft()

    def bitrate(self) -> int:
        """Bits per second over the last few seconds (0 when nothing flows)."""
        now = time.monotonic()
        recent = sum(s for t, s in self._window if t >= now - BITRATE_WINDOW)
        return round(recent * 8 / BITRATE_WINDOW)


class Subscription:
    """One reader's bounded queue. A reader that falls behind loses what is queued (counted
    as drops) and video resumes at the next keyframe: the latest picture, never a broken one."""

    def __init__(self, kind: Kind, status: SourceStatus, maxsize: int) -> None:
        self.kind = kind
        self._status = status
        self._items: deque[Media] = deque()
        self._maxsize = maxsize
        self._ready = asyncio.Event()
        self._need_key = kind == "video"  # a new reader starts at a keyframe

    def put(self, media: Media) -> None:
        if self._need_key and not media.keyframe:
            return
        self._need_key = False
        if len(self._items) >= self._maxsize:
            self._status.drops += len(self._items) if self.kind == "video" else 1
            if self.kind == "video":
                self._items.clear()
                if not media.keyframe:
                    self._need_key = True
                    return
            else:
                self._items.popleft()
        self._items.append(media)
        self._ready.set()

    async def get(self) -> Payload:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft().payload


class CameraSource:
    """Base of the camera sources: the thread, the fan-out, the status and two events
    (`live` while media flows, `down` otherwise) the agent publishes by."""

    kind_name = "source"
    queue_size = 30  # per reader: about a second of video

    def __init__(self, camera: str) -> None:
        self.camera = camera
        self.status = SourceStatus()
        self.sinks: list[Sink] = []
        # The camera's own sound, declared before its first packet (by the thread, once it
        # knows): the spool opens its first segment with an audio track, not video alone.
        self.has_audio = False
        self.live = asyncio.Event()
        self.down = asyncio.Event()
        self.down.set()
        self._subs: list[Subscription] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._inbox: deque[Media] = deque()  # thread -> loop (deque: thread-safe ends)
        self._inbox_since: float | None = None  # (the thread's) oldest media not yet sent

    # ---- for the agent ----

    @property
    def description(self) -> str:
        """What the status page and the logs may show (no credentials)."""
        return self.kind_name

    def tracks(self) -> list[MediaStreamTrack]:
        """Fresh tracks for one publication."""
        raise NotImplementedError

    def subscribe(self, kind: Kind) -> Subscription:
        sub = Subscription(kind, self.status, self.queue_size)
        self._subs.append(sub)
        if kind == "video":
            self.request_keyframe()  # the new reader starts at the next one: make it soon
        return sub

    def request_keyframe(self) -> None:
        """A reader wants a keyframe (a new publication, a viewer's PLI). A camera the
        agent encodes itself makes one; a passed-through camera cannot be asked."""

    def unsubscribe(self, sub: Subscription) -> None:
        with contextlib.suppress(ValueError):
            self._subs.remove(sub)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # A thread of its own for the source's life: it blocks in a demuxer or a device
        # (never the loop, and never a worker of the shared default executor).
        self._thread = threading.Thread(
            target=self._run_thread, name=f"camera-{self.camera}", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10.0)
        self._apply_state("stopped", None)

    # ---- for the thread ----

    def _run_thread(self) -> None:
        raise NotImplementedError

    def _emit(self, media: Media) -> None:
        """Queue media for the loop. Waking the loop costs more than the media's own
        handling (a self-pipe write and a GIL hand-over each time), so audio rides along
        with the next picture unless it has waited AUDIO_WAIT: one wake-up per picture."""
        if self._loop is None or self._stop.is_set():
            return
        now = time.monotonic()
        self._inbox.append(media)
        if self._inbox_since is None:
            self._inbox_since = now
        if media.kind == "audio" and now - self._inbox_since < AUDIO_WAIT:
            return
        self._inbox_since = None
        with contextlib.suppress(RuntimeError):  # the loop closed under us
            self._loop.call_soon_threadsafe(self._drain)

    def _state(self, state: str, error: str | None = None) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._apply_state, state, error)

    def _skip(self, what: str) -> None:
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._apply_skip, what)

    def _sleep(self, seconds: float) -> bool:
        """Sleep in the thread; False when the source is stopping."""
        return not self._stop.wait(seconds)

    # ---- on the loop ----

    def _drain(self) -> None:
        while self._inbox:
            self._deliver(self._inbox.popleft())

    def _deliver(self, media: Media) -> None:
        if not self.live.is_set():
            # (not draining first: this media came out of the inbox ahead of the rest,
            # which would otherwise be delivered before it)
            self._apply_state("live", None, drain=False)
        if media.kind == "video":
            self.status.frames += 1
        else:
            self.status.audio_frames += 1
        self.status.count(media.size)
        for sink in self.sinks:
            try:
                sink(media.kind, media.payload, media.keyframe)
            except Exception:  # a sink's failure is its own; the publication goes on
                logger.exception("camera=%s sink failed", self.camera)
        for sub in self._subs:
            if sub.kind == media.kind:
                sub.put(media)

    def _apply_state(self, state: str, error: str | None, drain: bool = True) -> None:
        if drain:
            self._drain()  # what the source sent before it changed state goes first
        status = self.status
        if error is not None:
            status.last_error, status.last_error_at = error, time.time()
        if state == status.state:
            return
        if state == "connecting" and status.state in ("live", "retrying"):
            status.reconnects += 1
        status.state, status.since = state, time.time()
        logger.log(
            logging.WARNING if error else logging.INFO,
            "camera=%s source=%s state=%s%s",
            self.camera,
            self.description,
            state,
            f" error={error!r}" if error else "",
        )
        if state == "live":
            self.down.clear()
            self.live.set()
        else:
            self.live.clear()
            self.down.set()

    def _apply_skip(self, what: str) -> None:
        self.status.skipped += 1
        if self.status.skipped in (1, 10, 100) or self.status.skipped % 1000 == 0:
            logger.warning(
                "camera=%s skipped=%d unusable input: %s", self.camera, self.status.skipped, what
            )


class SubscriptionTrack(MediaStreamTrack):
    """A track of one publication, reading the source's media of its kind. `codec` names
    the codec the publisher must offer (H.264 for a passed-through camera).

    `pace`: hand media on at the pace of its timestamps, a little behind (PACE_DELAY), not
    as it arrives. For audio: aiortc's sender reports pair each packet's timestamp with
    the time it was sent, so audio sent in bursts (a camera over UDP, two packets per
    wake-up) gives the receiver a jittering clock, and the node's recorder writes audio
    out of order."""

    def __init__(
        self, source: CameraSource, kind: Kind, codec: str | None = None, pace: bool = False
    ) -> None:
        super().__init__()
        self.kind = kind
        self.codec = codec
        self._kind: Kind = kind
        self._source = source
        self._sub: Subscription | None = None
        self._pace = pace
        self._anchor: float | None = None  # monotonic time of timestamp 0

    async def recv(self) -> Payload:
        if self._sub is None:
            # subscribed at the first read: the publication is up, video starts at a keyframe
            self._sub = self._source.subscribe(self._kind)
        payload = await self._sub.get()
        if self._pace and payload.pts is not None and payload.time_base is not None:
            at = float(payload.pts * payload.time_base)
            now = time.monotonic()
            if self._anchor is None or now - (self._anchor + at) > PACE_RESYNC:
                self._anchor = now - at + PACE_DELAY  # the first, or far behind: start over
            due = self._anchor + at
            if due > now:
                await asyncio.sleep(due - now)
        return payload

    def request_keyframe(self) -> None:
        """A viewer's PLI (see whip_client.use_keyframe_tap)."""
        if self._kind == "video":
            self._source.request_keyframe()

    def stop(self) -> None:
        super().stop()
        if self._sub is not None:
            self._source.unsubscribe(self._sub)
            self._sub = None
