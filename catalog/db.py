"""The catalog's database: engines for SQLite (embedded default) and PostgreSQL, and the
Alembic migrations applied in code.

Blocking throughout: async callers use asyncio.to_thread.

SQLite runs in WAL mode (readers never wait for the writer) and SQLAlchemy emits the
BEGIN itself, so that a *write* transaction starts with BEGIN IMMEDIATE: it takes the
write lock before it reads, which is what makes "read the last audit hash, append the
next row" safe across threads and processes (a CLI command and a running node).
PostgreSQL serializes audit appends with a transaction-scoped advisory lock.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().with_name("migrations")
WRITE_OPTION = "vdispatch_write"
# pg_advisory_xact_lock keys (arbitrary, fixed): schema migrations, audit appends.
MIGRATION_LOCK = 0x76646D67
AUDIT_LOCK = 0x76646175
CONNECT_TIMEOUT = 5  # seconds


def normalize_url(url: str) -> str:
    """postgres:// and postgresql:// mean psycopg 3 (the driver we ship)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def display_url(url: str) -> str:
    return make_url(normalize_url(url)).render_as_string(hide_password=True)


def create_catalog_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # A database host that does not answer fails a connection in seconds, not minutes:
        # the threads waiting on it (catalog writes, pages) are given back.
        connect_args = {"connect_timeout": CONNECT_TIMEOUT} if "psycopg" in url else {}
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # the audit log must survive a power cut
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def writer(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions take SQLite's write lock up front."""
    return engine.execution_options(**{WRITE_OPTION: True})


def lock(conn: Connection, key: int) -> None:
    """PostgreSQL: serialize with other transactions taking the same key (until commit)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations (idempotent); several nodes starting at once take turns."""
    from alembic import command

    config = alembic_config()
    with writer(engine).begin() as conn:
        lock(conn, MIGRATION_LOCK)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
