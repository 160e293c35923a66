"""Stations' enrolled Ed25519 public keys (they sign their local spool's manifests), and
when a station-spooled recording arrived at the centre.

Models: catalog/schema.py (StationKeyRow, RecordingRow.ingested_at).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "station_keys",
        sa.Column("station_id", sa.String(64), primary_key=True),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("enrolled_at", UTC_TIME, nullable=False),
        sa.Column("enrolled_by", sa.String(256), nullable=False),
    )
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("ingested_at", UTC_TIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("ingested_at")
    op.drop_table("station_keys")
