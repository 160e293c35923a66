"""A PostgreSQL server of the test's own (on a free port, in a temp dir), to stop and
start under a running node. Binaries: Debian's postgresql-15. Tests run as root:
initdb and pg_ctl run as the postgres user (runuser), on a directory it owns."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .conftest import require_or_skip
from .failover_nodes import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
_AS_POSTGRES = ["runuser", "-u", "postgres", "--"]


def _available() -> str | None:
    """Why this machine cannot run one, or None."""
    if not (PG_BIN / "initdb").is_file() or not (PG_BIN / "pg_ctl").is_file():
        return f"PostgreSQL server binaries are not in {PG_BIN} (apt-get install postgresql-15)"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "running a PostgreSQL server needs root (runuser -u postgres)"
    return None


@dataclass
class PgServer:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data),
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg_ctl("-o", options, "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._pg_ctl("-m", mode, "-w", "stop")


@contextmanager
def temp_postgres() -> Iterator[PgServer]:
    """initdb (trust auth, superuser postgres), started; stopped and removed after."""
    missing = _available()
    require_or_skip(missing is None, missing or "", "VDISPATCH_REQUIRE_SERVICES")
    root = Path(tempfile.mkdtemp(prefix="vdispatch-pg-", dir="/tmp"))
    root.chmod(0o755)
    shutil.chown(root, "postgres", "postgres")
    server = PgServer(root, free_port())
    subprocess.run(
        [
            *_AS_POSTGRES,
            str(PG_BIN / "initdb"),
            "-D",
            str(server.data),
            "-A",
            "trust",
            "-U",
            "postgres",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
