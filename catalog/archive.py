"""What the recordings API reads: the catalog joined with the files, verification results
cached per recording, and every segment access audited before it is served.

Blocking (database and file reads): async handlers call these through asyncio.to_thread.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recorder import manifest as mf
from recorder import verify_recording

from .recordings import Catalog, SegmentFile
from .schema import iso

CONTENT_TYPES = {"webm": "video/webm", "mp4": "video/mp4"}
_CACHE_SIZE = 512

Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(directory: Path) -> Fingerprint:
    """What a verification result depends on: the manifest's and the segment files'
    size and mtime. Any write to them (or a file added or removed) changes it."""
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return ()
    out = []
    for entry in entries:
        if entry.name.startswith(("manifest.", "node.pub", "seg-")):
            st = entry.stat()
            out.append((entry.name, st.st_size, st.st_mtime_ns))
    return tuple(out)


class Archive:
    def __init__(self, catalog: Catalog, trusted_public_keys: list[bytes] | None) -> None:
        self.catalog = catalog
        self._trusted = trusted_public_keys
        self._cache: OrderedDict[str, tuple[Fingerprint, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def directory(self, recording_id: str) -> Path:
        return self.catalog.recordings_dir / recording_id

    def detail(self, recording_id: str) -> dict[str, Any] | None:
        """Catalog entry, manifest and verification state; None if unknown."""
        summary = self.catalog.recording(recording_id)
        if summary is None:
            return None
        directory = self.directory(recording_id)
        try:
            manifest: Any = json.loads((directory / mf.MANIFEST).read_bytes())
        except (OSError, ValueError):
            manifest = None
        verification = self.verification(recording_id, live=summary["state"] == "recording")
        summary["verified_state"] = verification["state"]
        summary["verified_at"] = verification["checked_at"]
        return {"recording": summary, "manifest": manifest, "verification": verification}

    def verification(self, recording_id: str, live: bool = False) -> dict[str, Any]:
        """verify_recording's result, recomputed only when the files changed."""
        directory = self.directory(recording_id)
        key = fingerprint(directory)
        with self._lock:
            cached = self._cache.get(recording_id)
            if cached is not None and cached[0] == key:
                self._cache.move_to_end(recording_id)
                return cached[1]
        # A station-spooled recording is checked against its station's enrolled key.
        trusted = self.catalog.trusted_keys_for(directory, self._trusted)
        result = verify_recording(directory, trusted)
        if not result.ok and live:
            # A segment closing right now is renamed into place just before the manifest
            # that lists it is written: look again once that has happened.
            time.sleep(0.5)
            key = fingerprint(directory)
            result = verify_recording(directory, trusted)
        checked = datetime.now(UTC)
        out = {
            "state": "ok" if result.ok else "failed",
            "summary": result.summary(),
            "problems": result.problems,
            "issues": [p.as_json() for p in result.issues],
            "segments": result.segments,
            "bytes": result.bytes,
            "duration": round(result.duration, 3),
            "signer_trusted": result.signer_trusted,
            "checked_at": iso(checked),
        }
        with self._lock:
            self._cache[recording_id] = (key, out)
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        self.catalog.set_verified(recording_id, result.ok, checked)
        return out

    def open_segment(
        self, recording_id: str, index: int, actor: str, byte_range: str | None
    ) -> SegmentFile | None:
        """The segment to serve, after its access is in the audit log; None if unknown."""
        seg = self.catalog.segment(recording_id, index)
        if seg is None or not seg.path.is_file():
            return None
        self.catalog.audit(
            actor,
            "segment.view",
            f"{recording_id}/segments/{index}",
            {"file": seg.file, "range": byte_range},
        )
        return seg
