"""The backup and restore of docs/operations.md, done as written on real PostgreSQL and
the real CLI: the catalog dumped first, then the files; a recording that closes between
the two comes back from its manifest; accounts and the audit log come back from the dump;
every recording and the audit chain verify."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from .catalogs import cli, copy_recording, fresh_postgres_database, postgres_reachable
from .conftest import require_or_skip

PASSWORD = "correct horse battery staple"


def _libpq(url: str) -> str:
    """The URL as pg_dump/pg_restore take it (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _recordings(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT id FROM recordings")).scalars())
    finally:
        engine.dispose()


@pytest.mark.slow
def test_catalog_first_then_files_restores_everything_and_it_verifies(
    tmp_path: Path, recording_template: Path
) -> None:
    require_or_skip(
        postgres_reachable(),
        "PostgreSQL is not reachable at 127.0.0.1:5432 (the restore drill needs it)",
        "VDISPATCH_REQUIRE_SERVICES",
    )
    require_or_skip(
        shutil.which("pg_dump") is not None and shutil.which("pg_restore") is not None,
        "pg_dump/pg_restore are not installed (apt-get install postgresql-client)",
        "VDISPATCH_REQUIRE_SERVICES",
    )
    data = tmp_path / "var"
    copy_recording(recording_template, data, "rec-before")
    with fresh_postgres_database() as live, fresh_postgres_database() as restored:
        _ok(cli(data, "user", "add", "li.auditor", "--role", "auditor",
                database_url=live, stdin=PASSWORD + "\n"))  # fmt: skip
        _ok(cli(data, "catalog", "rebuild", database_url=live))
        # 1. the catalog ...
        dump = tmp_path / "catalog.dump"
        _ok(subprocess.run(
            ["pg_dump", "--format=custom", f"--file={dump}", _libpq(live)],
            capture_output=True, text=True, timeout=60,
        ))  # fmt: skip
        # ... a recording closes in between ...
        copy_recording(recording_template, data, "rec-after", stream="cam2")
        # 2. ... then the files.
        backup = tmp_path / "backup"
        shutil.copytree(data, backup)

        # The restore: an empty database and the file backup.
        _ok(subprocess.run(
            ["pg_restore", "--no-owner", "-d", _libpq(restored), str(dump)],
            capture_output=True, text=True, timeout=60,
        ))  # fmt: skip
        assert _recordings(restored) == {"rec-before"}  # the dump alone lacks the late one
        _ok(cli(backup, "catalog", "rebuild", database_url=restored))
        assert _recordings(restored) == {"rec-before", "rec-after"}
        assert "li.auditor" in _ok(cli(backup, "user", "list", database_url=restored))
        for rid in ("rec-before", "rec-after"):
            assert "OK" in _ok(cli(backup, "verify", str(backup / "recordings" / rid)))
        _ok(cli(backup, "verify", "--audit", database_url=restored))
