"""Alembic environment for the catalog.

vdispatch runs it in code (recorder.db.upgrade) with an open connection in
`config.attributes["connection"]`. Offline (`--sql`) and URL-only runs work too:
`alembic -x url=postgresql://… upgrade head --sql` with `script_location =
recorder:migrations` in alembic.ini.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from recorder.catalog_schema import Base
from recorder.db import create_catalog_engine, normalize_url

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database: pass a connection, sqlalchemy.url or -x url=…")
    return normalize_url(url)


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate compares only the recorder's tables: the console's tables
    (signaling/accounts_schema.py, revision 0002) share the database and this history,
    but their models live in signaling, which the recorder does not import."""
    return type_ != "table" or name in target_metadata.tables


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        include_name=_ours,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    if context.is_offline_mode():
        context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_catalog_engine(_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


run_migrations()
