"""The recorder's catalog: what recordings exist, their segments and gaps, legal holds,
verification state, and the hash-chained audit log.

SQLite in DATA_DIR by default, PostgreSQL with DATABASE_URL. Every method blocks (it
talks to the database): async code calls them through asyncio.to_thread. The manifests
on disk are the source of truth; `rebuild` recreates everything but the audit log
from them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import sessionmaker

from recorder import manifest as mf

from . import audit as auditlog
from . import db, ingest, queries
from .schema import ContinuityRow, RecordingRow, SegmentRow, StationKeyRow, iso
from .settings import CatalogSettings

logger = logging.getLogger(__name__)

SEGMENT_FILE = re.compile(r"seg-\d{6}\.(webm|mp4)")


class UnknownRecording(LookupError):
    pass


@dataclass(frozen=True)
class SegmentFile:
    recording_id: str
    index: int
    file: str
    path: Path
    container: str
    bytes: int


@dataclass(frozen=True)
class LostRecording:
    """A stream's latest recording, on another node that stopped while writing it."""

    recording_id: str
    node_id: str
    media_end: datetime  # where its last catalogued segment ended (else its start)


# How a recording ends when its node dies: still open in the catalog, or closed by a
# salvage at that node's restart (no end_reason: an older catalog row).
_CRASH_REASONS = (None, "node crashed")


@dataclass
class RebuildReport:
    recordings: int = 0
    segments: int = 0
    skipped: list[str] = field(default_factory=list)  # unreadable manifests
    without_files: list[str] = field(default_factory=list)  # catalog rows with no files here
    pruned: bool = False  # those rows were deleted


class Catalog:
    def __init__(self, settings: CatalogSettings) -> None:
        self.settings = settings
        self.engine = db.create_catalog_engine(settings.url)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(db.writer(self.engine), expire_on_commit=False)

    @classmethod
    def open(cls, settings: CatalogSettings) -> Catalog:
        """Connect and bring the schema up to date."""
        catalog = cls(settings)
        try:
            catalog.migrate()
        except BaseException:
            catalog.dispose()
            raise
        return catalog

    def migrate(self) -> None:
        db.upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """One round trip to the database; raises what the driver raises when it is down."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    @property
    def display_url(self) -> str:
        return db.display_url(self.settings.url)

    @property
    def recordings_dir(self) -> Path:
        return self.settings.recordings_dir

    # ------------------------------------------------------------ from the files

    def hold_file(self, recording_id: str) -> Path:
        return self.settings.holds_dir / f"{recording_id}.json"

    def upsert_from_manifest(self, directory: Path) -> str:
        """Catalog one recording directory as its manifest says: added/updated/unchanged."""
        manifest = mf.load(directory)
        if manifest.recording_id != directory.name:
            raise ValueError(
                f"{directory}: manifest names recording {manifest.recording_id!r}, "
                "not its directory"
            )
        if manifest.node_id.startswith(mf.STATION_PREFIX):
            # A station's back-filled recording: as far as the centre holds it.
            present = [s for s in manifest.segments if (directory / s.file).is_file()]
            manifest = dataclasses.replace(manifest, segments=present)
        held = self.hold_file(manifest.recording_id).exists()
        with self._write.begin() as session:
            return ingest.upsert(session, manifest, self.settings.retention_days, held)

    def record_segment(self, header: mf.Manifest, entry: mf.SegmentEntry) -> None:
        """One more closed segment of a live recording (header: its manifest's fields)."""
        held = self.hold_file(header.recording_id).exists()
        with self._write.begin() as session:
            ingest.add_segment(session, header, entry, self.settings.retention_days, held)

    def record_continuity(
        self, header: mf.Manifest, position: int, entry: mf.ContinuityEntry
    ) -> None:
        """A gap in a live recording, at `position` (from 1) in its manifest's list."""
        held = self.hold_file(header.recording_id).exists()
        with self._write.begin() as session:
            ingest.put_continuity(
                session, header, position, entry, self.settings.retention_days, held
            )

    def _recording_dirs(self, recordings_dir: Path | None) -> list[Path]:
        root = recordings_dir or self.recordings_dir
        if not root.is_dir():
            return []
        return [p for p in sorted(root.iterdir()) if (p / mf.MANIFEST).is_file()]

    def sync(self, recordings_dir: Path | None = None) -> list[str]:
        """Catalog the recordings the catalog does not know, or knows as still open."""
        with self._read() as session:
            known = {
                rid: state
                for rid, state in session.execute(select(RecordingRow.id, RecordingRow.state))
            }
        done = []
        for directory in self._recording_dirs(recordings_dir):
            if known.get(directory.name) == "closed":
                continue
            try:
                self.upsert_from_manifest(directory)
            except (OSError, ValueError, TypeError, KeyError) as exc:
                logger.warning("catalog: %s skipped: %s", directory.name, exc)
                continue
            done.append(directory.name)
        return done

    def rebuild(
        self, recordings_dir: Path | None = None, actor: str = "system", prune: bool = False
    ) -> RebuildReport:
        """Recreate the recordings found on disk (rows, segments, gaps) from their manifests,
        in one transaction (readers see the old catalog until it commits). The audit log
        stays; so do legal holds (the hold files, and holds the catalog had). Rows of
        recordings with no files here (another node's, with a shared catalog) stay too,
        unless `prune`."""
        report = RebuildReport()
        manifests = []
        for directory in self._recording_dirs(recordings_dir):
            try:
                manifest = mf.load(directory)
                if manifest.recording_id != directory.name:
                    raise ValueError(f"manifest names {manifest.recording_id!r}")
            except (OSError, ValueError, TypeError, KeyError) as exc:
                report.skipped.append(f"{directory.name}: {exc}")
                continue
            manifests.append(manifest)
        local = {m.recording_id for m in manifests}
        with self._write.begin() as session:
            rows = session.execute(select(RecordingRow.id, RecordingRow.legal_hold)).all()
            held_before = {rid for rid, held in rows if held}
            orphans = sorted({rid for rid, _ in rows} - local)
            doomed = [rid for rid, _ in rows if rid in local or prune]
            for start in range(0, len(doomed), 500):
                ids = doomed[start : start + 500]
                session.execute(delete(ContinuityRow).where(ContinuityRow.recording_id.in_(ids)))
                session.execute(delete(SegmentRow).where(SegmentRow.recording_id.in_(ids)))
                session.execute(delete(RecordingRow).where(RecordingRow.id.in_(ids)))
            for manifest in manifests:
                rid = manifest.recording_id
                held = rid in held_before or self.hold_file(rid).exists()
                ingest.upsert(session, manifest, self.settings.retention_days, held)
                report.recordings += 1
                report.segments += len(manifest.segments)
            report.without_files = orphans
            report.pruned = prune
            detail = {
                "recordings": report.recordings,
                "segments": report.segments,
                "skipped": report.skipped,
                "without_files": len(orphans),
                "pruned": prune,
            }
            auditlog.append(session, actor, "catalog.rebuild", "catalog", detail)
        return report

    # ------------------------------------------------------------ reading

    def lost_recording(
        self, stream: str, node_id: str, exclude: str, within: float, now: datetime
    ) -> LostRecording | None:
        """The stream's latest recording (other than `exclude`) when another node was
        writing it and was lost: still open, or closed by a crash salvage, its media or
        its close less than `within` seconds ago. None when the latest is ours, ended
        normally, or is older."""
        with self._read() as session:
            row = session.execute(
                select(RecordingRow)
                .where(
                    RecordingRow.stream == stream,
                    RecordingRow.id != exclude,
                    RecordingRow.node_id.not_like(mf.STATION_PREFIX + "%"),
                )
                .order_by(RecordingRow.started_at.desc())
                .limit(1)
            ).scalar_one_or_none()
            if row is None or row.node_id == node_id:
                return None
            if row.state != "recording" and row.end_reason not in _CRASH_REASONS:
                return None
            last_end = session.execute(
                select(func.max(SegmentRow.end)).where(SegmentRow.recording_id == row.id)
            ).scalar_one_or_none()
            media_end = last_end or row.started_at
            # Long ago (a node that died and never came back): not this publication's.
            if (now - max(media_end, row.ended_at or media_end)).total_seconds() > within:
                return None
            return LostRecording(row.id, row.node_id, media_end)

    def recordings(
        self,
        stream: str | None = None,
        session_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Newest first; with start/end, the recordings overlapping that span."""
        query = queries.recordings(stream, session_id, start, end, limit)
        with self._read() as session:
            return [queries.summary(*row) for row in session.execute(query)]

    def recording(self, recording_id: str) -> dict[str, Any] | None:
        query = queries.summaries().where(RecordingRow.id == recording_id)
        with self._read() as session:
            row = session.execute(query).first()
            return queries.summary(*row) if row else None

    def segment(self, recording_id: str, index: int) -> SegmentFile | None:
        query = (
            select(SegmentRow, RecordingRow.container)
            .join(RecordingRow)
            .where(SegmentRow.recording_id == recording_id, SegmentRow.index == index)
        )
        with self._read() as session:
            found = session.execute(query).first()
        if found is None or not SEGMENT_FILE.fullmatch(found[0].file):
            return None
        seg, container = found
        path = self.recordings_dir / recording_id / seg.file
        return SegmentFile(recording_id, seg.index, seg.file, path, container, seg.bytes)

    def set_verified(self, recording_id: str, ok: bool, at: datetime) -> None:
        with self._write.begin() as session:
            row = session.get(RecordingRow, recording_id)
            if row is not None:
                row.verified_state, row.verified_at = ("ok" if ok else "failed"), at

    def expired(self, now: datetime) -> list[dict[str, Any]]:
        """Recordings whose retention period ended before `now` (held or not)."""
        query = queries.summaries().where(RecordingRow.retention_until < now)
        with self._read() as session:
            rows = session.execute(query.order_by(RecordingRow.retention_until))
            return [queries.summary(*row) for row in rows]

    # ------------------------------------------------------------ changes (audited)

    def set_legal_hold(self, recording_id: str, held: bool, actor: str, reason: str = "") -> bool:
        """Place or lift a legal hold; False if it already was so. The hold is also a file
        in DATA_DIR/legal-holds (so a catalog rebuild keeps it), written before commit."""
        path = self.hold_file(recording_id)
        with self._write.begin() as session:
            row = session.get(RecordingRow, recording_id)
            if row is None:
                raise UnknownRecording(recording_id)
            if row.legal_hold == held and path.exists() == held:
                return False
            if held:
                path.parent.mkdir(parents=True, exist_ok=True)
                note = {"recording_id": recording_id, "since": iso(datetime.now(UTC))}
                note |= {"by": actor, "reason": reason}
                mf.write_durably(path, json.dumps(note, ensure_ascii=False).encode() + b"\n")
            else:
                path.unlink(missing_ok=True)
                mf.fsync_dir(path.parent)
            row.legal_hold = held
            action = "recording.hold" if held else "recording.release"
            auditlog.append(session, actor, action, recording_id, {"reason": reason})
        return True

    def delete_recording(self, recording_id: str, actor: str, detail: dict[str, Any]) -> None:
        """Remove a recording's rows and log it, in one transaction (retention only)."""
        with self._write.begin() as session:
            row = session.get(RecordingRow, recording_id)
            if row is not None:
                session.delete(row)
            auditlog.append(session, actor, "retention.delete", recording_id, detail)

    # ------------------------------------------------------------ station spools

    def upsert_ingested(self, manifest: mf.Manifest, at: datetime) -> str:
        """Catalog a station-spooled recording as far as the centre holds it (`manifest`:
        the station's, its segments narrowed to those received) and when a part arrived."""
        held = self.hold_file(manifest.recording_id).exists()
        with self._write.begin() as session:
            status = ingest.upsert(session, manifest, self.settings.retention_days, held)
            row = session.get(RecordingRow, manifest.recording_id)
            assert row is not None  # just upserted
            row.ingested_at = at
            return status

    def station_key(self, station_id: str) -> bytes | None:
        """The station's enrolled public key (PEM), or None."""
        with self._read() as session:
            row = session.get(StationKeyRow, station_id)
            return row.public_pem.encode() if row is not None else None

    def enroll_station_key(
        self, station_id: str, public_pem: bytes, actor: str, replace: bool = False
    ) -> str:
        """Register a station's key: 'enrolled', 'unchanged' (the same key again) or
        'conflict' (another key is enrolled and `replace`, an admin's act, was not given).
        Audited in the same transaction."""
        pem = public_pem.decode()
        with self._write.begin() as session:
            row = session.get(StationKeyRow, station_id)
            if row is not None and row.public_pem == pem:
                return "unchanged"
            if row is not None and not replace:
                return "conflict"
            now = datetime.now(UTC)
            action = "station.key_replaced" if row is not None else "station.key_enrolled"
            if row is None:
                session.add(
                    StationKeyRow(
                        station_id=station_id, public_pem=pem, enrolled_at=now, enrolled_by=actor
                    )
                )
            else:
                row.public_pem, row.enrolled_at, row.enrolled_by = pem, now, actor
            fingerprint = hashlib.sha256(public_pem).hexdigest()[:16]
            auditlog.append(
                session, actor, action, f"station:{station_id}", {"key_sha256": fingerprint}
            )
            return "enrolled"

    def trusted_keys_for(
        self, directory: Path, node_keys: list[bytes] | None
    ) -> list[bytes] | None:
        """Whose signature a recording must carry: a station-spooled one (manifest node_id
        "station:{id}") its station's enrolled key (none enrolled: nobody's, so it fails);
        any other the node's keys."""
        try:
            node_id = mf.load(directory).node_id
        except (OSError, ValueError, TypeError, KeyError):
            return node_keys
        if not node_id.startswith(mf.STATION_PREFIX):
            return node_keys
        key = self.station_key(node_id.removeprefix(mf.STATION_PREFIX))
        return [key] if key is not None else []

    # ------------------------------------------------------------ audit log

    def audit(
        self, actor: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        with self._write.begin() as session:
            return auditlog.as_dict(auditlog.append(session, actor, action, target, detail))

    def audit_rows(
        self,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Oldest first; see queries.audit_rows for the filters."""
        query = queries.audit_rows(actor, action, target, start, end, after, limit)
        with self._read() as session:
            rows = session.scalars(query)
            return [auditlog.as_dict(r) for r in rows]

    def newest_audit_rows(
        self,
        actor: str | None = None,
        action: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        before: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first (the audit page); each row also has its time as `when`."""
        query = queries.newest_audit_rows(actor, action, start, end, before, limit)
        with self._read() as session:
            return [auditlog.as_dict(r) | {"when": r.at} for r in session.scalars(query)]

    def audit_actions(self) -> list[str]:
        with self._read() as session:
            return list(session.scalars(queries.audit_actions()))

    def audit_trail(self, target: str) -> list[dict[str, Any]]:
        """Every row about `target` (and what is under it), oldest first."""
        rows: list[dict[str, Any]] = []
        while batch := self.audit_rows(target=target, after=rows[-1]["id"] if rows else 0):
            rows += batch
        return rows

    def check_audit(self) -> auditlog.AuditCheck:
        with self._read() as session:
            return auditlog.check(session)
