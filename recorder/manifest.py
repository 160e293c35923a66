"""manifest.json: what a recording holds, segment by segment, and what went missing.

Written atomically (temp file, fsync, rename, fsync of the directory) and signed after
every closed segment, so after a crash the manifest on disk always describes exactly
the closed segments that exist.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .signing import NodeKey

FORMAT = "vdispatch-recording/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "node.pub"
# A station's spool: its manifests' node_id is "station:{station id}", signed by the
# station's own key (node.pub then holds the station's public key).
STATION_PREFIX = "station:"
# A segment flag: its file was removed on purpose (a station's spool ring: uploaded, or
# the disk cap reached, which the continuity log says); verify does not miss it.
EVICTED = "evicted"


@dataclass
class SegmentEntry:
    index: int  # from 1, as in the file name
    file: str
    start: str  # ISO 8601 UTC wall clock of the first frame
    end: str
    duration: float  # seconds
    bytes: int
    sha256: str  # hex
    chain: str  # hex: sha256(prev_chain || sha256)
    flags: list[str] = field(default_factory=list)  # e.g. "salvaged"


@dataclass
class ContinuityEntry:
    """A span of wall-clock time the recording does not cover, and why."""

    start: str
    end: str | None
    # publisher-disconnect | loss | keyframe-wait | write-failure | disk-full | lost-on-crash
    # | session-cut (the head of a recording cut over from another, which covers it)
    # | node-lost (from another node's last segment to this recording's first frame)
    # | clock (no gap, start == end: a track re-timed by arrival from here on)
    # | dropped (frames received in this span and not written: how many, which track, why)
    kind: str
    reason: str


@dataclass
class Manifest:
    recording_id: str
    stream: str
    station: str
    node_id: str
    container: str  # "webm" | "mp4"
    codecs: dict[str, str]  # kind -> codec name
    started_at: str
    session: str | None = None
    ended_at: str | None = None
    state: str = "recording"  # recording | closed | interrupted
    # Why it closed: "node stopped" | "publisher lost" (no reconnect within the grace
    # period) | "codecs changed" (back with other codecs) | "node crashed" (salvaged) |
    # "session {id} started" / "session {id} ended" (cut over to a new recording)
    end_reason: str | None = None
    segments: list[SegmentEntry] = field(default_factory=list)
    continuity: list[ContinuityEntry] = field(default_factory=list)
    # The recording this one continues: another node's, left open when that node was
    # lost (its publisher failed over here); the gap is a "node-lost" continuity entry.
    continues: str | None = None
    # The segments being written (file, start), so a crash can be accounted for.
    open_segments: list[dict[str, str]] = field(default_factory=list)
    format: str = FORMAT

    def to_json(self) -> bytes:
        return (
            json.dumps(asdict(self), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        raw: dict[str, Any] = json.loads(data)
        if raw.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} manifest")
        raw["segments"] = [SegmentEntry(**s) for s in raw.get("segments", [])]
        raw["continuity"] = [ContinuityEntry(**c) for c in raw.get("continuity", [])]
        return cls(**raw)

    @property
    def last_chain(self) -> bytes:
        return bytes.fromhex(self.segments[-1].chain) if self.segments else bytes(32)


def write_durably(path: Path, data: bytes) -> None:
    """Temp file, fsync, rename over, fsync the directory."""
    _replace_together([(path, data)])


def _replace_together(files: list[tuple[Path, bytes]]) -> None:
    """Every temp file written and fsynced first, then the renames back to back, then
    one directory fsync: a crash leaves the old set or the new one, except for the few
    microseconds between two renames."""
    tmps = []
    for path, data in files:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmps.append((tmp, path))
    for tmp, path in tmps:
        os.replace(tmp, path)
    fsync_dir(files[0][0].parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(directory: Path, manifest: Manifest, key: NodeKey) -> None:
    """Write manifest, its signature and the public key. Blocking: call from a thread."""
    data = manifest.to_json()
    pub = directory / PUBLIC_KEY
    if not pub.exists() or pub.read_bytes() != key.public_pem:
        write_durably(pub, key.public_pem)
    # The manifest and its signature are replaced as a pair; salvage re-signs after a
    # crash, should one ever land between the two renames.
    _replace_together([(directory / SIGNATURE, key.sign(data)), (directory / MANIFEST, data)])


def save_signed(directory: Path, data: bytes, signature: bytes, public_pem: bytes) -> None:
    """Store a manifest signed elsewhere (a station's), as `save` would have. Blocking."""
    pub = directory / PUBLIC_KEY
    if not pub.exists() or pub.read_bytes() != public_pem:
        write_durably(pub, public_pem)
    _replace_together([(directory / SIGNATURE, signature), (directory / MANIFEST, data)])


def load(directory: Path) -> Manifest:
    return Manifest.from_json((directory / MANIFEST).read_bytes())
