"""After a crash: account for every recording that was still being written.

Closed segments are untouched (they are complete and chained). The segment that was
open is remuxed up to the last readable packet and chained with the flag "salvaged";
whatever could not be read is entered in the continuity log as lost, with its time
range. The damaged original is kept beside it as `.damaged`. Blocking: run in a thread.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import av

from . import chain
from . import manifest as mf
from .continuity import reason
from .segment import segment_name
from .signing import NodeKey

logger = logging.getLogger(__name__)


def _iso(wall: float) -> str:
    return (
        datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _remux_prefix(part: Path, out: Path, container: str) -> float | None:
    """Copy every readable packet of `part` into `out`; seconds of media saved, or None."""
    try:
        src = av.open(str(part))
    except (av.FFmpegError, OSError):
        return None
    last = 0.0
    packets = 0
    try:
        dst = av.open(str(out), "w", format=container)
        mapping = {s.index: dst.add_stream_from_template(s) for s in src.streams}
        try:
            for packet in src.demux():
                if packet.dts is None or packet.size == 0:
                    continue
                packet.stream = mapping[packet.stream.index]
                dst.mux(packet)
                packets += 1
                if packet.pts is not None and packet.time_base is not None:
                    last = max(last, float(packet.pts * packet.time_base))
        except (av.FFmpegError, OSError, EOFError):
            pass  # the torn tail
        dst.close()
    except (av.FFmpegError, OSError):
        out.unlink(missing_ok=True)
        return None
    finally:
        src.close()
    if packets == 0:
        out.unlink(missing_ok=True)
        return None
    return last


def _media_duration(path: Path) -> float | None:
    """Seconds of media in a complete segment file."""
    try:
        with av.open(str(path)) as c:
            if c.duration:
                return float(c.duration / av.time_base)
            last = 0.0
            for packet in c.demux():
                if packet.pts is not None and packet.time_base is not None:
                    last = max(last, float(packet.pts * packet.time_base))
            return last
    except (av.FFmpegError, OSError):
        return None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    mf.fsync_dir(path.parent)


def salvage_recording(directory: Path, key: NodeKey) -> str | None:
    """Close an interrupted recording; returns a one-line account, or None if it was fine."""
    for tmp in directory.glob("*.tmp"):
        tmp.unlink()
    manifest = mf.load(directory)
    if manifest.state != "recording" or manifest.node_id.startswith(mf.STATION_PREFIX):
        # A station's recording is the station's to close (its key signs it): the centre
        # holds what the station sent, as the station signed it.
        return None
    notes = []
    crash_time = max((p.stat().st_mtime for p in directory.iterdir()), default=0.0)
    opened = sorted(manifest.open_segments, key=lambda o: o["start"])
    parts = sorted(directory.glob("seg-*.part"))
    for n, open_seg in enumerate(opened):
        part = directory / open_seg["file"]
        index = len(manifest.segments) + 1
        final = directory / segment_name(index, manifest.container)
        start = _parse_iso(open_seg["start"])
        # what this segment should have covered: up to the next one's start, or the crash
        until = _parse_iso(opened[n + 1]["start"]) if n + 1 < len(opened) else crash_time
        renamed = directory / open_seg["file"].removesuffix(".part")
        flag = "salvaged"
        if not part.exists() and renamed.is_file():
            # Killed after the rename, before the manifest: the file is complete (it was
            # fsynced before the rename); it only needs chaining.
            if renamed != final:
                renamed.rename(final)
            saved, flag = _media_duration(final), "chained-after-restart"
        else:
            saved = _remux_prefix(part, final, manifest.container) if part.exists() else None
        if saved is not None:
            _fsync(final)
            digest = chain.sha256_file(final)
            manifest.segments.append(
                mf.SegmentEntry(
                    index=index,
                    file=final.name,
                    start=_iso(start),
                    end=_iso(start + saved),
                    duration=round(saved, 3),
                    bytes=final.stat().st_size,
                    sha256=digest.hex(),
                    chain=chain.link(manifest.last_chain, digest).hex(),
                    flags=[flag],
                )
            )
            notes.append(f"{flag} {saved:.1f} s of {final.name}")
            lost_from = start + saved
        else:
            lost_from = start
        if until > lost_from + 0.05:
            manifest.continuity.append(
                mf.ContinuityEntry(
                    _iso(lost_from),
                    _iso(until),
                    "lost-on-crash",
                    reason("lost-on-crash"),
                )
            )
            notes.append(f"{until - lost_from:.1f} s lost")
    for part in parts:
        if part.exists():
            part.rename(part.with_suffix(".damaged"))
    manifest.open_segments = []
    manifest.state = "closed"
    manifest.end_reason = reason("node-crashed")
    manifest.ended_at = _iso(crash_time)
    manifest.continuity.append(
        mf.ContinuityEntry(_iso(crash_time), None, "node-crash", reason("node-crash"))
    )
    mf.save(directory, manifest, key)
    done = ", ".join(notes) or "nothing open"
    return f"{manifest.recording_id}: interrupted recording closed ({done})"


def salvage_all(recordings_dir: Path, key: NodeKey) -> list[str]:
    if not recordings_dir.is_dir():
        return []
    accounts = []
    for directory in sorted(recordings_dir.iterdir()):
        if not (directory / mf.MANIFEST).is_file():
            continue
        try:
            account = salvage_recording(directory, key)
        except Exception:
            logger.exception("salvage of %s failed", directory.name)
            continue
        if account:
            logger.warning("%s", account)
            accounts.append(account)
    return accounts
