"""The retention job: deletes recordings whose retention period has ended and that are
not on legal hold, and logs each deletion, and each expired recording it keeps, in the
audit log.

Nothing else deletes a recording. Before deleting, the job checks the files as well as
the catalog: a legal-hold file keeps a recording whatever the catalog says, and the
retention period counts from the *manifest's* start time too, so an edited catalog row
cannot make a recording expire early. It deletes only recordings whose files are in its
own DATA_DIR (with a catalog shared by several nodes, run it on each).

Deletion: the directory is first moved aside (atomic), then the catalog rows are deleted
and the audit row written in one transaction, then the moved files are removed; if the
transaction fails the directory is moved back.

Blocking: run in a thread from async code.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from recorder import manifest as mf

from .recordings import Catalog
from .schema import iso, parse_iso

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Decision:
    recording_id: str
    action: str  # "delete" | "keep" | "skip" (files elsewhere) | "error"
    reason: str
    done: bool  # False in a dry run (or when the deletion failed)

    def line(self) -> str:
        verb = {
            "delete": "deleted" if self.done else "would delete",
            "keep": "kept",
            "skip": "skipped",
        }
        return f"{verb.get(self.action, 'ERROR')} {self.recording_id}: {self.reason}"


def _trash_dir(catalog: Catalog) -> Path:
    return catalog.settings.data_dir / "retention-trash"


def _empty_trash(catalog: Catalog) -> None:
    """Remove what an interrupted earlier run moved aside after logging its deletion."""
    trash = _trash_dir(catalog)
    if trash.is_dir():
        for leftover in trash.iterdir():
            shutil.rmtree(leftover, ignore_errors=True)


def _manifest_expiry(directory: Path, days: int) -> datetime | None:
    try:
        return parse_iso(mf.load(directory).started_at) + timedelta(days=days)
    except (OSError, ValueError, TypeError, KeyError):
        return None


def run_retention(
    catalog: Catalog,
    actor: str,
    now: datetime | None = None,
    dry_run: bool = False,
) -> list[Decision]:
    now = now or datetime.now(UTC)
    if not dry_run:
        _empty_trash(catalog)
    decisions = []
    for rec in catalog.expired(now):
        decision = _decide(catalog, rec, now)
        if decision.action == "delete" and not dry_run:
            decision = _delete(catalog, rec, decision, actor)
        elif decision.action == "keep" and not dry_run:
            catalog.audit(
                actor,
                "retention.keep",
                rec["id"],
                {"reason": decision.reason, "retention_until": rec["retention_until"]},
            )
        decisions.append(decision)
    return decisions


def _decide(catalog: Catalog, rec: dict[str, Any], now: datetime) -> Decision:
    rid = rec["id"]
    directory = catalog.recordings_dir / rid
    if rec["legal_hold"] or catalog.hold_file(rid).exists():
        return Decision(
            rid, "keep", f"on legal hold (retention ended {rec['retention_until']})", False
        )
    expiry = _manifest_expiry(directory, catalog.settings.retention_days)
    if expiry is not None and expiry > now:
        return Decision(rid, "keep", f"its manifest's retention runs until {iso(expiry)}", False)
    if not directory.is_dir():
        # Another node's recording (a shared catalog), or files removed behind our back:
        # either way not ours to forget. The API shows such a recording failing to verify.
        return Decision(rid, "skip", f"no files under {catalog.recordings_dir}", False)
    if rec["state"] == "recording":
        return Decision(rid, "keep", "still being recorded", False)
    return Decision(rid, "delete", f"retention ended {rec['retention_until']}", False)


def _delete(catalog: Catalog, rec: dict[str, Any], decision: Decision, actor: str) -> Decision:
    rid = rec["id"]
    directory = catalog.recordings_dir / rid
    trash = _trash_dir(catalog) / rid
    detail = {
        k: rec[k] for k in ("stream", "station", "session", "started_at", "ended_at", "segments")
    }
    detail |= {"bytes": rec["bytes"], "retention_until": rec["retention_until"]}
    moved = False
    try:
        trash.parent.mkdir(parents=True, exist_ok=True)
        directory.rename(trash)
        moved = True
        catalog.delete_recording(rid, actor, detail)
    except Exception as exc:
        logger.exception("retention: deleting %s failed", rid)
        if moved:
            trash.rename(directory)
        return Decision(rid, "error", f"not deleted: {exc}", False)
    if moved:
        shutil.rmtree(trash, ignore_errors=True)
    logger.warning("retention: recording %s deleted (%s)", rid, decision.reason)
    return Decision(rid, "delete", decision.reason, True)
