"""Alembic migrations of the catalog schema (applied by catalog.db.upgrade at node start)."""
