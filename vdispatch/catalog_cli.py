"""`vdispatch catalog rebuild`, `verify --audit`, `retention run`, `recording hold|release`:
operator commands on the catalog. Each opens (and migrates) the catalog itself."""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog import Catalog, SealRow, UnknownRecording, run_retention

from .settings import Settings


def cli_actor() -> str:
    """Who runs a command, for the audit log: the OS account and the host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"cli:{user}@{socket.gethostname()}"


@contextmanager
def open_catalog(settings: Settings, command: str) -> Iterator[Catalog]:
    try:
        catalog = Catalog.open(settings.catalog)
    except Exception as exc:
        raise CatalogUnavailable(f"vdispatch {command}: catalog unavailable: {exc}") from exc
    try:
        yield catalog
    finally:
        catalog.dispose()


class CatalogUnavailable(Exception):
    pass


def rebuild(settings: Settings, prune: bool) -> int:
    recordings_dir = settings.recorder.recordings_dir
    try:
        with open_catalog(settings, "catalog rebuild") as catalog:
            report = catalog.rebuild(recordings_dir, actor=cli_actor(), prune=prune)
            where = catalog.display_url
    except CatalogUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    for skipped in report.skipped:
        print(f"  skipped {skipped}")
    if report.without_files:
        what = "forgotten (--prune)" if prune else "kept (--prune forgets them)"
        print(
            f"  {len(report.without_files)} catalog entries have no files in {recordings_dir}, "
            f"{what}: {', '.join(report.without_files[:10])}"
            + (" …" if len(report.without_files) > 10 else "")
        )
    print(
        f"catalog rebuilt from {recordings_dir}: {report.recordings} recordings, "
        f"{report.segments} segments ({where}); the audit log was kept"
    )
    return 0


def verify_audit(settings: Settings) -> int:
    try:
        with open_catalog(settings, "verify --audit") as catalog:
            result = catalog.check_audit()
    except CatalogUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    print(result.summary())
    return 0 if result.ok else 1


def retention(settings: Settings, dry_run: bool) -> int:
    try:
        with open_catalog(settings, "retention run") as catalog:
            decisions = run_retention(catalog, cli_actor(), dry_run=dry_run)
    except CatalogUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    for decision in decisions:
        print(decision.line())
    deleted = sum(d.action == "delete" for d in decisions)
    kept = sum(d.action == "keep" for d in decisions)
    skipped = sum(d.action == "skip" for d in decisions)
    errors = sum(d.action == "error" for d in decisions)
    verb = "would delete" if dry_run else "deleted"
    print(
        f"retention ({settings.catalog.retention_days} days): {verb} {deleted}, kept {kept}"
        + (f", skipped {skipped} (files not on this node)" if skipped else "")
        + (f", {errors} failed" if errors else "")
        + (" (dry run: nothing changed)" if dry_run else "")
    )
    return 1 if errors else 0


def sealed_in(catalog: Catalog, recording_id: str) -> str | None:
    """The session whose seal lists the recording, if one does (a seal record is
    canonical JSON: `"id":"…"` appears exactly so)."""
    with Session(catalog.engine) as session:
        rows = session.execute(
            select(SealRow.hearing_id, SealRow.record).where(
                SealRow.record.contains(f'"id":{json.dumps(recording_id)}')
            )
        )
        for hearing_id, record in rows:
            if any(r.get("id") == recording_id for r in json.loads(record)["recordings"]):
                return str(hearing_id)
    return None


def hold(settings: Settings, recording_id: str, held: bool, reason: str) -> int:
    word = "hold" if held else "release"
    directory = settings.recorder.recordings_dir / recording_id
    try:
        with open_catalog(settings, f"recording {word}") as catalog:
            if "/" in recording_id or recording_id.startswith("."):
                raise UnknownRecording(recording_id)
            if directory.is_dir():
                catalog.upsert_from_manifest(directory)  # known to the catalog, up to date
            sealed = None if held else sealed_in(catalog, recording_id)
            if sealed is not None:
                print(
                    f"vdispatch recording release: {recording_id} is sealed in session "
                    f"{sealed}: a sealed recording stays on legal hold (nothing changed)",
                    file=sys.stderr,
                )
                return 1
            changed = catalog.set_legal_hold(recording_id, held, cli_actor(), reason)
    except CatalogUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    except UnknownRecording:
        print(f"vdispatch recording {word}: no recording {recording_id!r}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"vdispatch recording {word}: {exc}", file=sys.stderr)
        return 1
    state = "on legal hold" if held else "released from legal hold"
    print(f"{recording_id}: {state}" if changed else f"{recording_id}: already {state}")
    return 0
