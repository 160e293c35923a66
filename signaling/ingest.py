"""Back-fill from stations' spools: their recordings, stored on the node as recording
directories of their own (manifest node_id "station:{id}", signed by the station's
enrolled key), segment by segment, as the link allows.

The station first PUTs its signed manifest (each newer one extends the last: the segments
the centre holds never change), then the segments it lists. A segment is taken only with
the sha256 the manifest lists for it, written as `.part`, fsynced and renamed. The catalog
indexes the recording as far as the centre holds it.

Blocking (files, database): async code calls `IngestStore` through asyncio.to_thread.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from catalog import Catalog
from recorder import manifest as mf
from recorder import verify_signature

from .errors import Forbidden, Refusal
from .policy import Permission
from .tokens import Grant

RECORDING_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Held:
    """What the centre holds of a station-spooled recording."""

    recording_id: str
    manifest: mf.Manifest | None
    segments: list[int]

    @property
    def complete(self) -> bool:
        m = self.manifest
        if m is None or m.state == "recording":
            return False
        wanted = {s.index for s in m.segments if mf.EVICTED not in s.flags}
        return wanted <= set(self.segments)

    def as_json(self) -> dict[str, object]:
        m = self.manifest
        return {
            "recording_id": self.recording_id,
            "manifest": m is not None,
            "listed": 0 if m is None else len(m.segments),
            "segments": self.segments,
            "complete": self.complete,
        }


def station_of(node_id: str) -> str | None:
    return (
        node_id.removeprefix(mf.STATION_PREFIX) if node_id.startswith(mf.STATION_PREFIX) else None
    )


class IngestStore:
    def __init__(self, catalog: Catalog, max_segment_bytes: int) -> None:
        self.catalog = catalog
        self.max_segment_bytes = max_segment_bytes
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, recording_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(recording_id, threading.Lock())

    def directory(self, recording_id: str) -> Path:
        if not RECORDING_ID_RE.fullmatch(recording_id):
            raise Refusal(400, f"recording id {recording_id!r}: use [a-z0-9][a-z0-9._-]*")
        return self.catalog.recordings_dir / recording_id

    # ------------------------------------------------------------ reading

    def _held(self, recording_id: str) -> Held:
        directory = self.directory(recording_id)
        try:
            manifest: mf.Manifest | None = mf.load(directory)
        except FileNotFoundError:
            manifest = None
        if manifest is None:
            return Held(recording_id, None, [])
        present = [s.index for s in manifest.segments if (directory / s.file).is_file()]
        return Held(recording_id, manifest, present)

    def _owned(self, grant: Grant, held: Held) -> mf.Manifest:
        """The held manifest, if it is the token's station's; 404/403 otherwise."""
        if held.manifest is None:
            raise Refusal(404, f"no recording {held.recording_id!r}: PUT its manifest first")
        _check_station(grant, held.manifest)
        return held.manifest

    def held(self, grant: Grant, recording_id: str) -> Held:
        held = self._held(recording_id)
        self._owned(grant, held)
        return held

    # ------------------------------------------------------------ writing

    def put_manifest(
        self, grant: Grant, recording_id: str, data: bytes, signature: bytes
    ) -> tuple[bool, Held]:
        """Store the station-signed manifest; (created, what is held)."""
        try:
            manifest = mf.Manifest.from_json(data)
        except (ValueError, TypeError, KeyError) as exc:
            raise Refusal(422, f"not a recording manifest: {exc}") from None
        if manifest.recording_id != recording_id:
            raise Refusal(422, f"the manifest is of recording {manifest.recording_id!r}")
        station = _check_station(grant, manifest)
        key = self.catalog.station_key(station)
        if key is None:
            raise Forbidden(f"station {station!r} has no enrolled key: vdispatch station enroll")
        if not verify_signature(key, data, signature):
            raise Refusal(422, f"manifest signature does not verify with station {station!r}'s key")
        directory = self.directory(recording_id)
        with self._lock(recording_id):
            held = self._held(recording_id)
            old = held.manifest
            if old is None and directory.exists():
                raise Forbidden(f"{recording_id!r} is not a station-spooled recording")
            if old is not None:
                if (old.node_id, old.stream) != (manifest.node_id, manifest.stream):
                    raise Forbidden(f"{recording_id!r} is another station's recording")
                kept = [(s.index, s.sha256, s.chain) for s in old.segments]
                new = [(s.index, s.sha256, s.chain) for s in manifest.segments[: len(kept)]]
                if new != kept:
                    raise Refusal(409, "the manifest changes segments the centre holds")
                if old.to_json() == manifest.to_json():
                    return False, held
            directory.mkdir(parents=True, exist_ok=True)
            mf.save_signed(directory, data, signature, key)
            after = self._held(recording_id)
            self._catalog(after)
            if old is None:
                self.catalog.audit(
                    grant.actor,
                    "ingest.started",
                    recording_id,
                    {"stream": manifest.stream, "station": station},
                )
            self._audit_complete(grant, held, after)
            return old is None, after

    def put_segment(
        self, grant: Grant, recording_id: str, index: int, sha256_hex: str, body: bytes
    ) -> bool:
        """Store one segment; True if new, False if the same bytes were held already."""
        held = self._held(recording_id)
        manifest = self._owned(grant, held)
        if not 1 <= index <= len(manifest.segments):
            raise Refusal(
                409, f"segment {index} is not in the manifest held: PUT the newer manifest first"
            )
        entry = manifest.segments[index - 1]
        if len(body) > self.max_segment_bytes:
            raise Refusal(413, f"segment larger than {self.max_segment_bytes} bytes")
        if hashlib.sha256(body).hexdigest() != sha256_hex:
            raise Refusal(422, "X-Content-SHA256 does not match the body")
        if sha256_hex != entry.sha256:
            raise Refusal(409, f"segment {index} differs from the one the signed manifest lists")
        directory = self.directory(recording_id)
        path = directory / entry.file
        with self._lock(recording_id):
            if path.is_file():
                return False  # identical (the manifest's hash, checked when written)
            part = path.with_name(path.name + ".part")
            fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(part, path)
            mf.fsync_dir(directory)
            after = self._held(recording_id)
            self._catalog(after)
            self._audit_complete(grant, held, after)
        return True

    def _catalog(self, held: Held) -> None:
        assert held.manifest is not None
        have = set(held.segments)
        narrowed = replace(
            held.manifest, segments=[s for s in held.manifest.segments if s.index in have]
        )
        self.catalog.upsert_ingested(narrowed, datetime.now(UTC))

    def _audit_complete(self, grant: Grant, before: Held, after: Held) -> None:
        if after.complete and not before.complete:
            assert after.manifest is not None
            self.catalog.audit(
                grant.actor,
                "ingest.completed",
                after.recording_id,
                {"segments": len(after.segments), "stream": after.manifest.stream},
            )


def _check_station(grant: Grant, manifest: mf.Manifest) -> str:
    """The manifest's station, if the token is that station's and may publish its stream."""
    station = station_of(manifest.node_id)
    if station is None:
        raise Forbidden("not a station-spooled recording (node_id is not station:…)")
    if not manifest.stream.startswith(f"{station}-") or not grant.allows(
        Permission.STREAM_PUBLISH, manifest.stream
    ):
        raise Forbidden(f"stream {manifest.stream!r} is not this token's station's")
    return station


def parse_sha256(value: str | None) -> str:
    value = (value or "").strip().lower()
    if not SHA256_RE.fullmatch(value):
        raise Refusal(422, "X-Content-SHA256: the body's sha256, 64 hex digits")
    return value
