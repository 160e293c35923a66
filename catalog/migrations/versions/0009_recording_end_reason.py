"""Why a recording closed (the manifest's end_reason) and the recording of a lost node it
continues (the manifest's `continues`): a node taking over a stream looks them up.

Models: catalog/schema.py (RecordingRow.end_reason, RecordingRow.continues).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.add_column(sa.Column("end_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("continues", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recordings") as batch:
        batch.drop_column("continues")
        batch.drop_column("end_reason")
