"""The writer-thread half of a Recording: every file and manifest operation, in order.

Only the recording's single writer thread runs these methods; the event-loop half
(recording.py) decides what to write and submits them.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import chain
from . import manifest as mf
from .continuity import reason
from .segment import SegmentFile, TrackSpec
from .settings import RecorderSettings
from .signing import NodeKey

if TYPE_CHECKING:
    from .recording import RecordingListener

logger = logging.getLogger(__name__)


def iso(wall: float) -> str:
    return (
        datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


class RecordingWriter:
    # state shared with the loop half (set up by Recording.__init__)
    id: str
    manifest: mf.Manifest
    directory: Path
    close_latencies: deque[float]
    _key: NodeKey
    _settings: RecorderSettings
    _listener: RecordingListener
    _loop: asyncio.AbstractEventLoop
    _segs: dict[int, SegmentFile]
    _w_open_gap: mf.ContinuityEntry | None

    def _writer_failed(self, kind: str, message: str) -> None: ...

    def _writer_resumed(self) -> None: ...

    def _segment_written(self, entry: mf.SegmentEntry, latency: float | None) -> None: ...

    def _notify(self, fn: Callable[..., None], *args: Any) -> None:
        self._loop.call_soon_threadsafe(fn, *args)

    def _w_create(self) -> None:
        """The recording's directory and its first manifest."""
        try:
            self.directory.mkdir(parents=True)
        except OSError as exc:
            self._w_fail(exc, time.time())
            return
        self._w_save()

    def _w_save(self) -> bool:
        try:
            mf.save(self.directory, self.manifest, self._key)
            return True
        except OSError as exc:
            logger.error("recording %s: manifest not saved: %s", self.id, exc)
            return False

    def _w_open(
        self,
        slot: int,
        tracks: list[TrackSpec],
        resume: bool,
        wall: float,
        gap: mf.ContinuityEntry | None,
    ) -> None:
        # Numbered here, by what was really written: failed attempts leave no hole.
        index = len(self.manifest.segments) + len(self._segs) + 1
        try:
            free = shutil.disk_usage(self.directory).free
        except OSError as exc:  # the directory could not be made
            if not resume:
                self._w_fail(exc, wall)
            return
        if free < self._settings.min_free_bytes:
            if not resume:
                self._w_fail(OSError(errno.ENOSPC, "free space below the minimum"), wall)
            return
        try:
            self._segs[slot] = SegmentFile(self.directory, index, self.manifest.container, tracks)
        except OSError as exc:
            self._w_fail(exc, wall)
            return
        self.manifest.open_segments.append({"file": self._segs[slot].part.name, "start": iso(wall)})
        self._w_save()
        if self._w_open_gap is not None:  # coverage resumes after a write failure
            self._w_open_gap.end = iso(wall)
            self._notify(self._listener.continuity, self, self._w_open_gap)
            self._w_open_gap = None
            self._w_save()
            self._notify(self._writer_resumed)
        if gap is not None:
            self._w_add_continuity(gap)

    def _w_write_batch(self, batch: list[tuple[int, str, bytes, float, float, bool]]) -> None:
        for slot, kind, data, wall, base, key in batch:
            seg = self._segs.get(slot)
            if seg is None:
                continue
            try:
                seg.write(kind, data, wall, base, key)
            except Exception as exc:
                self._w_fail(exc, seg.first_wall or wall)

    def _w_close_segment(self, slot: int, flags: list[str], decided: float | None = None) -> None:
        seg = self._segs.pop(slot, None)
        if seg is None:
            return
        self.manifest.open_segments = [
            o for o in self.manifest.open_segments if o["file"] != seg.part.name
        ]
        if seg.frames == 0:
            seg.abandon()
            seg.part.unlink(missing_ok=True)
            return
        try:
            path = seg.finish()
        except Exception as exc:
            self._segs[slot] = seg
            self._w_fail(exc, seg.first_wall or time.time())
            return
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
        latency = None
        if decided is not None:  # cut decided on the loop -> chained and signed on disk
            latency = time.monotonic() - decided
            self.close_latencies.append(latency)
        self._notify(self._segment_written, entry, latency)

    def _w_add_continuity(self, entry: mf.ContinuityEntry) -> None:
        self.manifest.continuity.append(entry)
        self._w_save()
        self._notify(self._listener.continuity, self, entry)

    def _w_fail(self, exc: BaseException, since: float) -> None:
        segs, self._segs = list(self._segs.values()), {}
        for seg in segs:
            seg.abandon()
            seg.part.unlink(missing_ok=True)  # frees the space; the gap is logged below
            since = min(since, seg.first_wall or since)
        self.manifest.open_segments = []
        full = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
        kind = "disk-full" if full else "write-failure"
        if self._w_open_gap is None:
            self._w_open_gap = mf.ContinuityEntry(
                iso(since), None, kind, reason("write-failed", error=exc)
            )
            self.manifest.continuity.append(self._w_open_gap)
            self._w_save()  # may fail too on a full disk; retried at the next save
        self._notify(self._writer_failed, kind, str(exc))

    def _w_finalize(self, reason: str) -> None:
        for slot in sorted(self._segs):
            self._w_close_segment(slot, [])
        self.manifest.state = "closed"
        self.manifest.end_reason = reason
        self.manifest.ended_at = iso(time.time())
        self._w_save()
