"""The recorder's settings section; composed and validated by vdispatch.settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class RecorderSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Where recordings and the node key live; set by the composition root, not a default here.
    data_dir: Path
    # A segment is closed, hashed and chained every this many seconds.
    segment_seconds: float = Field(default=10.0, gt=0, le=3600)
    # Record every published stream.
    enabled: bool = True
    # A publisher back within this many seconds continues the same recording.
    reconnect_grace: float = Field(default=30.0, ge=0)
    # Frames queued for the writer thread before we drop and log a gap.
    max_pending_frames: int = Field(default=600, ge=1)
    # A frame whose wall clock (from the publisher's sender reports) is further than this
    # from its arrival on the node's clock is put at its arrival, and the recording says
    # so (continuity kind "clock"). 0: never (tests that feed media faster than real time).
    max_clock_skew: float = Field(default=10.0, ge=0)
    # Free space below which a new segment is not started (bytes).
    min_free_bytes: int = Field(default=8 * 1024 * 1024, ge=0)
    # Render an evidence copy of each sealed interrogation in the background (one MP4:
    # the room as the main picture, the prosecutor as picture-in-picture, time burned in).
    evidence_copies: bool = True

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def copies_dir(self) -> Path:
        return self.data_dir / "copies"

    @property
    def key_path(self) -> Path:
        return self.data_dir / "keys" / "node-ed25519.pem"
