"""The recorder's settings section; composed and validated by vdispatch.settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RecorderSettings:
    data_dir: Path
    segment_seconds: float = 10.0
    enabled: bool = True
    # A publisher back within this many seconds continues the same recording.
    reconnect_grace: float = 30.0
    # Frames queued for the writer thread before we drop and log a gap.
    max_pending_frames: int = 600
    # Free space below which a new segment is not started (bytes).
    min_free_bytes: int = 8 * 1024 * 1024

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def key_path(self) -> Path:
        return self.data_dir / "keys" / "node-ed25519.pem"
