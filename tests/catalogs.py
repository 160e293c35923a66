"""Catalog test helpers: real databases (a fresh PostgreSQL database per test, dropped
afterwards) and real recordings, made once and copied (re-signed when changed)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import OperationalError

from recorder import Manifest
from recorder import manifest as mf
from recorder.signing import NodeKey

PG_HOST, PG_PORT = "127.0.0.1", 5432
KEY = Path("keys") / "node-ed25519.pem"
VDISPATCH = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "vdispatch")


def postgres_reachable() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=1):
            return True
    except OSError:
        return False


def _admin_url() -> str:
    """The first of the users postgres and root that the server lets in (trust auth)."""
    last: Exception | None = None
    for user in ("postgres", "root"):
        url = f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/test"
        engine = create_engine(url)
        try:
            with engine.connect():
                return url
        except OperationalError as exc:
            last = exc
        finally:
            engine.dispose()
    raise RuntimeError(f"PostgreSQL at {PG_HOST}:{PG_PORT} refused users postgres and root: {last}")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """CREATE DATABASE vdispatch_test_<random>; DROP … WITH (FORCE) afterwards."""
    admin_url = _admin_url()
    name = f"vdispatch_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def copy_recording(
    template: Path,
    data_dir: Path,
    recording_id: str | None = None,
    *,
    stream: str | None = None,
    session: str | None = None,
    age: timedelta | None = None,
) -> Path:
    """Copy a recording (and its node key) into data_dir; a new id, stream, session or an
    earlier start make a new manifest, signed with that key as the recorder would."""
    source_data_dir = template.parent.parent
    key_path = data_dir / KEY
    if not key_path.exists():
        key_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source_data_dir / KEY, key_path)
    rid = recording_id or template.name
    target = data_dir / "recordings" / rid
    shutil.copytree(template, target)
    if rid == template.name and stream is None and session is None and age is None:
        return target
    manifest = mf.load(target)
    changes: dict[str, object] = {"recording_id": rid}
    if stream is not None:
        changes["stream"] = changes["station"] = stream
    if session is not None:
        changes["session"] = session
    if age is not None:
        changes["started_at"] = _shift(manifest.started_at, age)
        changes["ended_at"] = _shift(manifest.ended_at or manifest.started_at, age)
        for seg in manifest.segments:
            seg.start, seg.end = _shift(seg.start, age), _shift(seg.end, age)
    new: Manifest = replace(manifest, **changes)  # type: ignore[arg-type]
    mf.save(target, new, NodeKey.load_or_create(key_path))
    return target


def _shift(text: str, age: timedelta) -> str:
    value = datetime.fromisoformat(text.replace("Z", "+00:00")) - age
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cli(
    data_dir: Path,
    *args: str,
    database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real `vdispatch` command on data_dir (environment free of other settings);
    `stdin` is its standard input (a pipe, not a terminal), else it reads nothing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VDISPATCH_")}
    env["VDISPATCH_DATA_DIR"] = str(data_dir)
    if database_url:
        env["VDISPATCH_DATABASE_URL"] = database_url
    env |= extra_env or {}
    return subprocess.run(
        [VDISPATCH, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        input=stdin if stdin is not None else "",
    )
