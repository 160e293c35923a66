"""Alembic environment for the catalog.

vdispatch runs it in code (catalog.db.upgrade) with an open connection in
`config.attributes["connection"]`. Offline (`--sql`) and URL-only runs work too:
`alembic -x url=postgresql://… upgrade head --sql` with `script_location =
catalog:migrations` in alembic.ini.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from catalog import (  # noqa: F401  (their tables join Base.metadata)
    accounts_schema,
    copy_schema,
    dispatch_schema,
    evidence_schema,
    hearings_schema,
)
from catalog.db import create_catalog_engine, normalize_url
from catalog.schema import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("no database: pass a connection, sqlalchemy.url or -x url=…")
    return normalize_url(url)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
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
