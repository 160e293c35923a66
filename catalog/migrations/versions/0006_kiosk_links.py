"""Reception kiosk links (one valid link per reception room, revocable), the time a
petitioner left the call, and one call at a time per reception room.

Models: catalog/evidence_schema.py.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

UTC_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "kiosk_links",
        sa.Column("station_id", sa.String(64), primary_key=True),
        sa.Column("link_id", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
    )
    with op.batch_alter_table("reception_tickets") as batch:
        batch.add_column(sa.Column("left_call_at", UTC_TIME, nullable=True))
    accepted = sa.text("state = 'accepted'")
    op.create_index(
        "one_call_per_room",
        "reception_tickets",
        ["station_id"],
        unique=True,
        sqlite_where=accepted,
        postgresql_where=accepted,
    )


def downgrade() -> None:
    op.drop_index("one_call_per_room", table_name="reception_tickets")
    with op.batch_alter_table("reception_tickets") as batch:
        batch.drop_column("left_call_at")
    op.drop_table("kiosk_links")
