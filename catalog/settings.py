"""The catalog's settings section; composed and validated by vdispatch.settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class CatalogSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Where the SQLite catalog and legal holds live; set by the composition root.
    data_dir: Path
    # SQLAlchemy URL; None = SQLite at DATA_DIR/catalog.sqlite3.
    database_url: str | None = None
    # A recording may be deleted by the retention job this many days after it started.
    retention_days: int = Field(default=3650, ge=1, le=365000)
    # The largest segment a station may back-fill in one PUT (bytes; 413 above it).
    ingest_max_segment_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    @property
    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'catalog.sqlite3').absolute()}"

    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / "recordings"

    @property
    def holds_dir(self) -> Path:
        """One file per recording on legal hold: the hold survives a catalog rebuild."""
        return self.data_dir / "legal-holds"
