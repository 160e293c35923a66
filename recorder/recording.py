"""Recording: one stream's evidence, segment after segment, across publisher reconnects.

Threading: the event loop decides *what* to write (segment boundaries, drops, gaps); a
single writer thread per recording does all file and manifest work, in order. The loop
never touches a file; the writer never makes a decision about time.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from bitstream import picture_size

from . import manifest as mf
from .continuity import reason
from .feed import TrackFeed
from .frames import EncodedFrame, Loss
from .segment import SegmentFile, TrackSpec
from .settings import RecorderSettings
from .signing import NodeKey
from .stats import RecorderStats
from .writer import RecordingWriter, iso

logger = logging.getLogger(__name__)


# How long a cut segment stays open for audio captured before the cut.
LATE_AUDIO_WINDOW = 0.5
# Dropped frames go on record as one continuity entry per burst: a burst ends after this
# long without a drop of its kind, and is written at least this often while it lasts.
DROP_QUIET = 1.0
DROP_MAX_SPAN = 10.0
# Frames go to the writer thread in batches, one hand-off this often: each hand-off wakes
# the writer thread and is a timer on the loop, and a publisher sends 80 frames a second.
HANDOFF_EVERY = 0.1


class _Drops:
    """A burst of dropped frames of one track, for one reason (not yet on record)."""

    def __init__(self, wall: float, now: float) -> None:
        self.frames = 0
        self.first_wall = self.last_wall = wall
        self.since = self.latest = now

    def add(self, wall: float, now: float) -> None:
        self.frames += 1
        self.first_wall = min(self.first_wall, wall)
        self.last_wall = max(self.last_wall, wall)
        self.latest = now


class RecordingListener(Protocol):
    def segment_closed(self, recording: Recording, entry: mf.SegmentEntry) -> None: ...

    def continuity(self, recording: Recording, entry: mf.ContinuityEntry) -> None: ...

    def recording_closed(self, recording: Recording) -> None: ...

    def alarm(self, recording: Recording, kind: str, message: str) -> None: ...


class Recording(RecordingWriter):
    def __init__(
        self,
        manifest: mf.Manifest,
        directory: Path,
        key: NodeKey,
        settings: RecorderSettings,
        listener: RecordingListener,
        stats: RecorderStats | None = None,
    ) -> None:
        self.manifest = manifest
        self.id = manifest.recording_id
        self.directory = directory
        self.closed = False
        self._key = key
        self._settings = settings
        self._listener = listener
        self._stats = stats if stats is not None else RecorderStats()
        self._loop = asyncio.get_running_loop()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rec-{self.id[:24]}")
        self._pending = 0
        self._pending_lock = threading.Lock()
        # loop-side state
        self._tracks: dict[str, TrackSpec] = {}
        self._clock: dict[str, int] = {}
        self._feeds: list[TrackFeed] = []
        self._request_keyframe: Callable[[], None] = lambda: None
        self._slot = 0  # names each segment attempt for the writer
        self._cur_slot: int | None = None  # the segment frames go to
        self._seg_base = 0.0
        # The segment just cut stays open briefly for audio captured before the cut that
        # arrives after it (interleaving), so nothing is lost at a boundary.
        self._prev: tuple[int, float] | None = None
        self._prev_timer: asyncio.TimerHandle | None = None
        self._keyframe_asked_at = 0.0
        self._failed = False
        self._last_resume_try = 0.0
        self._gap_start: float | None = None  # wall clock where coverage stopped
        self._gap_kind = ""
        self._gap_reason = ""
        self._gap_kept = False  # logged however short (a cut-over's opening span)
        # Where the logged gap just before the current segment began (None: the segment
        # follows a cut): a frame timed in it is in a span the log already has.
        self._gap_before: float | None = None
        self._last_wall = 0.0
        # Resolved with the wall clock of the first segment's first frame (a cut-over
        # closes the previous recording once it is).
        self._first_segment: asyncio.Future[float] = self._loop.create_future()
        self.dropped_frames = 0
        self._drops: dict[tuple[str, str], _Drops] = {}  # (reason code, track) -> burst
        self._drops_timer: asyncio.TimerHandle | None = None
        self.clock_faults = 0  # frames re-timed by arrival, sender reports refused
        self._clock_noted: set[str] = set()  # tracks of this publisher with an entry
        self.finalized = False  # closed and its manifest signed for the last time
        self.on_finalized: Callable[[Recording], None] = lambda recording: None
        self.close_latencies: deque[float] = deque(maxlen=100)
        self._batch: list[tuple[int, str, bytes, float, float, bool]] = []
        # writer-side state
        self._segs: dict[int, SegmentFile] = {}
        self._w_open_gap: mf.ContinuityEntry | None = None
        self._submit(self._w_create)

    # ------------------------------------------------------------ loop side

    @property
    def video(self) -> bool:
        return "video" in self._tracks

    @property
    def feeds(self) -> dict[str, TrackFeed]:
        return {f.kind: f for f in self._feeds}

    @property
    def last_media_time(self) -> float:
        """Wall clock of the newest frame written (0 before the first)."""
        return self._last_wall

    @property
    def has_media(self) -> bool:
        """Its first segment opened: the first keyframe is being written."""
        return self._first_segment.done()

    async def first_segment(self) -> float:
        """Wait for the first segment to open: the wall clock of its first frame."""
        return await asyncio.shield(self._first_segment)

    def attach(
        self,
        tracks: list[tuple[str, str, int]],
        request_keyframe: Callable[[], None],
        opening: tuple[str, str] | None = None,
    ) -> dict[str, TrackFeed]:
        """A publisher (first or back after a disconnect) feeds these tracks. `opening`:
        the (kind, reason) of the span before the first segment, when it is not a plain
        wait for the first keyframe (a cut-over: the previous recording covers it)."""
        self._tracks = {kind: TrackSpec(kind, mime) for kind, mime, _ in tracks}
        self._clock = {kind: rate for kind, _, rate in tracks}
        self._request_keyframe = request_keyframe
        self._feeds = [
            TrackFeed(
                kind,
                mime,
                rate,
                self._on_frame,
                self._on_loss,
                self._feed_ended,
                self._settings.max_clock_skew,
                self._on_clock,
            )
            for kind, mime, rate in tracks
        ]
        self._clock_noted = set()
        if self._gap_start is None and self.manifest.segments:
            self._gap_start, self._gap_kind = self._last_wall, "publisher-disconnect"
            self._gap_reason = reason("publisher-reconnected")
        elif self._gap_start is None and opening is not None:
            self._gap_start, (self._gap_kind, self._gap_reason) = time.time(), opening
            self._gap_kept = True
        elif self._gap_start is None:
            self._gap_start, self._gap_kind = time.time(), "keyframe-wait"
            self._gap_reason = reason("first-keyframe")
        request_keyframe()
        return {f.kind: f for f in self._feeds}

    def continue_from(self, recording_id: str, node_id: str, since: float) -> None:
        """This recording takes over from `recording_id` of the lost node `node_id`,
        whose media ends at `since`: the span up to our first frame is logged as
        "node-lost" (the opening entry, or one more entry once media has begun)."""
        why = reason("node-lost", node=node_id, recording=recording_id, time=iso(since))
        self._submit(self._w_set_continues, recording_id)
        if not self._first_segment.done():
            if self._gap_start is not None:  # the wait for the first keyframe: it widens
                self._gap_start = min(self._gap_start, since)
                self._gap_kind, self._gap_reason, self._gap_kept = "node-lost", why, True
            return
        first = self._first_segment.result()
        self.add_gap("node-lost", min(since, first), first, why)

    def detach(self, why: str = reason("publisher-disconnected")) -> None:
        """The publisher is gone; coverage stops here until it returns (or we close)."""
        for f in self._feeds:
            f.closed = True
        self._feeds = []
        self._close_segment()
        self._record_drops(every=True)
        if self._gap_start is None:
            self._gap_start = self._last_wall or time.time()
            self._gap_kind, self._gap_reason = "publisher-disconnect", why

    def _feed_ended(self, feed: TrackFeed) -> None:
        if all(f.closed for f in self._feeds):
            self.detach()

    def _on_loss(self, kind: str, loss: Loss) -> None:
        self.add_gap(
            "loss",
            loss.since,
            None,
            reason(f"{kind}-packets-lost", packets=loss.packets),
        )
        if kind == "video":
            self._request_keyframe()

    def _on_clock(self, kind: str, wall: float, arrival: float) -> None:
        """A feed found its wall clock implausible: one continuity entry per track of a
        publisher, counted every time, logged once per recording."""
        self.clock_faults += 1
        if kind in self._clock_noted:
            return
        self._clock_noted.add(kind)
        seconds = f"{wall - arrival:+.1f}"
        if self.clock_faults == 1:
            logger.warning(
                "recording %s: %s wall clock %s s off the node's clock: timed by arrival",
                self.id,
                kind,
                seconds,
            )
        self.add_gap(
            "clock", arrival, arrival, reason("clock-reanchored", track=kind, seconds=seconds)
        )

    def _on_frame(self, kind: str, frame: EncodedFrame, wall: float) -> None:
        if self.closed:
            return
        leads = kind == "video" or not self.video  # which track decides segment cuts
        if leads:
            if self._failed and self._cur_slot is None:
                if not frame.keyframe and self.video:
                    return
                if wall - self._last_resume_try < 1.0:  # one try per second of media
                    return
                self._last_resume_try = wall
                self._open_segment(frame, wall, resume=True)
            elif self._cur_slot is None:
                if self.video and not frame.keyframe:
                    # Counted, not logged: no segment is open, so this span is already
                    # a gap of the continuity log (keyframe wait, disconnect, failure).
                    self.dropped_frames += 1
                    return
                self._open_segment(frame, wall)
            elif wall - self._seg_base >= self._settings.segment_seconds - 0.02:
                if frame.keyframe or not self.video:
                    self._retire_current()
                    self._open_segment(frame, wall)
                else:
                    # Boundary reached: the next segment must start on a keyframe.
                    now = time.monotonic()
                    if now - self._keyframe_asked_at > 1.0:
                        self._keyframe_asked_at = now
                        self._request_keyframe()
        if self._cur_slot is None:
            return
        slot, base = self._cur_slot, self._seg_base
        if wall < base:  # captured before the cut: it belongs to the previous segment
            if self._prev is None or wall < self._prev[1]:
                if self._gap_before is not None and wall >= self._gap_before:
                    self.dropped_frames += 1  # counted, not logged: within that gap
                else:
                    self._drop("frames-dropped-late", kind, wall)
                return
            slot, base = self._prev
        with self._pending_lock:
            backlog = self._pending >= self._settings.max_pending_frames
        if backlog:
            self._drop("frames-dropped-backlog", kind, wall)
            return
        self._last_wall = max(self._last_wall, wall)
        # Frames go to the writer in batches: one hand-off per HANDOFF_EVERY, not per frame.
        self._batch.append((slot, kind, frame.data, wall, base, frame.keyframe))
        if len(self._batch) == 1:
            self._loop.call_later(HANDOFF_EVERY, self._flush_batch)

    def _drop(self, code: str, kind: str, wall: float) -> None:
        """A frame not written: counted, and put on record with its burst."""
        self.dropped_frames += 1
        self._stats.frame_dropped(code)
        now = time.monotonic()
        burst = self._drops.get((code, kind))
        if burst is None:
            burst = self._drops[code, kind] = _Drops(wall, now)
        burst.add(wall, now)
        if self._drops_timer is None:
            self._drops_timer = self._loop.call_later(DROP_QUIET, self._record_drops)

    def _record_drops(self, every: bool = False) -> None:
        """Each burst that ended (or lasts too long; `every`: all) as a continuity entry
        of kind "dropped": the frames' wall-clock span, how many, why."""
        if self._drops_timer is not None:
            self._drops_timer.cancel()
            self._drops_timer = None
        now = time.monotonic()
        for key, burst in list(self._drops.items()):
            if every or now - burst.latest >= DROP_QUIET or now - burst.since >= DROP_MAX_SPAN:
                del self._drops[key]
                code, kind = key
                why = reason(code, frames=burst.frames, track=kind)
                self.add_gap("dropped", burst.first_wall, burst.last_wall, why)
        if self._drops:
            self._drops_timer = self._loop.call_later(DROP_QUIET, self._record_drops)

    def _flush_batch(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._submit(self._w_write_batch, batch, weight=len(batch))

    def _open_segment(self, frame: EncodedFrame, wall: float, resume: bool = False) -> None:
        spec = self._tracks.get("video")
        if spec is not None and frame.keyframe:
            size = picture_size(spec.mime, frame.data)
            if size:
                self._tracks["video"] = TrackSpec("video", spec.mime, *size)
        self._slot += 1
        self._cur_slot = self._slot
        self._seg_base = wall
        if not self._first_segment.done():
            self._first_segment.set_result(wall)
        gap = None
        self._gap_before = None
        if self._gap_start is not None:
            if wall - self._gap_start > 0.05 or self._gap_kept:
                self._gap_before = min(self._gap_start, wall)
                gap = mf.ContinuityEntry(
                    iso(self._gap_before), iso(wall), self._gap_kind, self._gap_reason
                )
            self._gap_start, self._gap_kept = None, False
        self._submit(self._w_open, self._slot, list(self._tracks.values()), resume, wall, gap)

    def _retire_current(self) -> None:
        """Cut: the current segment lingers for late audio, then closes."""
        self._close_prev()
        if self._cur_slot is not None:
            self._prev = (self._cur_slot, self._seg_base)
            self._cur_slot = None
            self._prev_timer = self._loop.call_later(LATE_AUDIO_WINDOW, self._close_prev)

    def _close_prev(self) -> None:
        if self._prev_timer is not None:
            self._prev_timer.cancel()
            self._prev_timer = None
        if self._prev is not None:
            slot, self._prev = self._prev[0], None
            self._submit(self._w_close_segment, slot, [], time.monotonic())

    def _close_segment(self) -> None:
        """Close every open segment now (publisher gone, recording closing)."""
        self._close_prev()
        if self._cur_slot is not None:
            slot, self._cur_slot = self._cur_slot, None
            self._submit(self._w_close_segment, slot, [], time.monotonic())

    def add_gap(self, kind: str, start: float, end: float | None, reason: str) -> None:
        entry = mf.ContinuityEntry(iso(start), iso(end) if end else None, kind, reason)
        self._submit(self._w_add_continuity, entry)

    def _writer_failed(self, kind: str, message: str) -> None:
        self._cur_slot = None
        self._prev = None
        if self._prev_timer is not None:
            self._prev_timer.cancel()
            self._prev_timer = None
        self._failed = True
        self._listener.alarm(self, kind, message)

    def _writer_resumed(self) -> None:
        self._failed = False

    def _segment_written(self, entry: mf.SegmentEntry, latency: float | None) -> None:
        self._stats.segment_written(entry.bytes, latency)
        self._listener.segment_closed(self, entry)

    async def close(self, end_reason: str) -> None:
        """Close the open segment, mark the recording closed (and why: the manifest's
        `end_reason`, a continuity.REASONS text), stop the writer. Idempotent: the first
        reason stays."""
        if self.closed:
            return
        self.detach(end_reason)
        self.closed = True
        self._submit(self._w_finalize, end_reason)
        await asyncio.wrap_future(self._submit(lambda: None))
        await asyncio.to_thread(self._writer.shutdown, wait=True)  # joins the writer thread
        self._listener.recording_closed(self)
        self.finalized = True
        self.on_finalized(self)

    def _submit(self, fn: Callable[..., Any], *args: Any, weight: int = 1) -> Future[Any]:
        if fn != self._w_write_batch:
            self._flush_batch()  # keep the writer's order: frames before what follows them
        with self._pending_lock:
            self._pending += weight

        def run() -> Any:
            try:
                return fn(*args)
            except Exception:
                logger.exception("recording %s: writer step %s failed", self.id, fn.__name__)
            finally:
                with self._pending_lock:
                    self._pending -= weight

        return self._writer.submit(run)
