"""Retention: only recordings past their retention period and not on legal hold are
deleted; every decision about an expired recording is in the audit log."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from catalog import CatalogSettings
from catalog.recordings import Catalog
from catalog.retention import run_retention

from .catalogs import cli, copy_recording

OLD = timedelta(days=40)


def _catalog(data: Path, url: str | None = None) -> Catalog:
    return Catalog.open(CatalogSettings(data_dir=data, database_url=url, retention_days=30))


def test_retention_deletes_the_expired_keeps_the_held_and_logs_both(
    tmp_path: Path, recording_template: Path
) -> None:
    data = tmp_path / "var"
    recordings = data / "recordings"
    copy_recording(recording_template, data, "expired", age=OLD)
    copy_recording(recording_template, data, "held", age=OLD)
    copy_recording(recording_template, data, "fresh")
    env = {"VDISPATCH_RETENTION_DAYS": "30"}
    run = cli(data, "catalog", "rebuild", extra_env=env)
    assert run.returncode == 0, run.stderr
    run = cli(data, "recording", "hold", "held", "--reason", "appeal pending", extra_env=env)
    assert run.returncode == 0 and "held: on legal hold" in run.stdout, run.stderr

    dry = cli(data, "retention", "run", "--dry-run", extra_env=env)
    assert dry.returncode == 0, dry.stderr
    assert "would delete expired: retention ended" in dry.stdout
    assert "kept held: on legal hold" in dry.stdout
    assert (recordings / "expired").is_dir()

    done = cli(data, "retention", "run", extra_env=env)
    assert done.returncode == 0, done.stderr
    assert "deleted expired: retention ended" in done.stdout
    assert "kept held: on legal hold" in done.stdout
    assert "retention (30 days): deleted 1, kept 1" in done.stdout
    assert not (recordings / "expired").exists()
    assert (recordings / "held").is_dir() and (recordings / "fresh").is_dir()
    assert not list((data / "retention-trash").iterdir())

    catalog = _catalog(data)
    try:
        assert {r["id"] for r in catalog.recordings()} == {"held", "fresh"}
        actions = [(r["action"], r["target"]) for r in catalog.audit_rows()]
        assert actions == [
            ("catalog.rebuild", "catalog"),
            ("recording.hold", "held"),
            ("retention.delete", "expired"),
            ("retention.keep", "held"),
        ]
        deletion = catalog.audit_rows(action="retention.delete")[0]
        assert deletion["detail"]["segments"] == 5 and deletion["detail"]["stream"] == "cam"
        assert "legal hold" in catalog.audit_rows(action="retention.keep")[0]["detail"]["reason"]
    finally:
        catalog.dispose()

    released = cli(data, "recording", "release", "held", extra_env=env)
    assert released.returncode == 0 and "held: released from legal hold" in released.stdout
    again = cli(data, "retention", "run", extra_env=env)
    assert "deleted held" in again.stdout and not (recordings / "held").exists()
    assert (recordings / "fresh").is_dir()
    checked = cli(data, "verify", "--audit")
    assert checked.returncode == 0 and "OK: 6 rows" in checked.stdout, checked.stdout


def test_retention_trusts_the_files_over_an_edited_catalog(
    database_url: str, tmp_path: Path, recording_template: Path
) -> None:
    """A catalog row edited to expire early, a hold lost from the catalog, or a recording
    whose files are not here deletes nothing."""
    data = tmp_path / "var"
    copy_recording(recording_template, data, "recent")
    copy_recording(recording_template, data, "held", age=OLD)
    elsewhere = copy_recording(recording_template, data, "elsewhere", age=OLD)
    catalog = _catalog(data, database_url)
    try:
        catalog.sync()
        shutil.rmtree(elsewhere)  # as if recorded by another node sharing the catalog
        catalog.set_legal_hold("held", True, "test", "case 9")
        past = datetime.now(UTC) - timedelta(days=1)
        with catalog.engine.begin() as conn:
            conn.execute(text("UPDATE recordings SET retention_until = :t"), {"t": past})
            conn.execute(text("UPDATE recordings SET legal_hold = :f"), {"f": False})
        decisions = run_retention(catalog, "test")
        assert {(d.recording_id, d.action) for d in decisions} == {
            ("recent", "keep"),
            ("held", "keep"),
            ("elsewhere", "skip"),
        }
        assert catalog.recording("elsewhere") is not None  # not ours to forget
        assert (data / "recordings" / "recent").is_dir() and (data / "recordings" / "held").is_dir()
        assert len(catalog.audit_rows(action="retention.keep")) == 2

        # A year on, the recording without a hold goes; the held one stays.
        later = run_retention(catalog, "test", now=datetime.now(UTC) + timedelta(days=365))
        assert {(d.recording_id, d.action, d.done) for d in later} == {
            ("recent", "delete", True),
            ("held", "keep", False),
            ("elsewhere", "skip", False),
        }
        assert catalog.recording("recent") is None
        assert not (data / "recordings" / "recent").exists()
        assert catalog.check_audit().ok
    finally:
        catalog.dispose()
