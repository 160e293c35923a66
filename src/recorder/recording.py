"""Recording: one stream's evidence, segment after segment, across publisher reconnects.

Threading: the event loop decides *what* to write (segment boundaries, drops, gaps); a
single writer thread per recording does all file and manifest work, in order. The loop
never touches a file; the writer never makes a decision about time.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from bitstream import picture_size

from . import chain
from . import manifest as mf
from .feed import TrackFeed
from .frames import EncodedFrame, Loss
from .segment import SegmentFile, TrackSpec
from .settings import RecorderSettings
from .signing import NodeKey

logger = logging.getLogger(__name__)


def iso(wall: float) -> str:
    return (
        datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class RecordingListener(Protocol):
    def segment_closed(self, recording: Recording, entry: mf.SegmentEntry) -> None: ...

    def continuity(self, recording: Recording, entry: mf.ContinuityEntry) -> None: ...

    def recording_closed(self, recording: Recording) -> None: ...

    def alarm(self, recording: Recording, kind: str, message: str) -> None: ...


class Recording:
    def __init__(
        self,
        manifest: mf.Manifest,
        directory: Path,
        key: NodeKey,
        settings: RecorderSettings,
        listener: RecordingListener,
    ) -> None:
        self.manifest = manifest
        self.id = manifest.recording_id
        self.directory = directory
        self.closed = False
        self._key = key
        self._settings = settings
        self._listener = listener
        self._loop = asyncio.get_running_loop()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"rec-{self.id[:24]}")
        self._pending = 0
        self._pending_lock = threading.Lock()
        # loop-side state
        self._tracks: dict[str, TrackSpec] = {}
        self._clock: dict[str, int] = {}
        self._feeds: list[TrackFeed] = []
        self._request_keyframe: Callable[[], None] = lambda: None
        self._seg_open = False
        self._seg_base = 0.0
        self._keyframe_asked_at = 0.0
        self._failed = False
        self._last_resume_try = 0.0
        self._gap_start: float | None = None  # wall clock where coverage stopped
        self._gap_kind = ""
        self._gap_reason = ""
        self._last_wall = 0.0
        self.dropped_frames = 0
        self.close_latencies: deque[float] = deque(maxlen=100)
        self._batch: list[tuple[str, bytes, float, float, bool]] = []
        # writer-side state
        self._seg: SegmentFile | None = None
        self._w_open_gap: mf.ContinuityEntry | None = None
        self._submit(self._w_save)

    # ------------------------------------------------------------ loop side

    @property
    def video(self) -> bool:
        return "video" in self._tracks

    def attach(
        self, tracks: list[tuple[str, str, int]], request_keyframe: Callable[[], None]
    ) -> dict[str, TrackFeed]:
        """A publisher (first or back after a disconnect) feeds these tracks."""
        self._tracks = {kind: TrackSpec(kind, mime) for kind, mime, _ in tracks}
        self._clock = {kind: rate for kind, _, rate in tracks}
        self._request_keyframe = request_keyframe
        self._feeds = [
            TrackFeed(kind, mime, rate, self._on_frame, self._on_loss, self._feed_ended)
            for kind, mime, rate in tracks
        ]
        if self._gap_start is None and self.manifest.segments:
            self._gap_start, self._gap_kind = self._last_wall, "publisher-disconnect"
            self._gap_reason = "publisher reconnected"
        elif self._gap_start is None:
            self._gap_start, self._gap_kind = time.time(), "keyframe-wait"
            self._gap_reason = "waiting for the first keyframe"
        request_keyframe()
        return {f.kind: f for f in self._feeds}

    def detach(self, reason: str = "publisher disconnected") -> None:
        """The publisher is gone; coverage stops here until it returns (or we close)."""
        for f in self._feeds:
            f.closed = True
        self._feeds = []
        if self._seg_open:
            self._close_segment()
        if self._gap_start is None:
            self._gap_start = self._last_wall or time.time()
            self._gap_kind, self._gap_reason = "publisher-disconnect", reason

    def _feed_ended(self, feed: TrackFeed) -> None:
        if all(f.closed for f in self._feeds):
            self.detach()

    def _on_loss(self, kind: str, loss: Loss) -> None:
        self.add_gap(
            "loss",
            loss.since,
            None,
            f"{loss.packets} {kind} packets lost and not repaired by NACK",
        )
        if kind == "video":
            self._request_keyframe()

    def _on_frame(self, kind: str, frame: EncodedFrame, wall: float) -> None:
        if self.closed:
            return
        leads = kind == "video" or not self.video  # which track decides segment cuts
        if leads:
            if self._failed and not self._seg_open:
                if not frame.keyframe and self.video:
                    return
                if wall - self._last_resume_try < 1.0:  # one try per second of media
                    return
                self._last_resume_try = wall
                self._open_segment(frame, wall, resume=True)
            elif not self._seg_open:
                if self.video and not frame.keyframe:
                    self.dropped_frames += 1
                    return
                self._open_segment(frame, wall)
            elif wall - self._seg_base >= self._settings.segment_seconds - 0.02:
                if frame.keyframe or not self.video:
                    self._close_segment()
                    self._open_segment(frame, wall)
                else:
                    # Boundary reached: the next segment must start on a keyframe.
                    now = time.monotonic()
                    if now - self._keyframe_asked_at > 1.0:
                        self._keyframe_asked_at = now
                        self._request_keyframe()
        if not self._seg_open:
            return
        if wall < self._seg_base:
            # A frame from before this segment's first keyframe, arriving after it
            # (audio interleaving): its segment is closed; a few ms at most.
            self.dropped_frames += 1
            return
        with self._pending_lock:
            if self._pending >= self._settings.max_pending_frames:
                self.dropped_frames += 1
                return
        self._last_wall = max(self._last_wall, wall)
        # Frames go to the writer in small batches: one hand-off per ~20 ms, not per frame.
        self._batch.append((kind, frame.data, wall, self._seg_base, frame.keyframe))
        if len(self._batch) == 1:
            self._loop.call_later(0.02, self._flush_batch)

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
        self._seg_open = True
        self._seg_base = wall
        gap = None
        if self._gap_start is not None:
            if wall - self._gap_start > 0.05:
                gap = mf.ContinuityEntry(
                    iso(self._gap_start), iso(wall), self._gap_kind, self._gap_reason
                )
            self._gap_start = None
        self._submit(self._w_open, list(self._tracks.values()), resume, wall, gap)

    def _close_segment(self, flags: list[str] | None = None) -> None:
        self._seg_open = False
        self._submit(self._w_close_segment, flags or [], time.monotonic())

    def add_gap(self, kind: str, start: float, end: float | None, reason: str) -> None:
        entry = mf.ContinuityEntry(iso(start), iso(end) if end else None, kind, reason)
        self._submit(self._w_add_continuity, entry)

    def _writer_failed(self, kind: str, message: str) -> None:
        self._seg_open = False
        self._failed = True
        self._listener.alarm(self, kind, message)

    def _writer_resumed(self) -> None:
        self._failed = False

    async def close(self) -> None:
        """Close the open segment, mark the recording closed, stop the writer. Idempotent."""
        if self.closed:
            return
        self.detach("recording closed")
        self.closed = True
        self._submit(self._w_finalize)
        await asyncio.wrap_future(self._submit(lambda: None))
        self._writer.shutdown(wait=True)
        self._listener.recording_closed(self)

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

    def _notify(self, fn: Callable[..., None], *args: Any) -> None:
        self._loop.call_soon_threadsafe(fn, *args)

    # ------------------------------------------------------------ writer thread

    def _w_save(self) -> bool:
        try:
            mf.save(self.directory, self.manifest, self._key)
            return True
        except OSError as exc:
            logger.error("recording %s: manifest not saved: %s", self.id, exc)
            return False

    def _w_open(
        self,
        tracks: list[TrackSpec],
        resume: bool,
        wall: float,
        gap: mf.ContinuityEntry | None,
    ) -> None:
        # Numbered here, by what was really written: failed attempts leave no hole.
        index = len(self.manifest.segments) + 1
        free = shutil.disk_usage(self.directory).free
        if free < self._settings.min_free_bytes:
            if not resume:
                self._w_fail(OSError(errno.ENOSPC, "free space below the minimum"), wall)
            return
        try:
            self._seg = SegmentFile(self.directory, index, self.manifest.container, tracks)
        except OSError as exc:
            self._w_fail(exc, wall)
            return
        self.manifest.open_segment = {"file": self._seg.part.name, "start": iso(wall)}
        self._w_save()
        if self._w_open_gap is not None:  # coverage resumes after a write failure
            self._w_open_gap.end = iso(wall)
            self._notify(self._listener.continuity, self, self._w_open_gap)
            self._w_open_gap = None
            self._w_save()
            self._notify(self._writer_resumed)
        if gap is not None:
            self._w_add_continuity(gap)

    def _w_write_batch(self, batch: list[tuple[str, bytes, float, float, bool]]) -> None:
        for item in batch:
            self._w_write(*item)

    def _w_write(self, kind: str, data: bytes, wall: float, base: float, key: bool) -> None:
        if self._seg is None:
            return
        try:
            self._seg.write(kind, data, wall, base, key)
        except Exception as exc:
            self._w_fail(exc, self._seg.first_wall or wall)

    def _w_close_segment(self, flags: list[str], decided: float | None = None) -> None:
        seg, self._seg = self._seg, None
        if seg is None:
            return
        if seg.frames == 0:
            seg.abandon()
            seg.part.unlink(missing_ok=True)
            self.manifest.open_segment = None
            return
        try:
            path = seg.finish()
        except Exception as exc:
            self._seg = seg
            self._w_fail(exc, seg.first_wall or time.time())
            return
        self.manifest.open_segment = None
        digest = chain.sha256_file(path)
        link = chain.link(self.manifest.last_chain, digest)
        first = seg.first_wall or 0.0
        last = seg.end_wall()
        entry = mf.SegmentEntry(
            index=seg.index,
            file=path.name,
            start=iso(first),
            end=iso(last),
            duration=round(last - first, 3),
            bytes=path.stat().st_size,
            sha256=digest.hex(),
            chain=link.hex(),
            flags=flags,
        )
        self.manifest.segments.append(entry)
        self._w_save()
        if decided is not None:  # cut decided on the loop -> chained and signed on disk
            self.close_latencies.append(time.monotonic() - decided)
        self._notify(self._listener.segment_closed, self, entry)

    def _w_add_continuity(self, entry: mf.ContinuityEntry) -> None:
        self.manifest.continuity.append(entry)
        self._w_save()
        self._notify(self._listener.continuity, self, entry)

    def _w_fail(self, exc: BaseException, since: float) -> None:
        seg, self._seg = self._seg, None
        if seg is not None:
            seg.abandon()
            seg.part.unlink(missing_ok=True)  # frees the space; the gap is logged below
        self.manifest.open_segment = None
        full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
        kind = "disk-full" if full else "write-failure"
        if self._w_open_gap is None:
            self._w_open_gap = mf.ContinuityEntry(
                iso(since), None, kind, f"segment not written: {exc}"
            )
            self.manifest.continuity.append(self._w_open_gap)
            self._w_save()  # may fail too on a full disk; retried at the next save
        self._notify(self._writer_failed, kind, str(exc))

    def _w_finalize(self) -> None:
        self._w_close_segment([])
        self.manifest.state = "closed"
        self.manifest.ended_at = iso(time.time())
        self._w_save()
