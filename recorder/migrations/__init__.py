"""Alembic migrations of the catalog schema (applied by recorder.db.upgrade at node start)."""
