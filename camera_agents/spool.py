"""The station's own evidence: every camera recorded locally, whatever the link does.

Each camera's encoded packets (its `sinks` hook) go to one writer thread through a bounded
queue; the thread writes the recorder's format (recorder.SegmentFile segments, the sha256
hash chain, manifest.json signed with the station's key, node_id "station:{id}"), one
recording per camera per agent run, `spool-{stream}-{start}`. The back-filler uploads the
closed segments and says which the centre holds (`uploaded`).

The spool is a ring bounded by `max_bytes`: uploaded segments are removed first; a segment
the centre does not have is removed only when nothing else can go, with an alarm (log and
status) and a continuity entry in its recording's manifest. A removed segment stays listed,
flagged "evicted" (signed), so the chain and `vdispatch verify` hold on what remains.

Every camera hands the sinks encoded packets (USB cameras and the test pattern are encoded
to H.264 or VP8 at the agent). A source handing decoded pictures would not be spooled, and
the status would name it (`not_spooled`): none does.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av

from recorder import NodeKey, SegmentFile, TrackSpec, chain, container_for, iso
from recorder import continuity as cont
from recorder import manifest as mf

from .source import Kind, Payload

logger = logging.getLogger(__name__)

SEGMENT_SECONDS = 10.0
QUEUE_SIZE = 3000  # packets (~1.5 min of one camera) before the spool drops and says so

AUDIO_STEP = 0.001  # seconds between two audio packets at least (see _write)
RESYNC = 1.0  # seconds a packet's timestamp may drift from the wall clock
_H264_START = (b"\x00\x00\x00\x01", b"\x00\x00\x01")
_VP8_KEY_START = b"\x9d\x01\x2a"


def spool_id(stream: str, at: float) -> str:
    return f"spool-{stream}-{datetime.fromtimestamp(at, UTC).strftime('%Y%m%dt%H%M%Sz')}"


@dataclass
class _Camera:
    """A camera's recording (writer thread only)."""

    stream: str
    directory: Path
    manifest: mf.Manifest
    audio_seen: bool = False  # audio declared or arrived: segments opened have its track
    last_audio: float = 0.0  # wall clock of the last audio packet written
    segment: SegmentFile | None = None
    base: float = 0.0


@dataclass
class SpoolStatus:
    bytes: int = 0
    segments: int = 0  # closed segments on disk
    not_uploaded: int = 0
    evicted_unuploaded: int = 0
    dropped: int = 0
    alarm: str | None = None
    alarm_at: float | None = None
    skipped_decoded: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "bytes": self.bytes,
            "segments": self.segments,
            "not_uploaded": self.not_uploaded,
            "evicted_unuploaded": self.evicted_unuploaded,
            "dropped": self.dropped,
            "alarm": self.alarm,
            "alarm_at": self.alarm_at,
            "not_spooled": sorted(set(self.skipped_decoded)),
        }


class Spool:
    def __init__(
        self,
        directory: Path,
        key_path: Path,
        station: str,
        max_bytes: int,
        segment_seconds: float = SEGMENT_SECONDS,
    ) -> None:
        self.directory = directory
        self.station = station
        self.max_bytes = max_bytes
        self.segment_seconds = segment_seconds
        self.status = SpoolStatus()
        self._key_path = key_path
        self._key: NodeKey | None = None
        self._queue: queue.Queue[tuple[Callable[..., None], tuple[Any, ...]]] = queue.Queue(
            QUEUE_SIZE
        )
        self._cameras: dict[str, _Camera] = {}
        # (recording id, index) -> bytes of every closed segment on disk, oldest first
        self._on_disk: dict[tuple[str, int], int] = {}
        self._uploaded: set[tuple[str, int]] = set()
        self._drops: dict[str, tuple[int, float]] = {}  # stream -> (packets, since)
        self._lock = threading.Lock()  # _on_disk/_uploaded: read by the back-filler
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self.on_segment: Callable[[str, int], None] = lambda rid, index: None  # writer thread

    # ------------------------------------------------------------ any thread

    def start(self) -> None:
        """Blocking (disk): before the cameras start, in a thread."""
        if not self._key_path.exists():
            logger.warning(
                "station key %s missing: made now; run vdispatch station enroll", self._key_path
            )
        # Made here if enrollment has not run, so the spool records anyway: the centre
        # takes its uploads once the key is enrolled.
        self._key = NodeKey.load_or_create(self._key_path)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._recover()
        self._thread.start()

    def stop(self) -> None:
        """Blocking: close every recording and join the writer."""
        self._queue.put((self._close_all, ()))
        self._queue.put((self._quit, ()))
        self._thread.join(30)

    @property
    def key(self) -> NodeKey:
        assert self._key is not None, "Spool.start loads the key"
        return self._key

    def recordings(self) -> list[Path]:
        return sorted(p for p in self.directory.iterdir() if (p / mf.MANIFEST).is_file())

    def pending(self) -> list[tuple[str, int]]:
        """Closed segments on disk the centre does not hold yet, oldest first."""
        with self._lock:
            return [k for k in self._on_disk if k not in self._uploaded]

    def uploaded(self, recording_id: str, index: int) -> None:
        """The centre holds this segment: it may go first when space is needed."""
        with self._lock:
            self._uploaded.add((recording_id, index))
        with contextlib.suppress(queue.Full):  # never blocks the loop; the next close counts
            self._queue.put_nowait((self._account, ()))

    # ------------------------------------------------------------ the loop (sinks)

    def sink(
        self, stream: str, audio: Callable[[], bool] | None = None
    ) -> Callable[[Kind, Payload, bool], None]:
        """`audio`: whether the camera has sound, asked at each keyframe. A segment opens
        with the tracks declared, so the first one (opened at the first picture, before any
        sound arrives) has its audio track: the camera's first seconds of sound are kept."""
        # Per kind: wall clock minus media time. Packets are timed by their own timestamps
        # (audio comes in bursts: its arrival times would collide in the muxer), anchored
        # to the wall clock and re-anchored when they drift a second from it.
        anchors: dict[str, float] = {}

        def put(kind: Kind, payload: Payload, keyframe: bool) -> None:
            if not isinstance(payload, av.Packet):
                if stream not in self.status.skipped_decoded:
                    self.status.skipped_decoded.append(stream)
                return
            now = time.time()
            wall = now
            if payload.pts is not None and payload.time_base is not None:
                media = float(payload.pts * payload.time_base)
                anchor = anchors.get(kind)
                if anchor is None or abs(anchor + media - now) > RESYNC:
                    anchor = anchors[kind] = now - media
                wall = anchor + media
            declared = keyframe and kind == "video" and audio is not None and audio()
            item = (self._write, (stream, kind, bytes(payload), wall, keyframe, declared))
            try:
                self._queue.put_nowait(item)
            except queue.Full:  # the disk is too slow: counted, logged as a gap
                with self._lock:
                    self.status.dropped += 1
                    n, since = self._drops.get(stream, (0, time.time()))
                    self._drops[stream] = (n + 1, since)

        return put

    # ------------------------------------------------------------ writer thread

    def _run(self) -> None:
        while True:
            fn, args = self._queue.get()
            if fn == self._quit:
                return
            try:
                fn(*args)
            except Exception:
                logger.exception("spool: %s failed", getattr(fn, "__name__", fn))

    def _quit(self) -> None:
        pass

    def _camera(self, stream: str, now: float) -> _Camera:
        cam = self._cameras.get(stream)
        if cam is None:
            rid = spool_id(stream, now)
            manifest = mf.Manifest(
                recording_id=rid,
                stream=stream,
                station=self.station,
                node_id=f"{mf.STATION_PREFIX}{self.station}",
                container="mp4",
                codecs={},
                started_at=iso(now),
            )
            cam = _Camera(stream, self.directory / rid, manifest)
            cam.directory.mkdir(parents=True, exist_ok=True)
            self._cameras[stream] = cam
        return cam

    def _write(
        self, stream: str, kind: str, data: bytes, wall: float, keyframe: bool, audio: bool
    ) -> None:
        cam = self._camera(stream, wall)
        if kind == "audio" or audio:
            cam.audio_seen = True
        with self._lock:
            drops = self._drops.pop(stream, None)
        if drops is not None:
            reason = cont.reason("spool-dropped", frames=drops[0])
            cam.manifest.continuity.append(
                mf.ContinuityEntry(iso(drops[1]), iso(wall), "loss", reason)
            )
        if kind == "video":
            due = cam.segment is not None and wall - cam.base >= self.segment_seconds
            if keyframe and (cam.segment is None or due):
                self._close(cam)
                self._open(cam, data, wall)
        if cam.segment is not None and kind == "audio":
            # Audio captured just before a cut starts the new segment, and never two packets
            # within a millisecond: the MP4 muxer counts audio at 48 kHz and refuses
            # timestamps that do not rise.
            wall = max(wall, cam.base, cam.last_audio + AUDIO_STEP)
            cam.last_audio = wall
        if cam.segment is not None:
            try:
                cam.segment.write(kind, data, wall, cam.base, keyframe and kind == "video")
            except (OSError, av.FFmpegError) as exc:
                self._failed(cam, exc, wall)

    def _open(self, cam: _Camera, data: bytes, wall: float) -> None:
        mime = "video/h264" if data.startswith(_H264_START) else "video/vp8"
        width = height = None
        if mime == "video/vp8" and len(data) >= 10 and data[3:6] == _VP8_KEY_START:
            # the keyframe header's size (RFC 6386 §9.1): WebM's track header states it
            # (an H.264 stream's own SPS says it, whatever the MP4 header holds)
            width = int.from_bytes(data[6:8], "little") & 0x3FFF
            height = int.from_bytes(data[8:10], "little") & 0x3FFF
        tracks = [TrackSpec("video", mime, width, height)]
        if cam.audio_seen:
            tracks.append(TrackSpec("audio", "audio/opus"))
        m = cam.manifest
        m.container = container_for([t.mime for t in tracks])
        m.codecs = {t.kind: t.mime.split("/")[1] for t in tracks}
        index = len(m.segments) + 1
        try:
            cam.segment = SegmentFile(cam.directory, index, m.container, tracks)
        except (OSError, av.FFmpegError) as exc:
            self._failed(cam, exc, wall)
            return
        cam.base = wall
        m.open_segments = [{"file": cam.segment.part.name, "start": iso(wall)}]
        mf.save(cam.directory, m, self.key)

    def _failed(self, cam: _Camera, exc: Exception, wall: float) -> None:
        """A write failed (a full or broken disk): the segment is given up, the span logged
        in the manifest, the alarm raised; the next keyframe tries a new segment."""
        seg, cam.segment = cam.segment, None
        if seg is not None:
            seg.abandon()
            seg.part.unlink(missing_ok=True)
        since = seg.first_wall if seg is not None and seg.first_wall else wall
        cam.manifest.open_segments = []
        cam.manifest.continuity.append(
            mf.ContinuityEntry(
                iso(since), iso(wall), "write-failure", cont.reason("write-failed", error=exc)
            )
        )
        self.status.alarm = f"{cam.stream}: spool write failed: {exc}"
        self.status.alarm_at = time.time()
        logger.error("spool alarm: %s", self.status.alarm)
        with contextlib.suppress(OSError):
            mf.save(cam.directory, cam.manifest, self.key)

    def _close(self, cam: _Camera) -> None:
        seg, cam.segment = cam.segment, None
        if seg is None:
            return
        m = cam.manifest
        m.open_segments = []
        if seg.frames == 0:
            seg.abandon()
            seg.part.unlink(missing_ok=True)
            return
        try:
            path = seg.finish()
        except (OSError, av.FFmpegError) as exc:
            cam.segment = seg
            self._failed(cam, exc, seg.last_wall or time.time())
            return
        digest = chain.sha256_file(path)
        first, last = seg.first_wall or cam.base, seg.end_wall()
        entry = mf.SegmentEntry(
            index=seg.index,
            file=path.name,
            start=iso(first),
            end=iso(last),
            duration=round(last - first, 3),
            bytes=path.stat().st_size,
            sha256=digest.hex(),
            chain=chain.link(m.last_chain, digest).hex(),
        )
        m.segments.append(entry)
        mf.save(cam.directory, m, self.key)
        with self._lock:
            self._on_disk[(m.recording_id, entry.index)] = entry.bytes
        self._account()
        self.on_segment(m.recording_id, entry.index)

    def _close_all(self) -> None:
        for cam in self._cameras.values():
            self._close(cam)
            cam.manifest.state = "closed"
            cam.manifest.end_reason = cont.reason("node-stopped")
            cam.manifest.ended_at = iso(time.time())
            mf.save(cam.directory, cam.manifest, self.key)
        self._cameras.clear()

    # ------------------------------------------------------------ the ring

    def _account(self) -> None:
        """Keep the spool under max_bytes: uploaded segments first, then (alarmed) the
        oldest the centre lacks; never a segment being written."""
        with self._lock:
            total = sum(self._on_disk.values())
            order = list(self._on_disk)
            uploaded = [k for k in order if k in self._uploaded]
            lacking = [k for k in order if k not in self._uploaded]
        open_bytes = sum(
            c.segment.part.stat().st_size
            for c in self._cameras.values()
            if c.segment is not None and c.segment.part.exists()
        )
        for victim in uploaded + lacking:
            if total + open_bytes <= self.max_bytes:
                break
            total -= self._evict(*victim, lost=victim not in uploaded)
        with self._lock:
            self.status.bytes = sum(self._on_disk.values())
            self.status.segments = len(self._on_disk)
            self.status.not_uploaded = sum(1 for k in self._on_disk if k not in self._uploaded)

    def _evict(self, rid: str, index: int, lost: bool) -> int:
        cam = next((c for c in self._cameras.values() if c.manifest.recording_id == rid), None)
        directory = self.directory / rid
        manifest = cam.manifest if cam is not None else mf.load(directory)
        entry = manifest.segments[index - 1]
        entry.flags = [*entry.flags, mf.EVICTED]
        if lost:
            manifest.continuity.append(
                mf.ContinuityEntry(
                    entry.start, entry.end, "spool-full", cont.reason("spool-evicted", index=index)
                )
            )
        # The manifest says so before the file goes: a crash between leaves a file too many,
        # never a listed one missing unannounced.
        mf.save(directory, manifest, self.key)
        with contextlib.suppress(FileNotFoundError):
            (directory / entry.file).unlink()
        with self._lock:
            size = self._on_disk.pop((rid, index), 0)
            self._uploaded.discard((rid, index))
        if lost:
            self.status.evicted_unuploaded += 1
            self.status.alarm = (
                f"spool full ({self.max_bytes} bytes): {rid} segment {index} removed before upload"
            )
            self.status.alarm_at = time.time()
            logger.error("spool alarm: %s", self.status.alarm)
        return size

    # ------------------------------------------------------------ start-up

    def _recover(self) -> None:
        """Recordings of an earlier run: closed as interrupted (their open segment's .part
        is gone with a continuity entry), their segments on disk counted for the ring."""
        for directory in self.recordings():
            try:
                m = mf.load(directory)
            except (OSError, ValueError, TypeError, KeyError):
                logger.warning("spool: %s: unreadable manifest, left alone", directory)
                continue
            if m.state == "recording":
                for part in directory.glob("*.part"):
                    part.unlink()
                for o in m.open_segments:
                    m.continuity.append(
                        mf.ContinuityEntry(
                            o["start"], None, "lost-on-crash", cont.reason("lost-on-crash")
                        )
                    )
                m.open_segments = []
                m.state, m.end_reason = "interrupted", cont.reason("node-crashed")
                mf.save(directory, m, self.key)
            for s in m.segments:
                if mf.EVICTED not in s.flags and (directory / s.file).is_file():
                    self._on_disk[(m.recording_id, s.index)] = s.bytes
        self._account()
